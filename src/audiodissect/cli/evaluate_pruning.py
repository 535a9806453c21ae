"""``audiodissect evaluate pruning``, ``evaluate class-drop`` and ``evaluate importance``."""

from __future__ import annotations

from ._options import add_run_option
from .prune import DEFAULT_STRATEGIES, add_pruning_options, config_from_args


def register(evaluate_sub) -> None:
    """Add ``pruning`` and ``class-drop`` to the subparsers of ``audiodissect evaluate``."""
    p = evaluate_sub.add_parser("pruning", help="forget each class with each strategy: the pruning table",
                                description="For each concept (class name), choose units with each strategy, "
                                            "ablate them and measure on held-out clips dA (change of the true-class "
                                            "logit on the concept's clips), dR (on the other clips) and the "
                                            "selectivity dR - dA; print the table averaged over concepts and write "
                                            "pruning/table.jsonl, pruning/table.csv and pruning/results.jsonl.")
    add_run_option(p)
    p.add_argument("--concepts", nargs="+", default=["all"], metavar="C",
                   help="class names to forget, 'all' (default: every class with held-out clips), "
                        "or 'sample:N' (N of those classes, spread evenly)")
    p.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES), metavar="NAME",
                   help="tab, db, ocp, random (default: all four)")
    add_pruning_options(p)
    p.set_defaults(handler=main)
    register_class_drop(evaluate_sub)


def main(args) -> int:
    from ..prune.evaluate import format_table
    from ..executor import make_executor
    from ..prune.runner import evaluate_pruning
    from ._stage import open_run

    config = config_from_args(args, concepts=list(args.concepts), strategies=list(args.strategies))
    d = open_run(args.run, device=args.device)
    table = evaluate_pruning(d.run_dir, d.target, d.probe, config, executor=make_executor(d.config.executor))
    print(format_table(table))
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
    from ..prune.class_drop import PNG_NAME, write_class_drop
    from ..rundir import RunDir

    run = RunDir(args.run, create=False)
    result = write_class_drop(run)
    print(format_class_drop(result["summary"]))
    for name in result["files"].values():
        print(f"{'plot' if name == PNG_NAME else 'data'}: {run.pruning_dir / name}")
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
    p.add_argument("--properties", nargs="+", metavar="PROPERTY",
                   help="summary properties to rank by: summary_length, adjectives, nouns, acoustic_adjectives, "
                        "verbs, prepositions, kept_sentences (default: summary_length adjectives nouns "
                        "acoustic_adjectives)")
    p.add_argument("--fractions", nargs="+", type=float, default=[0.02, 0.04, 0.06, 0.08, 0.10, 0.12],
                   metavar="F", help="shares of units to prune (default: 0.02 ... 0.12)")
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="random rankings (default: 3)")
    p.add_argument("--include-output-layer", action="store_true",
                   help="let the classifier's own output units be pruned (left out by default)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N")
    p.add_argument("--device", help="torch device for the model (default: cpu)")
    p.set_defaults(handler=main_importance)


def main_importance(args) -> int:
    from ..config import PruneConfig, validate
    from ..executor import make_executor
    from ..prune.importance import ranking_label, run_importance
    from ._stage import open_run

    config = validate(PruneConfig(include_output_layer=args.include_output_layer, batch_size=args.batch_size,
                                  importance_fractions=list(args.fractions), importance_seeds=args.seeds,
                                  device=args.device))
    if args.properties:
        config.importance_properties = list(args.properties)
    d = open_run(args.run, device=args.device)
    run = d.run_dir
    result = run_importance(run, d.target, d.probe, config, executor=make_executor(d.config.executor))
    summary = result["summary"]
    print(f"{summary['units']} units, {summary['heldout_clips']} held-out clips; "
          f"unpruned held-out accuracy: {summary['baseline_accuracy']:.3f}")
    for name, points in summary["curves"].items():
        label = "random (mean)" if name == "random" else ranking_label(name)
        print(f"{label:>30}: " + "  ".join(f"{100 * p['fraction']:.0f}% {p['mean']:.3f}" for p in points))
    for name in summary["files"].values():
        print(f"plot: {run.pruning_dir / name}")
    return 0
