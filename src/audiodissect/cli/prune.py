"""``audiodissect prune``: make the model forget concepts by switching units off, and measure it."""

from __future__ import annotations

from ._options import add_run_option
from ._settings import add_setting_flags

#: The pruning settings ``prune`` and ``evaluate pruning`` take.
FLAGS = (
    (("--concepts", "--concept"), ("prune", "concepts")),
    (("--strategies", "--strategy"), ("prune", "strategies")),
    ("--units", ("prune", "units")),
    ("--seeds", ("prune", "seeds")),
    ("--random-count", ("prune", "random_count")),
    ("--top", ("prune", "top")),
    ("--ocp-threshold", ("prune", "ocp_threshold")),
    ("--include-output-layer", ("prune", "include_output_layer")),
    ("--batch-size", ("record", "batch_size")),
    ("--device", ("record", "device")),
)

DESCRIPTION = ("Choose units for each concept (a class name) with each strategy (tab: concept in the unit's top-3 "
               "by TAB/soft-WPMI; db: by DB/cos3; ocp: a noun of the unit's calibrated summary matches; random: as "
               "many random units; units: the given ones), ablate them and report, on held-out clips, the change "
               "of the true-class logit on the concept's clips (dA) and on the rest (dR), averaged over concepts. "
               "Writes pruning/table.jsonl, pruning/table.csv, pruning/results.jsonl and pruning/<concept>/.")


def register(sub) -> None:
    p = sub.add_parser("prune", help="switch off the units that carry a concept and measure what the model forgets",
                       description=DESCRIPTION)
    add_run_option(p)
    add_setting_flags(p, FLAGS, of_run=True)
    p.add_argument("--save-weights", metavar="FILE",
                   help="also save the model's state dict with the one chosen (non-random) selection's "
                        "weights zeroed (Linear/Conv layers)")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ._settings import settings_from_args
    from ._stage import open_run

    settings = settings_from_args(args, FLAGS)
    prune = settings.get("prune", {})
    if prune.get("units") and "strategies" not in prune:  # given units alone: prune just those
        prune["strategies"] = ["units"]
    d = open_run(args, settings=settings)
    result = d.prune()
    print(f"selections and results: {d.run_dir.pruning_dir}")
    if args.save_weights:
        from ..errors import AudioDissectError

        fixed = [s for s in result.selections if s.seed is None]
        if len(fixed) != 1:
            raise AudioDissectError("--save-weights needs exactly one non-random selection",
                                    hint="prune one concept with one strategy (--concepts C --strategies tab), "
                                         "or give --units")
        d.save_pruned_weights(fixed[0], args.save_weights)
        print(f"pruned weights ({len(fixed[0].units)} units zeroed): {args.save_weights}")
    return 0
