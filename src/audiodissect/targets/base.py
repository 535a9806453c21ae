"""Target models: a torch module plus how to feed it audio."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch


def _call_module(module: torch.nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, dict):
        out = module(**inputs)
    else:
        out = module(inputs)
    logits = getattr(out, "logits", None)
    return logits if isinstance(logits, torch.Tensor) else out


def find_logits(out: Any, n_clips: int) -> torch.Tensor | None:
    """The clips' logits in a forward's output, or None when it holds none.

    The rule: a tensor with the `n_clips` clips on axis 0 is the logits; of a
    mapping (or an object such as a Hugging Face output), its ``logits``
    entry; of a tuple or list, the first 2-D (n_clips, K) tensor (a
    ``(hidden_states, logits)`` pair gives its logits, not its hidden states).
    """
    if isinstance(out, Mapping):
        out = out.get("logits")
    elif isinstance(out, (tuple, list)):
        out = next((t for t in out if isinstance(t, torch.Tensor) and t.ndim == 2 and t.shape[0] == n_clips), None)
    elif not isinstance(out, torch.Tensor):
        out = getattr(out, "logits", None)
    if isinstance(out, torch.Tensor) and out.ndim >= 1 and out.shape[0] == n_clips:
        return out
    return None


def describe_output(out: Any) -> str:
    """A short description of a forward's output, for messages (``"a tuple of 2 (tensor (4, 8, 16), ...)"``)."""
    def one(value: Any) -> str:
        return f"tensor {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__

    if isinstance(out, Mapping):
        return "a dict with keys " + ", ".join(repr(k) for k in list(out)[:6])
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)} ({', '.join(one(v) for v in out[:4])})"
    return one(out)


def require_logits(out: Any, n_clips: int, *, where: str) -> torch.Tensor:
    """:func:`find_logits`, or an :class:`AudioDissectError` saying what the forward returned instead."""
    found = find_logits(out, n_clips)
    if found is None:
        from ..errors import AudioDissectError

        raise AudioDissectError(f"the forward of {where!r} returned {describe_output(out)} for {n_clips} clips, "
                                "with no clip logits in it", hint=LOGITS_HINT)
    return found


#: What to do when a forward's output holds no logits.
LOGITS_HINT = ("have forward return the (clips, classes) logits tensor (e.g. forward=lambda m, x: m(x)[1]), a dict "
               "with a 'logits' entry, or declare the target's output_layout for frame-wise scores")


def pad_to(waveforms: Sequence[np.ndarray], min_samples: int | None) -> list[np.ndarray]:
    """Each waveform (T_i,) as float32, zero-padded at its end to `min_samples` when shorter."""
    out = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waveforms]
    if not min_samples:
        return out
    return [np.pad(w, (0, min_samples - w.size)) if w.size < min_samples else w for w in out]


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
        Layer patterns dissected when the user names none; recorded in the
        order the forward pass reaches them.
    forward : callable
        ``forward(module, inputs) -> output``, `inputs` being what `preprocess`
        made. The default calls the module (with ``**inputs`` for a dict) and
        takes ``.logits`` when the output has it. The clips' logits are found
        in the output by :func:`find_logits` (a tensor with the B clips on
        axis 0, a dict's ``logits``, a tuple's first (B, K) tensor), or where
        `output_layout` says; an output without them (None, a frame-wise
        tensor) means the model has no logits (a warning says so when the
        output was not None).
    layouts : dict of str to str
        Declared output layouts by layer path or glob pattern, e.g.
        ``{"encoder.*": "BTC", "head": "(BT)C"}``: B the clips, C the units,
        other letters pooled, ``(BT)`` every frame of every clip on one axis,
        clip-major (see :mod:`audiodissect.layout`).
    min_samples : int, optional
        Fewest samples the model takes; shorter clips (and windows) are
        zero-padded at their end to this length before `preprocess`.
    output_layout : str, optional
        Layout of `forward`'s output when it is not (B, n_classes), e.g.
        ``"(BT)C"`` for frame-wise class scores; the logits are then its mean
        over every axis but B and C.
    frame_timings : dict of str to FrameTiming
        Where each layer's frames sit in the input, by layer path or glob
        pattern (:class:`audiodissect.frames.FrameTiming`: hop, window and
        start in seconds), for frame-level recording; a layer without one
        gets the uniform rule (its frames divide the input evenly).
    """

    name: str
    module: torch.nn.Module
    sample_rate: int
    preprocess: Callable[[Sequence[np.ndarray]], Any]
    class_names: list[str] | None = None
    default_layers: list[str] = dataclasses.field(default_factory=list)
    forward: Callable[[torch.nn.Module, Any], Any] = _call_module
    layouts: dict[str, str] = dataclasses.field(default_factory=dict)
    min_samples: int | None = None
    output_layout: str | None = None
    frame_timings: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        try:
            return next(self.module.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def logits(self, waveforms: Sequence[np.ndarray]) -> torch.Tensor:
        """Logits of a batch of waveforms, shape (B, n_classes), without gradients.

        Waveforms shorter than `min_samples` are zero-padded to it first. The
        logits are found in the forward's output by :func:`find_logits`'s rule;
        for a model without logits, the forward's output as it is.
        """
        inputs = move_to(self.preprocess(pad_to(waveforms, self.min_samples)), self.device)
        with torch.inference_mode():
            out = self.forward(self.module, inputs)
        found = find_logits(out, len(waveforms))
        return found if found is not None else out


def check_weights(module: torch.nn.Module, *, where: str) -> None:
    """Refuse a model whose weights are not real numbers: on the meta device (never loaded) or NaN/infinite.

    Parameters
    ----------
    module : torch.nn.Module
    where : str
        The model's name, for the message.

    Raises
    ------
    AudioDissectError
        Naming the tensors (at most five) and what to do.
    """
    from ..errors import AudioDissectError

    state = list(module.state_dict().items())
    meta = [name for name, tensor in state if tensor.is_meta]
    if meta:
        raise AudioDissectError(f"the model {where!r} has {len(meta)} tensors on the meta device (shapes without "
                                f"values), e.g. {', '.join(meta[:5])}: its weights were never loaded",
                                hint="load the weights before dissecting (e.g. from_pretrained without "
                                     "device_map='meta', or module.to_empty(device='cpu') then load_state_dict)")
    bad = [(name, int((~torch.isfinite(tensor)).sum())) for name, tensor in state
           if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if bad:
        shown = ", ".join(f"{name} ({count} of {dict(state)[name].numel()})" for name, count in bad[:5])
        raise AudioDissectError(f"the model {where!r} has NaN or infinite weights in {len(bad)} tensors: {shown}"
                                + (", ..." if len(bad) > 5 else ""),
                                hint="the checkpoint is damaged or its training diverged: use another checkpoint")
