"""``audiodissect score``: score every explanation by how well it predicts its unit on held-out clips."""

from __future__ import annotations

from ._options import add_run_option
from ._settings import add_setting_flags

FLAGS = (("--text-embedder", ("identify", "text_embedder")),
         ("--tab-backend", ("identify", "tab_backend")),
         ("--audio-text", ("score", "audio_text")))


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
    add_setting_flags(p, FLAGS, of_run=True)
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

    d = open_run(args, FLAGS)
    records = list(d.score())
    rows = summarize_scores(records)
    print(format_summary(rows), end="")
    if args.layers:
        print("\n" + format_layer_table(rows), end="")
    for first, second in args.compare:
        print(format_comparison(compare_explanations(records, first, second)), end="")
    print(f"{len(records)} scores -> {d.run_dir.units_path('score')}, {d.run_dir.score_dir / 'summary.csv'}")
    return 0
