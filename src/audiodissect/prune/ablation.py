"""Switching units off: temporarily through forward hooks, or permanently in the weights.

A unit is one output channel of a module (see :mod:`audiodissect.hooks`): a
Linear's output feature (last axis) or a Conv's channel (axis 1). Both
functions take unit ids ``"<module path>#<index>"`` and group them per layer,
so ablating thousands of units costs one hook (or one indexed write) per layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

from ..errors import AudioDissectError, unknown_name_error
from ..record.unit_axis import UnitAxes
from ..rundir import parse_unit_id

#: Layers whose weights :func:`zero_units_` can edit, with the weight axis of their output channels.
_WEIGHT_AXIS = {
    torch.nn.Linear: 0,
    torch.nn.Conv1d: 0, torch.nn.Conv2d: 0, torch.nn.Conv3d: 0,
}


def group_units(units: Sequence[str]) -> dict[str, list[int]]:
    """Group unit ids by layer: ``["a#1", "b#0", "a#3"]`` -> ``{"a": [1, 3], "b": [0]}``.

    Indices are sorted and de-duplicated; layers keep their first-seen order.
    """
    grouped: dict[str, set[int]] = {}
    for unit in units:
        layer, index = parse_unit_id(unit)
        grouped.setdefault(layer, set()).add(index)
    return {layer: sorted(indices) for layer, indices in grouped.items()}


def unit_count(module: torch.nn.Module) -> int | None:
    """Number of output units of a Linear or Conv module; None when not known before a forward pass."""
    for attr in ("out_features", "out_channels", "num_features", "channels"):
        value = getattr(module, attr, None)
        if isinstance(value, int):
            return value
    return None


def _check_range(layer: str, indices: Sequence[int], size: int | None) -> None:
    if size is not None and indices and max(indices) >= size:
        bad = [i for i in indices if i >= size]
        raise AudioDissectError(f"layer {layer!r} has {size} units; no unit {', '.join(map(str, bad[:5]))}",
                                hint=f"unit indices run from 0 to {size - 1}")


def _modules_for(module: torch.nn.Module, grouped: dict[str, list[int]]) -> dict[str, torch.nn.Module]:
    modules = dict(module.named_modules())
    found = {}
    for layer, indices in grouped.items():
        if layer not in modules or not layer:
            raise unknown_name_error("layer", layer, [n for n in modules if n])
        _check_range(layer, indices, unit_count(modules[layer]))
        found[layer] = modules[layer]
    return found


def _scale_hook(layer: str, indices: list[int], axes: UnitAxes, scale: float):
    cache: dict[torch.device, torch.Tensor] = {}

    def zero(module: torch.nn.Module, tensor: torch.Tensor) -> torch.Tensor:
        axis = axes.layout(layer, tensor).unit % tensor.ndim
        _check_range(layer, indices, tensor.shape[axis])
        index = cache.get(tensor.device)
        if index is None:
            index = cache[tensor.device] = torch.tensor(indices, dtype=torch.long, device=tensor.device)
        if scale == 0:
            return tensor.index_fill(axis, index, 0)
        return tensor.index_copy(axis, index, tensor.index_select(axis, index) * scale)

    def fn(module: torch.nn.Module, inputs: object, output: object) -> object:
        if isinstance(output, torch.Tensor):
            return zero(module, output)
        if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
            return type(output)([zero(module, output[0]), *output[1:]])
        raise AudioDissectError(f"cannot ablate layer {layer!r}: its output is not a tensor",
                                hint="ablate a Linear, Conv or other module that returns a tensor")

    return fn


@contextlib.contextmanager
def ablate(module: torch.nn.Module, units: Sequence[str], *, layouts: dict[str, str] | None = None,
           scale: float = 0.0) -> Iterator[dict[str, list[int]]]:
    """Force the outputs of `units` to zero (or scale them) while the block runs.

    One forward hook per layer replaces the layer's output by a copy whose
    chosen units (on the unit axis recording uses:
    :class:`audiodissect.record.unit_axis.UnitAxes`) are zero, or multiplied
    by `scale`. The hooks are removed on exit, also after an error.

    Parameters
    ----------
    module : torch.nn.Module
    units : sequence of str
        Unit ids ``"<module path>#<index>"``; may be empty (nothing is changed).
    layouts : dict of str to str, optional
        Declared layouts of layers (the target's ``layouts``).
    scale : float
        Factor the units' outputs are multiplied by (0: switched off; 2: doubled).

    Yields
    ------
    dict of str to list of int
        The ablated indices per layer.

    Raises
    ------
    AudioDissectError
        For an unknown layer (listing the closest module paths) or an index
        beyond the layer's units.
    """
    grouped = group_units(units)
    modules = _modules_for(module, grouped)
    axes = UnitAxes(module, layouts)
    handles = []
    try:
        for layer, indices in grouped.items():
            handles.append(modules[layer].register_forward_hook(_scale_hook(layer, indices, axes, scale)))
        yield grouped
    finally:
        for handle in handles:
            handle.remove()


def zero_units_(module: torch.nn.Module, units: Sequence[str]) -> torch.nn.Module:
    """Zero the weights and biases that produce `units`, in place (the paper's pruning).

    For a Linear, row ``weight[i, :]`` and ``bias[i]``; for a ConvNd, ``weight[i, ...]``
    and ``bias[i]``. The unit's pre-activation output is then exactly zero, as
    with :func:`ablate` on the same module. Use ``copy.deepcopy(module)`` first
    to keep the original.

    Parameters
    ----------
    module : torch.nn.Module
    units : sequence of str
        Unit ids ``"<module path>#<index>"`` of Linear or Conv layers.

    Returns
    -------
    torch.nn.Module
        `module` itself, edited.
    """
    grouped = group_units(units)
    modules = _modules_for(module, grouped)
    for layer, indices in grouped.items():
        sub = modules[layer]
        if type(sub) not in _WEIGHT_AXIS:
            raise AudioDissectError(f"cannot zero the weights of layer {layer!r} ({type(sub).__name__})",
                                    hint="zero_units_ edits Linear and Conv layers; use ablate() for others")
        index = torch.tensor(indices, dtype=torch.long, device=sub.weight.device)
        with torch.no_grad():
            sub.weight.index_fill_(_WEIGHT_AXIS[type(sub)], index, 0.0)
            if sub.bias is not None:
                sub.bias.index_fill_(0, index, 0.0)
    return module
