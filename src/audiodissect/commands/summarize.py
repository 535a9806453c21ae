"""``audiodissect summarize``: LLM summaries, calibration, open concepts and ICL (Modules B, C)."""

from __future__ import annotations

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
                   help="extractive, llamacpp[:<gguf>], http:<model>@<url>, transformers:<id> "
                        "(default: the run's setting, else extractive)")
    p.add_argument("--k", type=int, metavar="N", help="top and bottom clips per unit (default: the run's, else 5)")
    p.add_argument("--threshold", type=float, metavar="X",
                   help="calibration: drop summary sentences this similar to the bottom clips' summary "
                        "(default: the run's setting, else 0.75)")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..errors import AudioDissectError
    from ..pipeline import stage_summarize
    from ._stage import open_recorded_run, reused, saved_descriptions, save_config

    run, config, _ = open_recorded_run(args.run)
    cfg = config.summarize
    if args.llm:
        cfg.llm = args.llm
    if args.k is not None:
        if args.k < 1:
            raise AudioDissectError("--k must be at least 1")
        cfg.k = args.k
    if args.threshold is not None:
        if not -1.0 <= args.threshold <= 1.0:
            raise AudioDissectError("--threshold is a cosine similarity, between -1 and 1")
        cfg.threshold = args.threshold
    descriptions = saved_descriptions(run)
    before = run.manifest()["stages"].get("summarize")
    records = stage_summarize(run, config, descriptions)
    save_config(run, config)
    section = run.stage("summarize")
    if reused(before, run, "summarize"):
        how = "unchanged since the last summarize (nothing recomputed)"
    else:
        how = f"{section['llm_calls']} LLM calls, {section['llm_cache_hits']} cache hits, {section['seconds']} s"
    icl = ", with ICL" if section.get("icl") else ""
    print(f"{len(records)} units summarised by {cfg.llm}{icl}: {how}")
    print(f"records: {run.units_path('summarize')}")
    return 0
