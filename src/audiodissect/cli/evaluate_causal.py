"""``audiodissect evaluate causal`` and ``evaluate stability``: do the units' names hold up?"""

from __future__ import annotations

from ._options import add_run_option
from ._settings import add_setting_flags

CAUSAL_FLAGS = (("--units-per-layer", ("causal", "units_per_layer")),
                ("--random-units", ("causal", "random_units")),
                ("--amplify", ("causal", "amplify")),
                ("--clips", ("causal", "clips")),
                ("--seed", ("causal", "seed")),
                ("--batch-size", ("record", "batch_size")),
                ("--device", ("record", "device")))
STABILITY_FLAGS = (("--resamples", ("stability", "resamples")),
                   ("--noise", ("stability", "noise")),
                   ("--seed", ("stability", "seed")),
                   ("--batch-size", ("record", "batch_size")),
                   ("--device", ("record", "device")))


def register(evaluate_sub) -> None:
    p = evaluate_sub.add_parser(
        "causal", help="switch named units off and up: does the output change most on their concept's clips?",
        description="For a sample of confidently named units per layer, zero each unit (and scale it up) and "
                    "measure the change of the model's held-out logits on the clips with the unit's concept "
                    "against the others, set against random units of the same layer. Writes units/causal.jsonl.")
    add_run_option(p)
    add_setting_flags(p, CAUSAL_FLAGS, of_run=True)
    p.set_defaults(handler=main_causal)
    p = evaluate_sub.add_parser(
        "stability", help="do the units' names survive resampled probe clips and a little noise?",
        description="Choose each named unit's best concept again on bootstrap resamples of the probe clips and "
                    "on activations recorded with Gaussian noise in the audio; writes units/stability.jsonl "
                    "(the run does this stage too).")
    add_run_option(p)
    add_setting_flags(p, STABILITY_FLAGS, of_run=True)
    p.set_defaults(handler=main_stability)


def main_causal(args) -> int:
    from ._stage import open_run

    effects = open_run(args, CAUSAL_FLAGS).causal()  # the stage prints its summary line
    for e in effects:
        z = "-" if e.z is None else f"{e.z:+.1f}"
        print(f"{e.unit:<32} {e.name:<20} specificity {e.specificity:+.3f} (random {e.random_mean:+.3f}), z {z}")
    return 0


def main_stability(args) -> int:
    from ._stage import open_run

    open_run(args, STABILITY_FLAGS).stability()
    return 0
