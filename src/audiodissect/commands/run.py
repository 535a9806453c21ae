"""``audiodissect run``: every stage, end to end."""

from __future__ import annotations

from ._options import add_probe_option_flag


def register(sub) -> None:
    p = sub.add_parser("run", help="dissect a model end to end (default: demo CNN on the soundbank, offline)",
                       description="Run every stage: record activations, describe clips, identify closed-set "
                                   "concepts, summarise and calibrate, extract open concepts, score, and write "
                                   "the HTML report. With no arguments it dissects the built-in demo CNN on the "
                                   "built-in soundbank with the offline backends.")
    p.add_argument("--config", metavar="FILE", help="settings file (TOML or JSON); options below override it")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/default)")
    p.add_argument("--model", help="target model: demo-cnn, yamnet or hf:<id or path>")
    p.add_argument("--probe", metavar="NAME", help="probing set: soundbank, esc50, urbansound8k, gtzan, folder, csv")
    p.add_argument("--probe-root", metavar="PATH", help="the probing set's folder or manifest")
    add_probe_option_flag(p)
    p.add_argument("--layers", nargs="+", metavar="PATTERN", help="module paths or globs to dissect")
    p.add_argument("--pool", choices=("mean", "max", "first"), help="reduction over time/tokens")
    p.add_argument("--concepts", metavar="FILE", help="concept set, one per line")
    p.add_argument("--llm", help="LLM backend: extractive, llamacpp[:<gguf>], http:<model>@<url>, transformers:<id>")
    p.add_argument("--captioner", help="clip descriptions: tags, file:<json>, http:<model>@<url>")
    p.add_argument("--stages", nargs="+", metavar="STAGE", help="run only these stages")
    p.add_argument("--device", help="torch device for the target model")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..config import RunConfig, load_config
    from ..pipeline import run_pipeline
    from ._options import parse_key_values

    config = load_config(args.config) if args.config else RunConfig()
    config.probe.options.update(parse_key_values(args.probe_option))
    overrides = {
        ("out",): args.out, ("record", "model"): args.model, ("probe", "name"): args.probe,
        ("probe", "root"): args.probe_root, ("record", "layers"): args.layers, ("record", "pool"): args.pool,
        ("identify", "concepts"): args.concepts, ("summarize", "llm"): args.llm,
        ("describe", "captioner"): args.captioner, ("stages",): args.stages, ("record", "device"): args.device,
    }
    for path, value in overrides.items():
        if value is None:
            continue
        node = config
        for part in path[:-1]:
            node = getattr(node, part)
        setattr(node, path[-1], value)
    run = run_pipeline(config)
    print(f"results: {run.path}")
    return 0
