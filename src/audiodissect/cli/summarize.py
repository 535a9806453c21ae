"""``audiodissect summarize``: LLM summaries, calibration, open concepts and ICL (Modules B, C)."""

from __future__ import annotations

from ..summarize.llms import LLMS
from ._options import add_run_option


def register(sub) -> None:
    p = sub.add_parser("summarize", help="summarise each unit's top clips with an LLM, calibrate, extract concepts",
                       description="For every unit, summarise the descriptions of its top and bottom clips with "
                                   "an LLM, calibrate the summary (drop sentences that also describe the bottom "
                                   "clips), extract open concepts, and pick a concept in context (ICL) when the "
                                   "run has a concept set. Needs descriptions (`audiodissect describe`). Writes "
                                   "units/summarize.jsonl; LLM answers are cached in cache/llm.sqlite.")
    add_run_option(p)
    p.add_argument("--llm", metavar="SPEC",
                   help=f"{LLMS.help()} (default: the run's setting, else extractive)")
    p.add_argument("--k", type=int, metavar="N", help="top and bottom clips per unit (default: the run's, else 5)")
    p.add_argument("--threshold", type=float, metavar="X",
                   help="calibration: drop summary sentences this similar to the bottom clips' summary "
                        "(default: the run's setting, else 0.75)")
    p.add_argument("--llm-timeout", type=float, metavar="SECONDS",
                   help="HTTP LLM: deadline of one request (default: the run's setting, else 120)")
    p.add_argument("--refresh-cache", action="store_true",
                   help="ask every prompt again instead of reading the run's cached answers")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ._stage import open_run

    d = open_run(args.run)
    run = d.run_dir
    if args.llm_timeout is not None:
        d.config.summarize.timeout = args.llm_timeout
    d.config.summarize.refresh_cache = bool(args.refresh_cache)
    records = d.summarize(args.llm, k=args.k, threshold=args.threshold)
    cfg = d.config.summarize
    section = run.stage("summarize")
    if d.runner.outcomes["summarize"].reused:
        how = "unchanged since the last summarize (nothing recomputed)"
    else:
        how = f"{section['llm_calls']} LLM calls, {section['llm_cache_hits']} cache hits, {section['seconds']} s"
        if section.get("failed"):
            how += f"; {section['failed']} prompts failed (not cached: run summarize again to retry them)"
    icl = ", with ICL" if section.get("icl") else ""
    print(f"{len(records)} units summarised by {cfg.llm}{icl}: {how}")
    print(f"records: {run.units_path('summarize')}")
    return 0
