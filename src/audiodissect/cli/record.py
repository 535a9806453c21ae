"""``audiodissect record``: record unit activations over a probing set."""

from __future__ import annotations

from ..targets.specs import TARGETS
from ._options import add_model_option_flag, add_probe_options


def register(sub) -> None:
    p = sub.add_parser("record", help="record every chosen unit's activations over a probing set",
                       description="Run the model over the probing set with hooks on the chosen layers and "
                                   "write activations/<layer>.npy (clips x units), logits.npy and clips.jsonl.")
    p.add_argument("--model", default="demo-cnn",
                   help=f"{TARGETS.help()} (default: demo-cnn)")
    add_probe_options(p, options=True)
    add_model_option_flag(p)
    p.add_argument("--layers", nargs="+", metavar="PATTERN",
                   help="module paths or globs, e.g. 'layers.*' 'classifier' (default: the model's unit layers)")
    p.add_argument("--pool", choices=("mean", "max", "first"), default="mean",
                   help="reduction over time/tokens: mean, max or first position (default: mean)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N",
                   help="clips per forward pass (results do not depend on it; default: 32)")
    p.add_argument("--device", help="torch device, e.g. cuda (default: cpu)")
    p.add_argument("--out", required=True, metavar="DIR", help="run directory to write")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..dissection import Dissection
    from ._options import parse_key_values

    d = Dissection(args.model, args.probe, args.out, probe_root=args.probe_root,
                   probe_options=parse_key_values(args.probe_option), device=args.device,
                   config={"record": {"model_options": parse_key_values(args.model_option, flag="--model-option")}})
    d.record(args.layers or None, pool=args.pool, batch_size=args.batch_size)
    section = d.run_dir.stage("record")
    total = sum(section["layers"].values())
    print(f"recorded {total} units in {len(section['layers'])} layers over {section['n_clips']} clips -> {args.out}")
    return 0
