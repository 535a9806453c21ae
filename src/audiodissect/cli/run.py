"""``audiodissect run``: every stage, end to end.

Each flag fills one setting of :class:`~audiodissect.config.RunConfig`; its
help text and default come from that setting, so they are written once.
"""

from __future__ import annotations

from ..config import PRESETS
from ._options import (LinesHelpFormatter, add_layout_flag, add_model_option_flag, add_probe_option_flag,
                       default_layers_epilog)
from ._settings import add_setting_flags

#: (flag, setting path) of every settings flag of ``run``.
FLAGS = (
    ("--out", ("out",)),
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
    ("--captioner", ("describe", "captioner")),
    ("--concepts", ("identify", "concepts")),
    ("--tab-backend", ("identify", "tab_backend")),
    ("--llm", ("summarize", "llm")),
    ("--llm-timeout", ("summarize", "timeout")),
    ("--llm-concurrency", ("summarize", "concurrency")),
    ("--allow-failed-prompts", ("summarize", "allow_failures")),
    ("--allow-failed-captions", ("describe", "allow_failures")),
    ("--prune-concepts", ("prune", "concepts")),
    ("--executor", ("executor", "name")),
    ("--ray-address", ("executor", "ray_address")),
    ("--gpus-per-worker", ("executor", "gpus_per_worker")),
    ("--stages", ("stages",)),
)


def register(sub) -> None:
    p = sub.add_parser("run", help="dissect a model end to end (default: demo CNN on the soundbank, offline)",
                       description="Run every stage: record activations, describe clips, identify closed-set "
                                   "concepts, summarise and calibrate, extract open concepts, score, prune, "
                                   "evaluate, analyse, and write the HTML report. With no arguments it dissects "
                                   "the built-in demo CNN on the built-in soundbank with the offline backends.",
                       epilog=default_layers_epilog(), formatter_class=LinesHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="settings file (TOML or JSON); the options below override it")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="named settings applied before the options below (paper: the original AND procedures: "
                        "first-token pooling, the paper's AST/BEATs layers, DB on each hidden unit's top-5 clips, "
                        "two-shot ICL on the raw summary, calibration threshold 0.5)")
    add_setting_flags(p, FLAGS)
    p.add_argument("--refresh-cache", action="store_true",
                   help="ask the summaries' prompts again instead of reading the run's cached answers")
    add_probe_option_flag(p)
    add_model_option_flag(p)
    add_layout_flag(p)
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..config import RunConfig, apply_preset, load_config, merge
    from ..dissection import Dissection
    from ._options import parse_key_values, parse_layouts
    from ._settings import settings_from_args

    config = load_config(args.config) if args.config else RunConfig()
    if args.preset:
        config = apply_preset(config, args.preset)
    config.probe.options.update(parse_key_values(args.probe_option))
    config.record.model_options.update(parse_key_values(args.model_option, flag="--model-option"))
    config.record.layouts.update(parse_layouts(args.layout))
    d = Dissection(config=merge(config, settings_from_args(args, FLAGS)), echo=print)
    d.run(refresh_cache=args.refresh_cache)
    print(f"results: {d.path}")
    return 0
