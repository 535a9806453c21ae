"""Wrap a target so that one extra layer holds units with known concepts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import AudioDissectError
from ..targets.base import Target
from .detectors import Detector, analyse

#: Module path of the planted layer inside the wrapped model.
PLANTED_LAYER = "planted"


class PlantedLayer(torch.nn.Module):
    """Runs every detector on a batch: ``forward(waveform, lengths, logits) -> (B, n_detectors)``.

    Parameters
    ----------
    detectors : sequence of Detector
        Unit i of the layer is ``detectors[i]``.
    sample_rate : int
    """

    def __init__(self, detectors: Sequence[Detector], *, sample_rate: int):
        super().__init__()
        if not detectors:
            raise AudioDissectError("a planted layer needs at least one detector")
        self.detectors = torch.nn.ModuleList(detectors)
        self.sample_rate = int(sample_rate)

    @property
    def concepts(self) -> list[str]:
        return [d.concept for d in self.detectors]

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        spectra = analyse(waveform, lengths, logits, sample_rate=self.sample_rate)
        return torch.stack([d(spectra) for d in self.detectors], dim=1)


class PlantedModel(torch.nn.Module):
    """A target model plus a planted layer fed with the waveform and the model's logits.

    ``forward(model_inputs, waveform, lengths)`` returns the wrapped model's
    logits unchanged; the planted layer runs on the side, so hooks on
    ``planted`` record its (B, n_detectors) output. The wrapped model's own
    layers keep their paths under the ``model.`` prefix.
    """

    def __init__(self, model: torch.nn.Module, planted: PlantedLayer,
                 model_forward: Callable[[torch.nn.Module, Any], torch.Tensor]):
        super().__init__()
        self.model = model
        self.planted = planted
        self._model_forward = model_forward

    def forward(self, model_inputs: Any, waveform: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits = self._model_forward(self.model, model_inputs)
        self.planted(waveform, lengths, logits.detach())
        return logits


def _pad(waveforms: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = [len(w) for w in waveforms]
    out = np.zeros((len(waveforms), max(lengths, default=0)), dtype=np.float32)
    for i, w in enumerate(waveforms):
        out[i, :len(w)] = w
    return torch.from_numpy(out), torch.tensor(lengths, dtype=torch.int64)


def plant_units(target: Target, detectors: Sequence[Detector], *, name: str | None = None) -> Target:
    """A copy of `target` whose module has a ``planted`` layer of known detectors.

    Parameters
    ----------
    target : Target
        Any target (its module, preprocess, forward, sample_rate and class_names are reused).
    detectors : sequence of Detector
        The planted units, in channel order.
    name : str, optional
        Default ``"planted:<target name>"``.

    Returns
    -------
    Target
        Its forward returns the wrapped logits unchanged; its default layers are
        ``["planted"]``; its preprocess adds the padded waveform and lengths to
        the wrapped model's inputs.
    """
    for d in detectors:
        index = getattr(d, "index", None)
        n_classes = len(target.class_names) if target.class_names is not None else None
        if index is not None and n_classes is not None and not 0 <= index < n_classes:
            raise AudioDissectError(f"class-copy detector index {index} is outside the model's {n_classes} classes")
    planted = PlantedLayer(detectors, sample_rate=target.sample_rate)
    device = target.device
    module = PlantedModel(target.module, planted.to(device), target.forward).eval()
    inner = target.preprocess

    def preprocess(waveforms: Sequence[np.ndarray]) -> dict[str, Any]:
        waveform, lengths = _pad(waveforms)
        return {"model_inputs": inner(waveforms), "waveform": waveform, "lengths": lengths}

    return Target(name=name or f"planted:{target.name}", module=module, sample_rate=target.sample_rate,
                  preprocess=preprocess, class_names=target.class_names, default_layers=[PLANTED_LAYER])


def planted_layer(target: Target) -> PlantedLayer:
    """A planted target's ``planted`` layer, or an error saying how to make one."""
    layer = getattr(target.module, PLANTED_LAYER, None)
    if not isinstance(layer, PlantedLayer):
        raise AudioDissectError(f"target {target.name!r} has no planted layer",
                                hint="wrap it with audiodissect.planted.plant_units")
    return layer


def planted_concepts(target: Target) -> list[str]:
    """The known concept of each unit of a planted target's ``planted`` layer."""
    return planted_layer(target).concepts


def planted_class_count(target: Target) -> int:
    """How many units of a planted target's layer copy a class logit (they come first)."""
    return sum(1 for d in planted_layer(target).detectors if hasattr(d, "index"))
