"""Generates the table of the built-in targets' default layers and unit counts that ``--help`` shows
(:mod:`audiodissect.default_layers` reads it).

Regenerate it after changing a built-in target's layers::

    python -m audiodissect.record.layer_table

which records one second of silence through each built-in target's default
layers (the demo CNN untrained, at its default size and the soundbank's 17
classes; YAMNet with its weights) and writes the layer paths and unit counts.
``tests/test_help_layers.py`` checks that the file matches the models.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..default_layers import TABLE, help_text

#: The built-in targets the table covers.
BUILT_IN = ("demo-cnn", "yamnet")


def built_in_target(name: str) -> Any:
    """A built-in target's network with its default layers, without training anything (the demo CNN's weights are
    random: only its shape matters here)."""
    if name == "demo-cnn":
        from ..probes.soundbank import SOUNDBANK_LABELS
        from ..targets.demo_cnn import FRONTEND, DemoCNN, make_target

        return make_target(DemoCNN(n_classes=len(SOUNDBANK_LABELS), n_mels=FRONTEND.n_mels), SOUNDBANK_LABELS)
    if name == "yamnet":
        from ..targets.yamnet import yamnet_target

        return yamnet_target()
    raise ValueError(f"no built-in target {name!r}")


def layer_units(target: Any) -> dict[str, int]:
    """{layer path: units} of `target`'s default layers, in the order a recording gives them."""
    from ..progress import silent
    from .activations import record_waveforms

    clip = np.zeros(max(target.sample_rate, target.min_samples or 0), dtype=np.float32)
    arrays, _ = record_waveforms(target, [clip], target.default_layers, hook=silent)
    return {layer: int(array.shape[1]) for layer, array in arrays.items()}


def compute(names: tuple[str, ...] = BUILT_IN) -> dict[str, Any]:
    """The table: ``{target: {"layers": {path: units}, "units": total}}``."""
    table: dict[str, Any] = {}
    for name in names:
        layers = layer_units(built_in_target(name))
        table[name] = {"layers": layers, "units": sum(layers.values())}
    return table


def main() -> None:
    table = compute()
    TABLE.write_text(json.dumps({"generated_by": "python -m audiodissect.record.layer_table", **table}, indent=1)
                     + "\n", encoding="utf-8")
    print(help_text(table))
    print(f"wrote {TABLE}")


if __name__ == "__main__":
    main()
