"""Choosing layers by module path, with glob patterns."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence

import torch

from .errors import AudioDissectError, closest_names

LayerFilter = str | Sequence[str] | Callable[[str], bool]

#: Module types whose output channels count as units when layers are chosen by type.
UNIT_TYPES = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


def layer_predicate(layers: LayerFilter) -> Callable[[str], bool]:
    """Normalise a name, a list of names/globs or a predicate into one predicate."""
    if callable(layers):
        return layers
    patterns = [layers] if isinstance(layers, str) else list(layers)
    return lambda name: any(fnmatch.fnmatchcase(name, p) for p in patterns)


def resolve_layers(module: torch.nn.Module, layers: LayerFilter) -> list[str]:
    """Module paths in `module` chosen by `layers`, in ``named_modules()`` order.

    Each string pattern must match at least one module path; an unknown name
    raises :class:`AudioDissectError` listing the closest existing paths.
    """
    names = [n for n, _ in module.named_modules() if n]
    if callable(layers):
        chosen = [n for n in names if layers(n)]
        if not chosen:
            raise AudioDissectError("the layer predicate matched no module")
        return chosen
    patterns = [layers] if isinstance(layers, str) else list(layers)
    if not patterns:
        raise AudioDissectError("no layers given", hint="name module paths, e.g. 'classifier' or 'layers.*'")
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            close = closest_names(pattern, names)
            raise AudioDissectError(
                f"no module path matches {pattern!r}",
                hint="closest: " + ", ".join(close) if close else "the model has no submodules",
            )
    keep = layer_predicate(patterns)
    return [n for n in names if keep(n)]


def unit_layers(module: torch.nn.Module, types: Iterable[type] = UNIT_TYPES) -> list[str]:
    """Paths of every submodule of the given types (Linear and Conv by default)."""
    types = tuple(types)
    return [n for n, m in module.named_modules() if n and isinstance(m, types)]
