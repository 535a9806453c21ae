"""``audiodissect prune``: make the model forget one concept by switching units off, and measure it."""

from __future__ import annotations

import argparse

from ._options import add_run_option

DEFAULT_STRATEGIES = ("tab", "db", "ocp", "random")


def add_pruning_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``prune`` and ``evaluate pruning``."""
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="random draws per concept (default: 3)")
    p.add_argument("--random-count", type=int, metavar="N",
                   help="units per random draw (default: one set of draws sized like each other strategy's "
                        "selection, shown as random~<strategy>)")
    p.add_argument("--top", type=int, default=3, metavar="K",
                   help="TAB/DB choose units with the concept among their top K (default: 3)")
    p.add_argument("--ocp-threshold", type=float, default=0.7, metavar="COS",
                   help="embedding cosine for an OCP noun match (default: 0.7; 0 or less: lemmas only)")
    p.add_argument("--include-output-layer", action="store_true",
                   help="let strategies choose the classifier's own output units (left out by default)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N")
    p.add_argument("--device", help="torch device for the model (default: cpu)")


def config_from_args(args: argparse.Namespace, **fields):
    """A :class:`~audiodissect.prune.runner.PruneConfig` from the shared options plus `fields`."""
    from ..config import PruneConfig, validate

    threshold = args.ocp_threshold if args.ocp_threshold is not None and args.ocp_threshold > 0 else None
    return validate(PruneConfig(seeds=args.seeds, random_count=args.random_count, top=args.top,
                                ocp_threshold=threshold, include_output_layer=args.include_output_layer,
                                batch_size=args.batch_size, device=args.device, **fields))


def register(sub) -> None:
    p = sub.add_parser("prune", help="switch off the units that carry a concept and measure what the model forgets",
                       description="Choose units for a concept (a class name) with each strategy (tab: concept in "
                                   "the unit's top-3 by TAB/soft-WPMI; db: by DB/cos3; ocp: a noun of the unit's "
                                   "calibrated summary matches; random: as many random units; or --units), ablate "
                                   "them and report, on held-out clips, the change of the true-class logit on the "
                                   "concept's clips (dA) and on the rest (dR). Writes pruning/<concept>/.")
    add_run_option(p)
    p.add_argument("--concept", required=True, help="the class to forget")
    p.add_argument("--strategy", nargs="+", metavar="NAME",
                   help="tab, db, ocp, random (default: all four; only the given units with --units)")
    p.add_argument("--units", nargs="+", metavar="LAYER#INDEX", default=[], help="unit ids to prune")
    p.add_argument("--save-weights", metavar="FILE",
                   help="also save the model's state dict with the one chosen (non-random) selection's "
                        "weights zeroed (Linear/Conv layers)")
    add_pruning_options(p)
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..class_names import class_index
    from ..errors import AudioDissectError
    from ..executor import make_executor
    from ..prune.evaluate import format_table, pruning_table
    from ..prune.runner import PruningContext, select_for_concept
    from ..prune.strategies import concept_slug
    from ._stage import open_run

    strategies = list(args.strategy) if args.strategy else ([] if args.units else list(DEFAULT_STRATEGIES))
    config = config_from_args(args, strategies=strategies)
    d = open_run(args.run, device=args.device)
    run, target, probe = d.run_dir, d.target, d.probe
    ctx = PruningContext(run, target, probe, batch_size=config.batch_size,
                         include_output_layer=config.include_output_layer)
    class_index(args.concept, ctx.class_names)
    selections = select_for_concept(ctx, args.concept, strategies=strategies, units=args.units, config=config)
    rows = ctx.measure_all(selections, executor=make_executor(d.config.executor))
    skipped = f"; {ctx.skipped} skipped, their label is not a class" if ctx.skipped else ""
    print(f"concept {args.concept!r}: {len(ctx.classes)} held-out clips "
          f"({rows[0]['n_c'] if rows else 0} of the concept{skipped})")
    print(format_table(pruning_table(rows)))
    print(f"selections and results: {ctx.root / concept_slug(args.concept)}")
    if args.save_weights:
        fixed = [s for s in selections if s.seed is None]
        if len(fixed) != 1:
            raise AudioDissectError("--save-weights needs exactly one non-random selection",
                                    hint="choose one strategy with --strategy, or give --units")
        _save_pruned(target, fixed[0].units, args.save_weights)
        print(f"pruned weights ({len(fixed[0].units)} units zeroed): {args.save_weights}")
    return 0


def _save_pruned(target, units, path) -> None:
    import copy
    from pathlib import Path

    import torch

    from ..cache import atomic_path
    from ..prune.ablation import zero_units_

    model = zero_units_(copy.deepcopy(target.module), units)
    with atomic_path(Path(path)) as tmp:
        torch.save(model.state_dict(), tmp)
