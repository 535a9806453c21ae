"""``audiodissect record``: record unit activations over a probing set into a new run directory."""

from __future__ import annotations

from ._options import (LinesHelpFormatter, add_layout_flag, add_model_option_flag, add_probe_option_flag,
                       default_layers_epilog)
from ._settings import add_setting_flags

FLAGS = (
    ("--model", ("record", "model")),
    ("--probe", ("probe", "name")),
    ("--probe-root", ("probe", "root")),
    ("--layers", ("record", "layers")),
    ("--pool", ("record", "pool")),
    ("--batch-size", ("record", "batch_size")),
    ("--output-layer", ("record", "output_layer")),
    ("--frames", ("record", "frames")),
    ("--length-bucket", ("record", "length_bucket")),
    ("--device", ("record", "device")),
)


def register(sub) -> None:
    p = sub.add_parser("record", help="record every chosen unit's activations over a probing set",
                       description="Run the model over the probing set with hooks on the chosen layers and "
                                   "write activations/<layer>.npy (clips x units), logits.npy and clips.jsonl.",
                       epilog=default_layers_epilog(), formatter_class=LinesHelpFormatter)
    add_setting_flags(p, FLAGS)
    add_probe_option_flag(p)
    add_model_option_flag(p)
    add_layout_flag(p)
    p.add_argument("--out", required=True, metavar="DIR", help="run directory to write")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..config import RunConfig, merge
    from ..dissection import Dissection
    from ._options import parse_key_values, parse_layouts
    from ._settings import settings_from_args

    config = merge(RunConfig(), settings_from_args(args, FLAGS))
    config.out = args.out
    config.probe.options.update(parse_key_values(args.probe_option))
    config.record.model_options.update(parse_key_values(args.model_option, flag="--model-option"))
    config.record.layouts.update(parse_layouts(args.layout))
    d = Dissection(config=config, echo=print)
    d.record()
    print(f"results: {d.path}")
    return 0
