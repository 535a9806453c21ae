"""``audiodissect score``: score every explanation by how well it predicts its unit on held-out clips."""

from __future__ import annotations

from ._options import add_run_option


def register(sub) -> None:
    p = sub.add_parser("score", help="score explanations by simulating units on held-out clips",
                       description="For every unit and each of its explanations (closed-set concepts per "
                                   "method and similarity, the ICL concept, the raw and calibrated summaries, "
                                   "the open concepts), predict the unit's activations on the held-out clips "
                                   "from the explanation text alone (description similarity, and audio-text "
                                   "similarity) and correlate with the real activations (Spearman, Pearson). "
                                   "Writes units/score.jsonl, score/summary.csv (per explanation and layer) "
                                   "and score/by_layer.md.")
    add_run_option(p)
    p.add_argument("--text-embedder", default=None, metavar="NAME",
                   help="sentence embedder (default: the run's setting, else minilm)")
    p.add_argument("--tab-backend", default=None, metavar="SPEC",
                   help="audio-text backend: tag-bridge, tag-bridge:<tagger>, clap, clap:<id> "
                        "(default: the run's setting, else tag-bridge)")
    p.add_argument("--no-audio-text", action="store_true",
                   help="predict from description similarity only (no audio needed)")
    p.add_argument("--layers", action="store_true",
                   help="print the mean Spearman correlation per explanation and layer too")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), action="append", default=[],
                   help="paired comparison of two explanation kinds on the units that have both, "
                        "e.g. --compare summary calibrated (repeatable)")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..scoring.score import (compare_explanations, format_comparison, format_layer_table, format_summary,
                                 summarize_scores)
    from ._stage import open_run

    d = open_run(args.run)
    run = d.run_dir
    if args.text_embedder:
        d.config.identify.text_embedder = args.text_embedder
    if args.tab_backend:
        d.config.identify.tab_backend = args.tab_backend
    records = list(d.score(audio_text=not args.no_audio_text))
    rows = summarize_scores(records)
    print(format_summary(rows), end="")
    if args.layers:
        print("\n" + format_layer_table(rows), end="")
    for first, second in args.compare:
        print(format_comparison(compare_explanations(records, first, second)), end="")
    print(f"{len(records)} scores -> {run.units_path('score')}, {run.score_dir / 'summary.csv'}")
    return 0
