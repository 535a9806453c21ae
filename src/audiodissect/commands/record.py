"""``audiodissect record``: record unit activations over a probing set."""

from __future__ import annotations

from ._options import add_probe_options


def register(sub) -> None:
    p = sub.add_parser("record", help="record every chosen unit's activations over a probing set",
                       description="Run the model over the probing set with hooks on the chosen layers and "
                                   "write activations/<layer>.npy (clips x units), logits.npy and clips.jsonl.")
    p.add_argument("--model", default="demo-cnn",
                   help="yamnet, demo-cnn, or hf:<model id or local path> (default: demo-cnn)")
    add_probe_options(p, options=True)
    p.add_argument("--layers", nargs="+", metavar="PATTERN",
                   help="module paths or globs, e.g. 'layers.*' 'classifier' (default: the model's unit layers)")
    p.add_argument("--pool", choices=("mean", "max", "first"), default="mean",
                   help="reduction over time/tokens: mean, max or first position (default: mean)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N")
    p.add_argument("--device", help="torch device, e.g. cuda (default: cpu)")
    p.add_argument("--out", required=True, metavar="DIR", help="run directory to write")
    p.set_defaults(handler=main)


def main(args) -> int:
    from ..config import ProbeConfig, RecordConfig
    from ..pipeline import open_probe, open_target, stage_record
    from ..rundir import RunDir
    from ._options import parse_key_values

    probe = open_probe(ProbeConfig(name=args.probe, root=args.probe_root,
                                   options=parse_key_values(args.probe_option)))
    record = RecordConfig(model=args.model, layers=args.layers or [], pool=args.pool,
                          batch_size=args.batch_size, device=args.device)
    target = open_target(record, probe=probe)
    section = stage_record(RunDir(args.out), target, probe, record)
    total = sum(section["layers"].values())
    print(f"recorded {total} units in {len(section['layers'])} layers over {section['n_clips']} clips -> {args.out}")
    return 0
