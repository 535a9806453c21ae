"""``audiodissect train``: train the demo CNN on a probing set's probe split and cache it."""

from __future__ import annotations

from ._options import add_probe_options


def register(sub) -> None:
    p = sub.add_parser("train", help="train the demo CNN (the default target) and cache it",
                       description="Train the demo CNN, seeded, on the probe split of a probing set (default: "
                                   "the built-in soundbank), score it on the held-out split, and keep the "
                                   "checkpoint in the cache, where `audiodissect run` finds it. A model "
                                   "already cached with the same settings, or shipped with the package (the "
                                   "default settings on the default soundbank), is loaded instead, unless --force.")
    add_probe_options(p, options=True)
    p.add_argument("--epochs", type=int, default=None, metavar="N", help="training epochs (default: 30)")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="seed of initialisation, shuffling, augmentation and dropout (default: 0)")
    p.add_argument("--force", action="store_true", help="train again even when a cached model exists")
    p.set_defaults(handler=main)


def main(args) -> int:
    import dataclasses

    from ..errors import AudioDissectError
    from ..targets.demo_cnn import SHIPPED_WEIGHTS, TrainSettings, find_model, model_dir
    from ..targets.demo_train import cached_demo_cnn
    from ._options import open_probe, parse_key_values

    changes = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    if changes.get("epochs", 1) < 1:
        raise AudioDissectError("--epochs must be at least 1")
    settings = dataclasses.replace(TrainSettings(), **changes)
    probe = open_probe(args.probe, root=args.probe_root, options=parse_key_values(args.probe_option))
    folder = model_dir(probe.content_key(), settings)
    found = None if args.force else find_model(folder)
    _, _, metrics = cached_demo_cnn(probe, settings=settings, force=args.force)
    if found is None:
        how = f"trained in {metrics['train_seconds']} s"
    elif found == folder:
        how = "loaded from the cache (--force trains again)"
    else:
        how = "shipped with the package (--force trains it again on this machine, into the cache)"
        folder = found
    held = metrics.get("heldout_accuracy")
    print(f"demo-cnn on {probe.describe()}: {how}")
    print(f"  seed {settings.seed}, {metrics['epochs']} epochs, {metrics['n_train']} training clips, "
          f"train accuracy {metrics['train_accuracy']:.3f}")
    if held is None:
        print("  held-out accuracy: n/a (the probing set has no held-out clips)")
    else:
        print(f"  held-out accuracy {held:.3f} on {metrics['n_heldout']} clips")
    print(f"checkpoint: {next(folder / n for n in ('model.pt', SHIPPED_WEIGHTS) if (folder / n).exists())}")
    print(f"accuracy:   {folder / 'metrics.json'}")
    return 0
