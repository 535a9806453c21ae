"""``audiodissect run``: every stage, end to end.

Each flag fills one setting of :class:`~audiodissect.config.RunConfig`; its
help text and default come from that setting, so they are written once.
"""

from __future__ import annotations

import dataclasses

from ..config import PRESETS
from ._options import add_model_option_flag, add_probe_option_flag

#: (flag, setting path, argparse keywords) of every settings flag of ``run``.
FLAGS = (
    ("--out", ("out",), {"metavar": "DIR"}),
    ("--model", ("record", "model"), {}),
    ("--probe", ("probe", "name"), {"metavar": "NAME"}),
    ("--probe-root", ("probe", "root"), {"metavar": "PATH"}),
    ("--layers", ("record", "layers"), {"nargs": "+", "metavar": "PATTERN"}),
    ("--pool", ("record", "pool"), {}),
    ("--batch-size", ("record", "batch_size"), {"type": int, "metavar": "N"}),
    ("--output-layer", ("record", "output_layer"), {"metavar": "LAYER"}),
    ("--device", ("record", "device"), {}),
    ("--captioner", ("describe", "captioner"), {"metavar": "SPEC"}),
    ("--concepts", ("identify", "concepts"), {"metavar": "FILE"}),
    ("--tab-backend", ("identify", "tab_backend"), {"metavar": "SPEC"}),
    ("--llm", ("summarize", "llm"), {"metavar": "SPEC"}),
    ("--llm-timeout", ("summarize", "timeout"), {"type": float, "metavar": "SECONDS"}),
    ("--llm-concurrency", ("summarize", "concurrency"), {"type": int, "metavar": "N"}),
    ("--refresh-cache", ("summarize", "refresh_cache"), {"action": "store_true"}),
    ("--executor", ("executor", "name"), {"metavar": "NAME"}),
    ("--ray-address", ("executor", "ray_address"), {"metavar": "ADDR"}),
    ("--gpus-per-worker", ("executor", "gpus_per_worker"), {"type": float, "metavar": "N"}),
    ("--stages", ("stages",), {"nargs": "+", "metavar": "STAGE"}),
)


def _field(path: tuple[str, ...]) -> tuple[dataclasses.Field, object]:
    from ..config import RunConfig

    node: object = RunConfig()
    for part in path[:-1]:
        node = getattr(node, part)
    field = {f.name: f for f in dataclasses.fields(node)}[path[-1]]
    return field, getattr(node, path[-1])


def register(sub) -> None:
    p = sub.add_parser("run", help="dissect a model end to end (default: demo CNN on the soundbank, offline)",
                       description="Run every stage: record activations, describe clips, identify closed-set "
                                   "concepts, summarise and calibrate, extract open concepts, score, prune, "
                                   "analyse, and write the HTML report. With no arguments it dissects the "
                                   "built-in demo CNN on the built-in soundbank with the offline backends.")
    p.add_argument("--config", metavar="FILE", help="settings file (TOML or JSON); the options below override it")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="named settings applied before the options below (paper: the original AND procedures: "
                        "first-token pooling, the paper's AST/BEATs layers, DB on each hidden unit's top-5 clips, "
                        "two-shot ICL on the raw summary, calibration threshold 0.5)")
    for flag, path, extra in FLAGS:
        field, default = _field(path)
        choices = field.metadata.get("choices")
        choices = choices() if callable(choices) else choices
        shown = " ".join(default) if isinstance(default, list) else default
        text = field.metadata.get("help", "")
        text = text() if callable(text) else text
        if choices:
            text += f"; one of {', '.join(choices)}"
        if "default" not in text:
            text += f" (default: {shown or 'none'})"
        if "action" not in extra:
            extra = {"metavar": path[-1].upper(), **extra}
        p.add_argument(flag, dest="_".join(path), default=None, help=text, **extra)
    add_probe_option_flag(p)
    add_model_option_flag(p)
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..config import RunConfig, apply_preset, load_config, validate
    from ..dissection import Dissection
    from ._options import parse_key_values

    config = load_config(args.config) if args.config else RunConfig()
    if args.preset:
        config = apply_preset(config, args.preset)
    config.probe.options.update(parse_key_values(args.probe_option))
    config.record.model_options.update(parse_key_values(args.model_option, flag="--model-option"))
    for _, path, _ in FLAGS:
        value = getattr(args, "_".join(path))
        if value is None:
            continue
        node = config
        for part in path[:-1]:
            node = getattr(node, part)
        setattr(node, path[-1], value)
    d = Dissection(config=validate(config), echo=print)
    d.run()
    print(f"results: {d.path}")
    return 0
