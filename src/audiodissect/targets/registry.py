"""Loading a target model by its spec (the names are in :mod:`audiodissect.targets.specs`), or wrapping your own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import AudioDissectError
from ..layers import unit_layers
from .base import Target
from .specs import TARGETS


def load_target(spec: str, *, device: str | None = None, **options: Any) -> Target:
    """Load a target model by its spec.

    Parameters
    ----------
    spec : str
        ``"yamnet"`` (pretrained AudioSet YAMNet), ``"demo-cnn"`` (a small CNN
        trained on the soundbank's probe split on first use, then cached),
        ``"hf:<model id or local path>"`` (a Hugging Face audio classifier),
        ``"beats:<checkpoint path>"``, or a name registered in
        :data:`~audiodissect.targets.specs.TARGETS`.
    device : str, optional
        Torch device to move the model to (default: CPU).
    **options
        Passed to the loader: for ``demo-cnn`` the training settings and the
        probing set (see :func:`audiodissect.targets.demo_train.demo_cnn_target`);
        for ``hf:`` e.g. ``local_files_only``.

    Raises
    ------
    AudioDissectError
        For an unknown name (listing the closest ones) or a model that cannot be loaded.
    """
    return TARGETS.build(spec, device=device, **options)


def from_module(module: torch.nn.Module, *, sample_rate: int,
                preprocess: Callable[[Sequence[np.ndarray]], Any],
                class_names: Sequence[str] | None = None, name: str = "custom",
                default_layers: Sequence[str] | None = None,
                forward: Callable[[torch.nn.Module, Any], Any] | None = None,
                layouts: dict[str, str] | None = None, min_samples: int | None = None,
                output_layout: str | None = None) -> Target:
    """Wrap a user's own ``nn.Module`` as a :class:`Target`.

    Parameters
    ----------
    module : torch.nn.Module
        A plain Python module (not TorchScript: its compiled forward skips the
        recording hooks).
    sample_rate : int
        Hz.
    preprocess : callable
        A list of B mono float32 waveforms (T_i,) to the module's input. While
        recording, every clip of a batch has the same length.
    class_names : sequence of str, optional
    name : str
    default_layers : sequence of str, optional
        Default: every Linear and Conv module; recorded in the order the
        forward pass reaches them.
    forward : callable, optional
        ``forward(module, inputs) -> output``, `inputs` being what
        `preprocess` made. Default: ``module(inputs)`` (``module(**inputs)``
        for a dict), its ``.logits`` when it has them. The clips' logits are
        found in the output as :func:`~audiodissect.targets.base.find_logits`
        says (a tensor with the B clips on axis 0, a dict's ``logits``, a
        tuple's first (B, K) tensor); an output without them (None,
        frame-wise scores) means no logits, and recording returns an (n, 0)
        logits array (with a warning unless the output was None).
    layouts : dict of str to str, optional
        Output layout per layer path or glob pattern, for layers whose units
        the module type does not place: B the clips, C the units, any other
        capital letter an axis to pool, ``(BT)`` every frame of every clip of
        the batch on one axis, clip-major. E.g. ``{"encoder.*": "BTC",
        "frontend.conv": "BCT", "head": "(BT)C"}``.
    min_samples : int, optional
        Fewest samples the model takes; shorter clips are zero-padded at
        their end to this length.
    output_layout : str, optional
        Layout of `forward`'s output when it is not (B, n_classes), e.g.
        ``"(BT)C"`` for frame-wise class scores, averaged into clip logits.

    Raises
    ------
    AudioDissectError
        For something other than a Python ``nn.Module``, a bad sample rate or
        a layout that cannot be read.

    Examples
    --------
    A frame-wise model (here a pitch-like estimator) takes the frames of
    every clip as its batch, (B x T, frame_length), and scores each frame;
    it has no clip logits:

    >>> import numpy as np, torch
    >>> from audiodissect.progress import silent
    >>> from audiodissect.record import record_waveforms
    >>> from audiodissect.targets import from_module
    >>> net = torch.nn.Sequential(torch.nn.Linear(160, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    >>> def frames(waves):  # B clips of one length -> (B * T, 160) frames, clip-major
    ...     clips = torch.from_numpy(np.stack(waves))
    ...     return clips.unfold(1, 160, 160).reshape(-1, 160)
    >>> def run(module, inputs):  # frame scores (B * T, 4) are not clip logits
    ...     module(inputs)
    >>> target = from_module(net, sample_rate=16000, preprocess=frames, forward=run,
    ...                      layouts={"*": "(BT)C"})
    >>> waves = [np.zeros(1600, np.float32), np.ones(3200, np.float32)]
    >>> acts, logits = record_waveforms(target, waves, ["0", "2"], hook=silent)
    >>> acts["0"].shape, acts["2"].shape, logits.shape
    ((2, 8), (2, 4), (2, 0))
    """
    from ..layers import check_scriptable
    from ..layout import parse_layout

    if not isinstance(module, torch.nn.Module):
        raise AudioDissectError(f"expected a torch.nn.Module, got {type(module).__name__}")
    check_scriptable(module)
    if int(sample_rate) <= 0:
        raise AudioDissectError(f"sample_rate must be positive, got {sample_rate}")
    if min_samples is not None and int(min_samples) < 1:
        raise AudioDissectError(f"min_samples must be positive, got {min_samples}")
    layouts = dict(layouts or {})
    for pattern, text in layouts.items():
        parse_layout(text, layer=pattern)
    if output_layout is not None:
        parse_layout(output_layout, layer="the output")
    layers = list(default_layers) if default_layers is not None else unit_layers(module)
    extra = {"forward": forward} if forward is not None else {}
    return Target(name=name, module=module.eval(), sample_rate=int(sample_rate), preprocess=preprocess,
                  class_names=list(class_names) if class_names is not None else None,
                  default_layers=layers, layouts=layouts,
                  min_samples=int(min_samples) if min_samples is not None else None,
                  output_layout=output_layout, **extra)
