"""``audiodissect sae``: sparse autoencoders on a run's layers, whose latents are dissected like neurons."""

from __future__ import annotations

from ._options import add_run_option
from ._settings import add_setting_flags

#: The training settings ``sae train`` takes.
FLAGS = (
    ("--architecture", ("sae", "architecture")),
    ("--k", ("sae", "k")),
    ("--expansion-factor", ("sae", "expansion_factor")),
    ("--d-sae", ("sae", "d_sae")),
    ("--lr", ("sae", "lr")),
    ("--epochs", ("sae", "epochs")),
    ("--steps", ("sae", "steps")),
    ("--batch-size", ("sae", "batch_size")),
    ("--seed", ("sae", "seed")),
    ("--dead-latents", ("sae", "dead_latents")),
    ("--dead-after-epochs", ("sae", "dead_after_epochs")),
    ("--aux-k", ("sae", "aux_k")),
    ("--aux-coefficient", ("sae", "aux_coefficient")),
    ("--unit-decoder", ("sae", "unit_decoder")),
    ("--normalize", ("sae", "normalize")),
    ("--device", ("sae", "device")),
)

DESCRIPTION = ("Train a TopK or BatchTopK sparse autoencoder on a recorded layer's activations (probe clips; "
               "reconstruction measured on the held-out clips), or attach one trained elsewhere (SAELens's "
               "cfg.json + sae_weights.safetensors). The SAE is kept in SAELens's format under sae/<layer>/ "
               "and attached to the model: its latents are the layer sae:<layer> (module path sae.<layer>, unit "
               "ids sae.<layer>#<i>), recorded beside the run's layers unless --no-record; then `audiodissect "
               "identify/summarize/score/prune/report --run DIR` treat them like neurons.")


def register(sub) -> None:
    p = sub.add_parser("sae", help="sparse autoencoders: latents as units", description=DESCRIPTION)
    actions = p.add_subparsers(dest="sae_action", metavar="ACTION", required=True)
    train = actions.add_parser("train", help="train an SAE on a recorded layer and record its latents",
                               description=DESCRIPTION)
    add_run_option(train)
    train.add_argument("--layer", required=True, help="the recorded layer (module path) to train on")
    add_setting_flags(train, FLAGS, of_run=True)
    train.add_argument("--no-record", action="store_true",
                       help="do not record the latents now (record them later with the run's other layers)")
    train.set_defaults(handler=main_train)
    attach = actions.add_parser("attach", help="attach an SAE trained elsewhere (SAELens's files) and record it",
                                description=DESCRIPTION)
    add_run_option(attach)
    attach.add_argument("--layer", required=True, help="the layer (module path) the SAE reads")
    attach.add_argument("--path", required=True, metavar="DIR",
                        help="folder holding cfg.json and sae_weights.safetensors")
    attach.add_argument("--no-record", action="store_true", help="do not record the latents now")
    attach.set_defaults(handler=main_attach)


def _record_latents(d, layer: str) -> None:
    from ..sae import latent_name, latent_path

    layers = [name for name in d.run_dir.layers() if name != latent_path(layer)] + [latent_name(layer)]
    acts = d.record(layers=layers)
    print(f"latents: {latent_name(layer)} -> module path {latent_path(layer)}, "
          f"{acts[latent_path(layer)].shape[1]} units over {acts[latent_path(layer)].shape[0]} clips")


def main_train(args) -> int:
    from ._stage import open_run

    d = open_run(args, FLAGS)
    training = d.train_sae(args.layer)
    print(f"SAE (SAELens format): {training.folder}")
    if not args.no_record:
        _record_latents(d, args.layer)
    return 0


def main_attach(args) -> int:
    from ._stage import open_run

    d = open_run(args)
    path = d.attach_sae(args.layer, args.path)
    print(f"attached {args.path} to {args.layer!r}: latents at module path {path}")
    if not args.no_record:
        _record_latents(d, args.layer)
    return 0
