"""``audiodissect evaluate pruning``, ``evaluate class-drop`` and ``evaluate importance``."""

from __future__ import annotations

from ._options import add_run_option
from ._settings import add_setting_flags
from .prune import DESCRIPTION
from .prune import FLAGS as PRUNE_FLAGS

IMPORTANCE_FLAGS = (
    ("--properties", ("prune", "importance_properties")),
    ("--fractions", ("prune", "importance_fractions")),
    ("--seeds", ("prune", "importance_seeds")),
    ("--include-output-layer", ("prune", "include_output_layer")),
    ("--batch-size", ("record", "batch_size")),
    ("--device", ("record", "device")),
)


def register(evaluate_sub) -> None:
    """Add ``pruning`` and ``class-drop`` to the subparsers of ``audiodissect evaluate``."""
    p = evaluate_sub.add_parser("pruning", help="forget classes with each strategy: the pruning table (Table 4)",
                                description=DESCRIPTION + " The paper's full table: --concepts all --seeds 3.")
    add_run_option(p)
    add_setting_flags(p, PRUNE_FLAGS, of_run=True)
    p.set_defaults(handler=main)
    register_class_drop(evaluate_sub)


def main(args) -> int:
    from ._stage import open_run

    d = open_run(args, PRUNE_FLAGS)
    d.prune()
    print(f"table: {d.run_dir.pruning_dir / 'table.csv'}")
    return 0


def register_class_drop(evaluate_sub) -> None:
    """Add ``class-drop`` (paper Fig. 10) to the subparsers of ``audiodissect evaluate``."""
    p = evaluate_sub.add_parser("class-drop", help="which classes lose confidence when a concept is pruned",
                                description="From the pruning results (no model pass), the mean change of the "
                                            "true-class logit of each held-out class after pruning each concept's "
                                            "units, per strategy (random draws averaged over seeds). Prints how "
                                            "often the concept's own class loses the most and writes "
                                            "pruning/class_drop.csv, pruning/class_drop.json and "
                                            "pruning/class_drop.png (heat maps concept x class).")
    add_run_option(p)
    p.set_defaults(handler=main_class_drop)


def main_class_drop(args) -> int:
    from ..prune.class_drop import PNG_NAME
    from ._stage import open_run

    d = open_run(args)
    result = d.class_drop()
    print(format_class_drop(result["summary"]))
    for name in result["files"].values():
        print(f"{'plot' if name == PNG_NAME else 'data'}: {d.run_dir.pruning_dir / name}")
    return 0


def format_class_drop(summary) -> str:
    """The per-strategy summary of :func:`~audiodissect.prune.class_drop.class_drop_summary` as aligned text."""
    head = ["strategy", "concepts", "classes", "own class first", "mean own rank", "own change",
            "others' change", "gap"]

    def num(value, spec):
        return "-" if value is None else format(value, spec)

    lines = [[r["strategy"], str(r["n_concepts"]), str(r["n_classes"]), f"{r['own_first']}/{r['n_concepts']}",
              num(r["mean_own_rank"], ".2f"), num(r["own_change"], "+.3f"), num(r["other_change"], "+.3f"),
              num(r["gap"], "+.3f")] for r in summary]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(head)]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
                     for cells in [head, ["-" * w for w in widths], *lines])


def register_importance(evaluate_sub) -> None:
    """Add ``importance`` to the subparsers of ``audiodissect evaluate``."""
    p = evaluate_sub.add_parser("importance", help="accuracy when pruning units ranked by their summaries",
                                description="Prune 2-12% of the summarised units, ranked by a property of their "
                                            "calibrated summaries (most first: the summary's length in words, its "
                                            "numbers of adjectives, nouns or acoustic adjectives; paper Fig. 4) or "
                                            "at random, and plot held-out accuracy. Writes "
                                            "pruning/importance.jsonl, pruning/importance.json, "
                                            "pruning/importance.png (every curve) and "
                                            "pruning/importance_<property>.png (one property against random).")
    add_run_option(p)
    add_setting_flags(p, IMPORTANCE_FLAGS, of_run=True)
    p.set_defaults(handler=main_importance)


def main_importance(args) -> int:
    from ..prune.importance import ranking_label
    from ._stage import open_run

    d = open_run(args, IMPORTANCE_FLAGS)
    summary = d.importance()
    print(f"{summary['units']} units, {summary['heldout_clips']} held-out clips; "
          f"unpruned held-out accuracy: {summary['baseline_accuracy']:.3f}")
    for name, points in summary["curves"].items():
        label = "random (mean)" if name == "random" else ranking_label(name)
        print(f"{label:>30}: " + "  ".join(f"{100 * p['fraction']:.0f}% {p['mean']:.3f}" for p in points))
    for name in summary["files"].values():
        print(f"plot: {d.run_dir.pruning_dir / name}")
    return 0
