"""Finding a target model by name: ``yamnet``, ``demo-cnn``, ``hf:<id or path>``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import AudioDissectError, unknown_name_error
from ..layers import unit_layers
from .base import Target

NAMES = ("yamnet", "demo-cnn", "hf:<model id or local path>", "beats:<checkpoint path>")


def load_target(spec: str, *, device: str | None = None, **options: Any) -> Target:
    """Load a target model by name.

    Parameters
    ----------
    spec : str
        ``"yamnet"`` (pretrained AudioSet YAMNet), ``"demo-cnn"`` (a small CNN
        trained on the soundbank's probe split on first use, then cached), or
        ``"hf:<model id or local path>"`` (a Hugging Face audio classifier).
    device : str, optional
        Torch device to move the model to (default: CPU).
    **options
        Passed to the loader: for ``demo-cnn`` the training settings and the
        probing set (see :func:`audiodissect.targets.demo_cnn.demo_cnn_target`);
        for ``hf:`` e.g. ``local_files_only``.

    Raises
    ------
    AudioDissectError
        For an unknown name (listing the known ones) or a model that cannot be loaded.
    """
    spec = spec.strip()
    if spec.startswith("hf:"):
        from .hf import hf_target

        return hf_target(spec[3:], device=device, **options)
    if spec.startswith("beats:"):
        from .beats import beats_target

        return beats_target(spec[6:], device=device, **options)
    if spec == "yamnet":
        _no_options(spec, options)
        from .yamnet import yamnet_target

        return yamnet_target(device=device)
    if spec == "demo-cnn":
        from .demo_cnn import demo_cnn_target

        return demo_cnn_target(device=device, **options)
    raise unknown_name_error("target model", spec, NAMES)


def _no_options(spec: str, options: dict[str, Any]) -> None:
    if options:
        raise AudioDissectError(f"target {spec!r} takes no options, got {', '.join(sorted(options))}")


def from_module(module: torch.nn.Module, *, sample_rate: int,
                preprocess: Callable[[Sequence[np.ndarray]], Any],
                class_names: Sequence[str] | None = None, name: str = "custom",
                default_layers: Sequence[str] | None = None) -> Target:
    """Wrap a user's own ``nn.Module`` as a :class:`Target`.

    Parameters
    ----------
    module : torch.nn.Module
        Its forward returns logits (B, n_classes) or an object with ``.logits``;
        every module to be recorded must keep the clip batch on axis 0.
    sample_rate : int
        Hz.
    preprocess : callable
        A list of B mono float32 waveforms (T_i,) to the module's input.
    class_names : sequence of str, optional
    name : str
    default_layers : sequence of str, optional
        Default: every Linear and Conv module.
    """
    if not isinstance(module, torch.nn.Module):
        raise AudioDissectError(f"expected a torch.nn.Module, got {type(module).__name__}")
    if int(sample_rate) <= 0:
        raise AudioDissectError(f"sample_rate must be positive, got {sample_rate}")
    layers = list(default_layers) if default_layers is not None else unit_layers(module)
    return Target(name=name, module=module.eval(), sample_rate=int(sample_rate), preprocess=preprocess,
                  class_names=list(class_names) if class_names is not None else None,
                  default_layers=layers)
