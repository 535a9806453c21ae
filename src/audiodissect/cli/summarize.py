"""``audiodissect summarize``: LLM summaries, calibration, open concepts and ICL (Modules B, C)."""

from __future__ import annotations

from ._options import add_run_option
from ._settings import add_setting_flags

FLAGS = (("--llm", ("summarize", "llm")),
         ("--k", ("summarize", "k")),
         ("--threshold", ("summarize", "threshold")),
         ("--calibration", ("summarize", "calibration")),
         ("--llm-timeout", ("summarize", "timeout")),
         ("--llm-concurrency", ("summarize", "concurrency")),
         ("--allow-failures", ("summarize", "allow_failures")))


def register(sub) -> None:
    p = sub.add_parser("summarize", help="summarise each unit's top clips with an LLM, calibrate, extract concepts",
                       description="For every unit, summarise the descriptions of its top and bottom clips with "
                                   "an LLM, calibrate the summary (drop sentences that also describe the bottom "
                                   "clips), extract open concepts, and pick a concept in context (ICL) when the "
                                   "run has a concept set. Needs descriptions (`audiodissect describe`). Writes "
                                   "units/summarize.jsonl; LLM answers are cached in cache/llm.sqlite.")
    add_run_option(p)
    add_setting_flags(p, FLAGS, of_run=True)
    p.add_argument("--refresh-cache", action="store_true",
                   help="ask every prompt again instead of reading the run's cached answers")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ._stage import open_run

    d = open_run(args, FLAGS)
    run = d.run_dir
    records = d.summarize(refresh_cache=args.refresh_cache)
    section = run.stage("summarize")
    if d.runner.outcomes["summarize"].reused:
        how = "unchanged since the last summarize (nothing recomputed)"
    else:
        how = f"{section['llm_calls']} LLM calls, {section['llm_cache_hits']} cache hits, {section['seconds']} s"
        if section.get("failed"):
            how += f"; {section['failed']} prompts failed (not cached: run summarize again to retry them)"
    icl = ", with ICL" if section.get("icl") else ""
    print(f"{len(records)} units summarised by {d.config.summarize.llm}{icl}: {how}")
    print(f"records: {run.units_path('summarize')}")
    return 0
