"""``audiodissect convert beats``: write a BEATs state dict with a separate config (the AND paper authors' layout)
in the official BEATs checkpoint format, which ``--model beats:<file>`` reads without options."""

from __future__ import annotations

FORMATS = ("beats",)


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert a model checkpoint to the format audiodissect reads",
                       description="beats: a bare state dict (the release's keys, or the AND paper authors' beats.* "
                                   "and fc.* keys) plus its config file (JSON, a pickled plain dict such as "
                                   "cfg.pkl, or the released checkpoint it was fine-tuned from) to one official "
                                   "BEATs checkpoint ({'cfg', 'model', 'label_dict'}); the head fc becomes the "
                                   "network's predictor. The network is built and its weights checked first.")
    p.add_argument("format", choices=FORMATS, help="what to convert")
    p.add_argument("source", metavar="CHECKPOINT", help="the state dict (torch file)")
    p.add_argument("--config", metavar="FILE", help="its BEATs config (required for a bare state dict)")
    p.add_argument("--class-names", metavar="FILE",
                   help="class names in logit order: one per line, or 'name<TAB>index' lines (the paper's "
                        "network_class files); stored as the checkpoint's label_dict")
    p.add_argument("--out", required=True, metavar="FILE", help="the checkpoint to write (must not exist)")
    p.set_defaults(handler=main)


def main(args) -> int:
    from pathlib import Path

    from ..errors import AudioDissectError
    from ..targets.beats import convert_checkpoint, save_checkpoint

    out = Path(args.out)
    if out.exists():
        raise AudioDissectError(f"{out} exists; convert writes a new file and replaces nothing",
                                hint="choose another --out path")
    checkpoint = convert_checkpoint(args.source, config=args.config, class_names=args.class_names)
    save_checkpoint(checkpoint, out)
    cfg = checkpoint["cfg"]
    head = f"a {cfg['predictor_class']}-class head" if cfg.get("finetuned_model") else "no classification head"
    print(f"wrote {out}: BEATs with {cfg.get('encoder_layers', 12)} layers and {head}"
          + (f" ({len(checkpoint['label_dict'])} class names)" if checkpoint.get("label_dict") else ""))
    print(f"dissect it with: audiodissect run --model beats:{out}")
    return 0
