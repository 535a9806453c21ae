"""A small log-mel CNN classifier of a probing set's labels, the demo target.

``load_target("demo-cnn")`` (:func:`audiodissect.targets.demo_train.demo_cnn_target`)
finds it by a key hashing the probing set's content key, the training settings
and :data:`CODE_VERSION`: in ``cache_dir()/demo-cnn/<key>/`` (a model trained
on this machine, by ``audiodissect train`` or a first use), else in the
package's :data:`SHIPPED` folder (the model trained with the default settings
on the default soundbank, shipped so that every machine dissects the same
weights: seeded CPU training is not bit-identical across machines), else it
trains it on the probing set's probe split and caches it.

Layers with units: ``features.conv1`` .. ``features.conv4`` (Conv2d, outputs
(B, C, frames, bands) before batch-norm and ReLU), ``fc`` (the hidden Linear,
before its ReLU) and ``classifier`` (the logits). Every ``features.*`` layer
has the layout ``"BCTF"`` and a declared frame timing (:func:`frame_timings`),
so its frames can be recorded with their time spans.
"""

from __future__ import annotations

import dataclasses
import io
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..cache import atomic_path, cache_dir, hash_key, read_json, write_json
from ..errors import AudioDissectError
from ..frames import FrameTiming
from .base import Target
from .frontend import LogMel, LogMelSettings, pad_batch

#: Bump when the model or the training code changes what a cached model would be.
CODE_VERSION = 1

#: Trained demo CNNs shipped with the package, one folder per key (:func:`model_dir`'s name).
SHIPPED = Path(__file__).resolve().parent.parent / "data" / "demo-cnn"
#: The weights file of a shipped model (a cached one holds ``model.pt``).
SHIPPED_WEIGHTS = "model.safetensors"

#: The demo CNN's front end: YAMNet's log-mel settings (16 kHz, 25/10 ms, 64 bands).
FRONTEND = LogMelSettings()


class MaxPool2d(torch.nn.MaxPool2d):
    """:class:`torch.nn.MaxPool2d` taken on a channels-last copy when no gradient flows through it.

    A maximum does not depend on the memory layout, so the values are the same; torch's CPU kernel for
    contiguous (N, C, H, W) input is several times slower than its channels-last one, and on this project's
    2-core machine the pooling took 40 % of the demo CNN's forward pass. With the copies to channels last and
    back, pooling a (32, 16, 64, 250) batch took 0.11-0.12 s of wall time for ten passes instead of 0.24-0.28 s.
    With a gradient (training, gradients of activations) it is torch's own, so that ties between equal maxima
    send their gradient where they always did.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad or self.return_indices or x.dim() != 4 or x.device.type != "cpu":
            return super().forward(x)
        if x.is_contiguous(memory_format=torch.channels_last):  # the layout of a channels-last model
            return super().forward(x)
        return super().forward(x.contiguous(memory_format=torch.channels_last)).contiguous()


class DemoCNN(torch.nn.Module):
    """Four conv blocks, global pooling, a hidden Linear and a classifier.

    ``forward(log_mel (B, frames, n_mels)) -> logits (B, n_classes)``. The
    input is standardised per band with the training set's statistics, held
    as buffers ``band_mean`` and ``band_std`` (n_mels,).
    """

    def __init__(self, *, n_classes: int, n_mels: int = 64, widths: Sequence[int] = (16, 32, 64, 128),
                 hidden: int = 128, dropout: float = 0.3):
        super().__init__()
        self.config = {"n_classes": int(n_classes), "n_mels": int(n_mels), "widths": [int(w) for w in widths],
                       "hidden": int(hidden), "dropout": float(dropout)}
        self.register_buffer("band_mean", torch.zeros(n_mels))
        self.register_buffer("band_std", torch.ones(n_mels))
        blocks: OrderedDict[str, torch.nn.Module] = OrderedDict()
        channels = 1
        for i, width in enumerate(widths, start=1):
            blocks[f"conv{i}"] = torch.nn.Conv2d(channels, width, 3, padding=1, bias=False)
            blocks[f"bn{i}"] = torch.nn.BatchNorm2d(width)
            blocks[f"relu{i}"] = torch.nn.ReLU()
            if i < len(widths):
                blocks[f"pool{i}"] = MaxPool2d(2)
            channels = width
        self.features = torch.nn.Sequential(blocks)
        self.fc = torch.nn.Linear(2 * channels, hidden)
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(hidden, n_classes)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        x = ((log_mel - self.band_mean) / self.band_std).unsqueeze(1)
        x = self.features(x).flatten(2)  # (B, C, positions)
        x = torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)
        return self.classifier(self.dropout(F.relu(self.fc(x))))


class LogMelPreprocess:
    """Waveforms (list of (T_i,)) to log-mels (B, frames, n_mels), zero-padding to the longest."""

    def __init__(self, settings: LogMelSettings = FRONTEND):
        self.frontend = LogMel(settings)
        self.settings = settings

    def __call__(self, waveforms: Sequence[np.ndarray]) -> torch.Tensor:
        if len(waveforms) == 0:
            raise AudioDissectError("no waveforms to preprocess")
        length = max(self.settings.window_length, max(int(np.asarray(w).size) for w in waveforms))
        with torch.no_grad():
            return self.frontend(pad_batch(waveforms, length))


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """How the demo CNN is trained (all of it enters the cache key).

    Attributes
    ----------
    seed : int
    epochs : int
    batch_size : int
    learning_rate : float
        Peak of a one-cycle schedule (AdamW).
    weight_decay : float
    widths : tuple of int
        Channels of the four conv blocks.
    hidden : int
        Units of ``fc``.
    augment : bool
        Random gain, circular time shifts, and band and time masks.
    crop_frames : int
        Each training step sees a random window of this many frames (1.5 s),
        which also halves the cost; scoring uses whole clips.
    threads : int
        Torch CPU threads while training.
    """

    seed: int = 0
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-2
    widths: tuple[int, ...] = (16, 32, 64, 128)
    hidden: int = 128
    augment: bool = True
    crop_frames: int = 150
    threads: int = 2


def model_dir(probe_key: str, settings: TrainSettings) -> Path:
    """``cache_dir()/demo-cnn/<hash of the probing set's content key, settings, code version>``.

    `probe_key` is :meth:`ProbeSet.content_key <audiodissect.probes.base.ProbeSet.content_key>`,
    so a probing set whose audio changed trains a new model.
    """
    return cache_dir() / "demo-cnn" / hash_key(probe_key, settings, CODE_VERSION)


def save_model(folder: Path, model: DemoCNN, class_names: Sequence[str], metrics: dict[str, Any]) -> None:
    """Write ``model.pt`` (state dict), ``config.json`` and ``metrics.json`` into `folder`."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    with atomic_path(folder / "model.pt") as tmp:
        tmp.write_bytes(buffer.getvalue())
    write_json(folder / "metrics.json", metrics)
    write_json(folder / "config.json", {**model.config, "class_names": list(class_names),
                                        "frontend": dataclasses.asdict(FRONTEND), "code_version": CODE_VERSION})


def load_model(folder: Path) -> tuple[DemoCNN, list[str]]:
    """(model in eval mode, class names) from a folder written by :func:`save_model`, or a shipped one.

    The weights are read as tensors only: ``model.safetensors`` where the
    folder has it (a shipped model), else ``model.pt`` with ``weights_only``.
    """
    config = read_json(folder / "config.json")
    names = config.pop("class_names")
    config.pop("frontend", None)
    config.pop("code_version", None)
    model = DemoCNN(**config)
    if (folder / SHIPPED_WEIGHTS).exists():
        from safetensors.torch import load_file

        state = load_file(folder / SHIPPED_WEIGHTS, device="cpu")
    else:
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval(), names


def is_cached(folder: Path) -> bool:
    """Whether `folder` holds a complete model (weights, ``config.json`` and ``metrics.json``)."""
    weights = (folder / "model.pt").exists() or (folder / SHIPPED_WEIGHTS).exists()
    return weights and all((folder / name).exists() for name in ("config.json", "metrics.json"))


def shipped_dir(folder: Path) -> Path | None:
    """The shipped model with the same key as the cache folder `folder` (:func:`model_dir`), or None."""
    shipped = SHIPPED / folder.name
    return shipped if is_cached(shipped) else None


def find_model(folder: Path) -> Path | None:
    """Where the model of cache folder `folder` is: `folder` itself when a model was trained into it on this
    machine, else the shipped model with the same key, else None (it must be trained)."""
    return folder if is_cached(folder) else shipped_dir(folder)


def make_target(model: DemoCNN, class_names: Sequence[str], *, device: str | None = None,
                name: str = "demo-cnn") -> Target:
    """Wrap a trained :class:`DemoCNN` as a :class:`Target`, its convolutions' weights channels-last.

    With channels-last weights torch runs the convolutions on its channels-last kernels (and the
    layers' outputs come out channels-last): on this project's 2-core machine a forward pass over 256
    soundbank probe clips took 0.28 s of wall time instead of 0.40 s (medians of three passes, ``python
    bench/target_layout.py demo-cnn``). Its sums run in another order, so values differ from the
    contiguous layout's in the last bits (at most 4.5e-6 in those clips' logits).
    """
    model = model.eval().to(memory_format=torch.channels_last)
    if device:
        model = model.to(device)
    layers = [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    return Target(name=name, module=model, sample_rate=FRONTEND.sample_rate, preprocess=LogMelPreprocess(),
                  class_names=list(class_names), default_layers=layers, min_samples=min_samples(model),
                  layouts={"features.*": "BCTF"}, frame_timings=frame_timings(model))


def frame_timings(model: DemoCNN) -> dict[str, FrameTiming]:
    """Where the frames of each ``features.*`` layer sit: block k's frames pool 2^(k-1) log-mel frames.

    A frame of block k (after k - 1 max-poolings by 2) is aligned with
    log-mel frames ``[t m, (t + 1) m)``, ``m = 2^(k-1)``: hop ``m`` x 10 ms,
    window ``(m - 1)`` x 10 ms + 25 ms (the STFT window), frame 0 at 0 s.
    """
    hop, window = FRONTEND.hop_length / FRONTEND.sample_rate, FRONTEND.window_length / FRONTEND.sample_rate
    timings: dict[str, FrameTiming] = {}
    names = [n for n, _ in model.features.named_children()]
    factor = 1
    for child in names:
        timings[f"features.{child}"] = FrameTiming(hop=hop * factor, window=hop * (factor - 1) + window)
        if child.startswith("pool"):
            factor *= 2
            timings[f"features.{child}"] = FrameTiming(hop=hop * factor, window=hop * (factor - 1) + window)
    timings["features"] = timings[f"features.{names[-1]}"]
    return timings


def min_samples(model: DemoCNN) -> int:
    """Fewest samples the CNN takes: enough frames to leave one after its 2x2 max-poolings."""
    frames = 2 ** (len(model.config["widths"]) - 1)
    return FRONTEND.window_length + (frames - 1) * FRONTEND.hop_length
