"""``audiodissect evaluate pruning`` and ``audiodissect evaluate importance``."""

from __future__ import annotations

from ._options import add_run_option
from .prune import DEFAULT_STRATEGIES, add_pruning_options, config_from_args


def register(evaluate_sub) -> None:
    """Add ``pruning`` to the subparsers of ``audiodissect evaluate``."""
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


def main(args) -> int:
    from ..prune.evaluate import format_table
    from ..prune.runner import evaluate_pruning
    from ._stage import open_run

    config = config_from_args(args, concepts=list(args.concepts), strategies=list(args.strategies))
    d = open_run(args.run, device=args.device)
    table = evaluate_pruning(d.run_dir, d.target, d.probe, config)
    print(format_table(table))
    print(f"table: {d.run_dir.pruning_dir / 'table.csv'}")
    return 0


def register_importance(evaluate_sub) -> None:
    """Add ``importance`` to the subparsers of ``audiodissect evaluate``."""
    p = evaluate_sub.add_parser("importance", help="accuracy when pruning units ranked by their summaries",
                                description="Prune 2-12% of the summarised units, ranked by the number of nouns "
                                            "or acoustic adjectives in their calibrated summaries (most first) or "
                                            "at random, and plot held-out accuracy. Writes "
                                            "pruning/importance.jsonl and pruning/importance.png.")
    add_run_option(p)
    p.add_argument("--properties", nargs="+", default=["nouns", "acoustic_adjectives"], metavar="FIELD",
                   help="summary fields to rank by (default: nouns acoustic_adjectives)")
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
    from ..prune.importance import run_importance
    from ._stage import open_run

    config = validate(PruneConfig(importance_properties=list(args.properties),
                                  importance_fractions=list(args.fractions), importance_seeds=args.seeds,
                                  include_output_layer=args.include_output_layer, batch_size=args.batch_size,
                                  device=args.device))
    d = open_run(args.run, device=args.device)
    run = d.run_dir
    result = run_importance(run, d.target, d.probe, config)
    summary = result["summary"]
    print(f"unpruned held-out accuracy: {summary['baseline_accuracy']:.3f}")
    for name, points in summary["curves"].items():
        print(f"{name:>20}: " + "  ".join(f"{100 * p['fraction']:.0f}% {p['mean']:.3f}" for p in points))
    print(f"plot: {run.pruning_dir / 'importance.png'}")
    return 0
