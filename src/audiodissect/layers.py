"""Choosing layers by module path, with glob patterns, in the user's order.

:func:`resolve_layers` keeps the order the user lists names and patterns in.
The paths one glob pattern matches, those a predicate selects and a target's
default layers form *groups*: the recorder puts each group's layers in the
order the forward pass first reaches them (module registration order says
nothing about the computation), and keeps the groups in the user's order.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence

import torch

from .errors import AudioDissectError, closest_names

LayerFilter = str | Sequence[str] | Callable[[str], bool]

#: Module types whose output channels count as units when layers are chosen by type.
UNIT_TYPES = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)

_GLOB = set("*?[")

#: ``sae:<layer>`` names the latents of the sparse autoencoder attached to ``<layer>`` (globs allowed):
#: the module whose ``latent_host`` attribute is that layer (``sae.<layer>``, see :mod:`audiodissect.sae`).
LATENT_PREFIX = "sae:"


def latent_layers(module: torch.nn.Module) -> dict[str, str]:
    """``{layer: module path}`` of the latent layers in `module`: submodules with a ``latent_host`` attribute."""
    found = {}
    for name, sub in module.named_modules():
        host = getattr(sub, "latent_host", None)
        if name and isinstance(host, str) and host:
            found[host] = name
    return found


def _latent_matches(module: torch.nn.Module, pattern: str) -> list[str]:
    """The module paths ``sae:<pattern>`` names (an exact layer, or a glob over layers)."""
    wanted = pattern[len(LATENT_PREFIX):]
    latents = latent_layers(module)
    if wanted in latents:
        return [latents[wanted]]
    matches = [path for host, path in latents.items() if fnmatch.fnmatchcase(host, wanted)] \
        if _GLOB & set(wanted) else []
    if not matches:
        raise AudioDissectError(f"no sparse autoencoder is attached to {wanted!r}",
                                hint=("attached: " + ", ".join(LATENT_PREFIX + h for h in latents)) if latents else
                                "train one (Dissection.train_sae(layer), `audiodissect sae train`) or attach one "
                                "(Dissection.attach_sae(layer, folder))")
    return matches


class LayerSelection(list):
    """Module paths (a list of str) plus the groups whose order the forward pass decides.

    Attributes
    ----------
    groups : list of list of str
        A partition of the paths, in list order; a group of more than one
        path (the matches of one glob pattern, of a predicate, or a target's
        defaults) is reordered by :meth:`in_forward_order`.
    """

    def __init__(self, groups: Sequence[Sequence[str]]):
        seen: set[str] = set()
        kept = []
        for group in groups:
            fresh = [n for n in group if n not in seen]
            seen.update(fresh)
            if fresh:
                kept.append(fresh)
        super().__init__(n for group in kept for n in group)
        self.groups = kept

    def in_forward_order(self, reached: Sequence[str]) -> list[str]:
        """The paths with each group sorted by its first position in `reached` (groups keep their order)."""
        rank = {name: i for i, name in enumerate(reached)}
        end = len(rank)
        return [n for group in self.groups for n in sorted(group, key=lambda n: rank.get(n, end))]


def layer_predicate(layers: LayerFilter) -> Callable[[str], bool]:
    """Normalise a name, a list of names/globs or a predicate into one predicate."""
    if callable(layers):
        return layers
    patterns = [layers] if isinstance(layers, str) else list(layers)
    return lambda name: any(fnmatch.fnmatchcase(name, p) for p in patterns)


def resolve_layers(module: torch.nn.Module, layers: LayerFilter, *, one_group: bool = False) -> LayerSelection:
    """Module paths in `module` chosen by `layers`, in the order they are listed.

    Parameters
    ----------
    module : torch.nn.Module
    layers : str, sequence of str, or callable
        Exact paths and glob patterns (each must match at least one path), or
        a predicate on paths. ``sae:<layer>`` names the latents of the SAE attached
        to ``<layer>`` (:data:`LATENT_PREFIX`). A :class:`LayerSelection` is returned as it is.
    one_group : bool
        Treat all the chosen paths as one group to be put in forward order
        (for a target's default layers).

    Returns
    -------
    LayerSelection
        Exact names in the order given; the matches of a glob pattern or a
        predicate in ``named_modules()`` order, as a group that recording
        puts in forward order. A path listed twice is kept the first time.

    Raises
    ------
    AudioDissectError
        For an unknown name (listing the closest existing paths), a pattern
        or predicate that matches nothing, or an empty list.
    """
    if isinstance(layers, LayerSelection) and not one_group:
        return layers
    names = [n for n, _ in module.named_modules() if n]
    if callable(layers):
        chosen = [n for n in names if layers(n)]
        if not chosen:
            raise AudioDissectError("the layer predicate matched no module")
        return LayerSelection([chosen])
    patterns = [layers] if isinstance(layers, str) else list(layers)
    if not patterns:
        raise AudioDissectError("no layers given", hint="name module paths, e.g. 'classifier' or 'layers.*'")
    known = set(names)
    groups = []
    for pattern in patterns:
        if pattern in known:
            groups.append([pattern])
            continue
        if pattern.startswith(LATENT_PREFIX):
            groups.append(_latent_matches(module, pattern))
            continue
        matches = [n for n in names if fnmatch.fnmatchcase(n, pattern)] if _GLOB & set(pattern) else []
        if not matches:
            close = closest_names(pattern, names)
            raise AudioDissectError(
                f"no module path matches {pattern!r}",
                hint="closest: " + ", ".join(close) if close else "the model has no submodules",
            )
        groups.append(matches)
    if one_group:
        return LayerSelection([[n for group in groups for n in group]])
    return LayerSelection(groups)


def unit_layers(module: torch.nn.Module, types: Iterable[type] = UNIT_TYPES) -> list[str]:
    """Paths of every submodule of the given types (Linear and Conv by default)."""
    types = tuple(types)
    return [n for n, m in module.named_modules() if n and isinstance(m, types)]


#: How to get a Python module back from a TorchScript one.
SCRIPTED_HINT = ("rebuild the Python nn.Module from its class and the scripted weights: model = MyModel(...); "
                 "model.load_state_dict(scripted.state_dict()); then check it computes the same: "
                 "torch.allclose(model.eval()(x), scripted(x), atol=1e-5) on an example input x; and pass model "
                 "(TorchScript's compiled forward never runs the hooks that record layers)")


def check_scriptable(model: torch.nn.Module) -> None:
    """Raise a clear :class:`AudioDissectError` for a TorchScript module, whose submodules' hooks never run."""
    if isinstance(model, torch.jit.ScriptModule):
        raise AudioDissectError(
            f"the model is a TorchScript module ({type(model).__name__}): its compiled forward does not run "
            "the forward hooks that record layers", hint=SCRIPTED_HINT)
