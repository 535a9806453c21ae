"""Training the demo CNN on a probing set's probe split, caching it, and the demo target built from it.

Log-mels are computed once; each epoch then only runs the CNN. Training is
seeded (model initialisation, shuffling, augmentation and dropout all draw
from generators seeded with ``settings.seed``) and restores the caller's
global torch RNG state afterwards.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import AudioDissectError
from ..probes.base import HELDOUT, PROBE, ProbeSet
from ..progress import ProgressHook, track
from ..threads import torch_threads
from .base import Target
from .demo_cnn import FRONTEND, DemoCNN, TrainSettings, find_model, load_model, make_target, model_dir, save_model
from .frontend import LogMel, pad_batch

#: One-time set-up work worth a line without --verbose (the CLI shows this logger's INFO records).
setup_log = logging.getLogger("audiodissect.setup")


def probe_log_mels(probe: ProbeSet, indices: np.ndarray, *, n_samples: int, batch_size: int = 64,
                   hook: ProgressHook | None = None) -> torch.Tensor:
    """Log-mels of the clips at `indices`, each zero-padded or cut to `n_samples`.

    Returns
    -------
    torch.Tensor, shape (len(indices), frames, n_mels), float32
    """
    frontend = LogMel(FRONTEND)
    chunks = [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]
    out = []
    with torch.no_grad():
        for chunk in track(chunks, "log-mels", hook=hook, artefact="demo-cnn"):
            audio = [probe.audio(int(i), sample_rate=FRONTEND.sample_rate) for i in chunk]
            out.append(frontend(pad_batch(audio, n_samples)))
    return torch.cat(out)


def random_crop(x: torch.Tensor, frames: int, generator: torch.Generator) -> torch.Tensor:
    """A random window of `frames` frames from each clip of (B, F, n_mels); all of it when F <= frames."""
    b, total, bands = x.shape
    if total <= frames:
        return x
    start = torch.randint(0, total - frames + 1, (b, 1), generator=generator)
    index = (start + torch.arange(frames).unsqueeze(0)).unsqueeze(2).expand(b, frames, bands)
    return torch.gather(x, 1, index)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random gain, circular time shift, one band mask and one time mask per clip.

    `x` is (B, frames, n_mels) log-mel ``log(mel + offset)``; the gain (x0.25 to x2)
    is applied exactly to ``mel``.
    """
    b, frames, bands = x.shape
    offset = FRONTEND.log_offset
    gain = torch.exp(torch.empty(b, 1, 1).uniform_(np.log(0.25), np.log(2.0), generator=generator))
    x = torch.log((torch.exp(x) - offset).clamp_min(0) * gain + offset)
    shift = torch.randint(0, frames, (b, 1), generator=generator)
    index = (torch.arange(frames).unsqueeze(0) + shift) % frames
    x = torch.gather(x, 1, index.unsqueeze(2).expand(b, frames, bands))
    floor = float(np.log(offset))
    for axis, size, widest in ((2, bands, bands // 8), (1, frames, frames // 8)):
        width = torch.randint(0, widest + 1, (b, 1), generator=generator)
        start = (torch.rand(b, 1, generator=generator) * (size - width + 1)).long()
        pos = torch.arange(size).unsqueeze(0)
        mask = (pos >= start) & (pos < start + width)  # (B, size)
        mask = mask.unsqueeze(1) if axis == 2 else mask.unsqueeze(2)
        x = x.masked_fill(mask, floor)
    return x


def accuracy(model: DemoCNN, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 128) -> torch.Tensor:
    """Predicted class of each clip, shape (N,), int64 (model in eval mode)."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)])


def _per_class(pred: torch.Tensor, y: torch.Tensor, names: list[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k, name in enumerate(names):
        members = y == k
        out[name] = float((pred[members] == k).float().mean()) if bool(members.any()) else None
    return out


def train_demo_cnn(probe: ProbeSet, *, seed: int = 0, epochs: int = 30, batch_size: int = 32,
                   learning_rate: float = 3e-3, weight_decay: float = 1e-2,
                   widths: tuple[int, ...] = (16, 32, 64, 128), hidden: int = 128, augment_data: bool = True,
                   crop_frames: int = 150, threads: int = 2, hook: ProgressHook | None = None) -> tuple[DemoCNN, dict[str, Any]]:
    """Train a :class:`DemoCNN` on `probe`'s probe split; score it on its held-out split.

    Parameters
    ----------
    probe : ProbeSet
        Labelled clips; class names are its sorted labels.
    seed, epochs, batch_size, learning_rate, weight_decay, widths, hidden, threads
        See :class:`audiodissect.targets.demo_cnn.TrainSettings`.
    augment_data : bool
        Use :func:`augment` on every training batch.
    crop_frames : int
        Train on random windows of this many frames (150: 1.5 s); scoring uses whole clips.
    hook : progress hook, optional

    Returns
    -------
    model : DemoCNN
        In eval mode, on the CPU.
    metrics : dict
        ``heldout_accuracy`` (None without held-out clips), ``per_class_accuracy``,
        ``train_accuracy``, ``epochs``, ``train_seconds``, ``n_train``, ``n_heldout``,
        ``class_names``.
    """
    names = probe.labels
    if len(names) < 2:
        raise AudioDissectError(f"the demo CNN needs at least two labels, {probe.name!r} has {len(names)}")
    label_index = {n: k for k, n in enumerate(names)}
    train_idx = np.array([i for i in probe.indices(PROBE) if probe[int(i)].label is not None], dtype=np.int64)
    held_idx = np.array([i for i in probe.indices(HELDOUT) if probe[int(i)].label in label_index], dtype=np.int64)
    if len(train_idx) == 0:
        raise AudioDissectError(f"{probe.name!r} has no labelled clips in its probe split")
    start_time = time.perf_counter()
    lengths = [probe.audio(int(i), sample_rate=FRONTEND.sample_rate).size for i in train_idx[:8]]
    n_samples = max(FRONTEND.window_length, int(np.median(lengths)))
    y_train = torch.tensor([label_index[probe[int(i)].label] for i in train_idx])
    y_held = torch.tensor([label_index[probe[int(i)].label] for i in held_idx], dtype=torch.int64)
    with torch_threads(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        x_train = probe_log_mels(probe, train_idx, n_samples=n_samples, hook=hook)
        x_held = (probe_log_mels(probe, held_idx, n_samples=n_samples, hook=hook) if len(held_idx)
                  else x_train[:0])
        model = DemoCNN(n_classes=len(names), n_mels=FRONTEND.n_mels, widths=widths, hidden=hidden)
        model.band_mean.copy_(x_train.mean(dim=(0, 1)))
        model.band_std.copy_(x_train.std(dim=(0, 1)).clamp_min(1e-3))
        steps = max(1, -(-len(train_idx) // batch_size))
        optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=learning_rate,
                                                       total_steps=epochs * steps, pct_start=0.2)
        for _ in track(range(epochs), "train", hook=hook, artefact="demo-cnn"):
            model.train()
            order = torch.randperm(len(train_idx), generator=generator)
            for s in range(steps):
                batch = order[s * batch_size:(s + 1) * batch_size]
                if len(batch) < 2:  # batch-norm needs two clips
                    continue
                x = random_crop(x_train[batch], crop_frames, generator)
                if augment_data:
                    x = augment(x, generator)
                loss = F.cross_entropy(model(x), y_train[batch], label_smoothing=0.05)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
        model.eval()
        train_pred = accuracy(model, x_train, y_train)
        held_pred = accuracy(model, x_held, y_held) if len(held_idx) else None
    seconds = time.perf_counter() - start_time
    metrics: dict[str, Any] = {
        "heldout_accuracy": float((held_pred == y_held).float().mean()) if held_pred is not None else None,
        "per_class_accuracy": _per_class(held_pred, y_held, names) if held_pred is not None else {},
        "train_accuracy": float((train_pred == y_train).float().mean()),
        "epochs": int(epochs),
        "train_seconds": round(seconds, 2),
        "n_train": int(len(train_idx)),
        "n_heldout": int(len(held_idx)),
        "class_names": names,
        "clip_samples": int(n_samples),
    }
    setup_log.info("demo-cnn trained on %d %s clips in %.1f s: held-out accuracy %s (%d clips)",
                   len(train_idx), probe.name, seconds,
                   "n/a" if held_pred is None else f"{metrics['heldout_accuracy']:.3f}", len(held_idx))
    return model, metrics


def cached_demo_cnn(probe: ProbeSet, *, settings: TrainSettings = TrainSettings(),
                    hook: ProgressHook | None = None, force: bool = False) -> tuple[DemoCNN, list[str], dict[str, Any]]:
    """The demo CNN for `probe` and `settings`: loaded from the cache or the package, or trained and cached.

    A model trained on this machine (in the cache) comes first, then the one
    shipped with the package for the same key (:func:`~audiodissect.targets.demo_cnn.find_model`).
    `force` trains again and writes the model into the cache, where it takes
    precedence over the shipped one from then on.

    Returns
    -------
    model, class_names, metrics
    """
    from ..cache import read_json

    folder = model_dir(probe.content_key(), settings)
    found = None if force else find_model(folder)
    if found is not None:
        model, names = load_model(found)
        return model, names, read_json(found / "metrics.json")
    options = dataclasses.asdict(settings)
    options["augment_data"] = options.pop("augment")
    options["widths"] = tuple(options["widths"])
    setup_log.info("training the demo CNN on %s (first use, a few minutes on 2 CPU cores; cached in %s)",
                   probe.describe(), folder)
    model, metrics = train_demo_cnn(probe, hook=hook, **options)
    metrics["settings"] = dataclasses.asdict(settings)
    save_model(folder, model, metrics["class_names"], metrics)
    return model, list(metrics["class_names"]), metrics


def demo_cnn_target(*, device: str | None = None, probe: Any = None, probe_options: dict[str, Any] | None = None,
                    hook: Any = None, **train_options: Any) -> Target:
    """The demo CNN: shipped with the package for the default soundbank and settings, else trained on first
    use and cached (:func:`cached_demo_cnn`).

    Parameters
    ----------
    device : str, optional
    probe : ProbeSet, optional
        The set to train on (its probe split) and score on (its held-out
        split). Default: ``load_probe("soundbank", **probe_options)``.
    probe_options : dict, optional
    hook : progress hook, optional
    **train_options
        Fields of :class:`TrainSettings` (seed, epochs, ...).
    """
    try:
        settings = TrainSettings(**train_options)
    except TypeError:
        fields = [f.name for f in dataclasses.fields(TrainSettings)]
        raise AudioDissectError(f"unknown demo-cnn option(s): {', '.join(sorted(train_options))}",
                                hint="choose among " + ", ".join(fields)) from None
    if probe is None:
        from ..probes import load_probe

        probe = load_probe("soundbank", **(probe_options or {}))
    model, names, _ = cached_demo_cnn(probe, settings=settings, hook=hook)
    return make_target(model, names, device=device)
