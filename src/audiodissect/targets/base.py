"""Target models: a torch module plus how to feed it audio."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch


def _call_module(module: torch.nn.Module, inputs: Any) -> torch.Tensor:
    if isinstance(inputs, dict):
        out = module(**inputs)
    else:
        out = module(inputs)
    logits = getattr(out, "logits", out)
    if not isinstance(logits, torch.Tensor):
        raise TypeError("the target's forward must return a tensor of logits or an object with .logits")
    return logits


def move_to(inputs: Any, device: torch.device | str) -> Any:
    """Move a tensor, or a dict/list of tensors, to `device`."""
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device)
    if isinstance(inputs, dict):
        return {k: move_to(v, device) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(move_to(v, device) for v in inputs)
    return inputs


@dataclasses.dataclass
class Target:
    """A model to dissect.

    Attributes
    ----------
    name : str
        The spec it was loaded from (``"yamnet"``, ``"demo-cnn"``, ``"hf:<id or path>"``)
        or a user's own name.
    module : torch.nn.Module
        The network; layers are addressed by their paths in ``module.named_modules()``.
    sample_rate : int
        The rate the model expects, in Hz.
    preprocess : callable
        ``preprocess(waveforms) -> inputs``: a list of B mono float32 arrays (T_i,) at
        `sample_rate` to the model's input (a tensor or a dict of tensors, batch first).
    class_names : list of str, optional
        Names of the output classes, in logit order, when the model has them.
    default_layers : list of str
        Layer patterns dissected when the user names none.
    forward : callable
        ``forward(module, inputs) -> logits (B, n_classes)``; the default calls the module
        (with ``**inputs`` for a dict) and takes ``.logits`` when the output has it.
    """

    name: str
    module: torch.nn.Module
    sample_rate: int
    preprocess: Callable[[Sequence[np.ndarray]], Any]
    class_names: list[str] | None = None
    default_layers: list[str] = dataclasses.field(default_factory=list)
    forward: Callable[[torch.nn.Module, Any], torch.Tensor] = _call_module

    @property
    def device(self) -> torch.device:
        try:
            return next(self.module.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def logits(self, waveforms: Sequence[np.ndarray]) -> torch.Tensor:
        """Logits of a batch of waveforms, shape (B, n_classes), without gradients."""
        inputs = move_to(self.preprocess(waveforms), self.device)
        with torch.inference_mode():
            return self.forward(self.module, inputs)
