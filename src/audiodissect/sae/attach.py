"""Attaching an SAE to a model: its latents become the units of one more module path.

:func:`attach_sae` puts the SAE into the model's module tree at
``sae.<layer>`` (the layer's own path after ``sae.``; users name it
``sae:<layer>``) and registers one forward hook on the layer. On every forward
pass the hook pools the layer's output to one vector per clip, the way the
recorded activations the SAE was trained on were pooled, and calls the SAE
module on it, so hooks on ``sae.<layer>`` see the (B, d_sae) latents: the
record stage records them and :func:`audiodissect.prune.ablation.ablate` zeroes
them like any layer's units.

Ablating latents. When a hook on the SAE module replaced some latents (z ->
z'), the layer's hook adds their decoder contributions' change to the layer's
output, at every position of each clip::

    out' = out + (z' - z) W_dec      (un-normalised; for an ablated latent: out - z_i W_dec[i])

so the SAE's reconstruction error and every other latent's contribution are
kept. Pooling over time by mean, max or the first position commutes with
adding a per-clip constant, so the pooled output of the ablated layer is
exactly the pooled output minus the ablated latents' contributions. With no
latent replaced, the layer's output is left untouched.

Limits: the layer's output must hold the clips on an axis of their own (a
frame-wise ``(BT)`` layout needs frame-level activations); clips recorded in
several windows get each window's latents combined as the recording combines
windows.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..errors import AudioDissectError, unknown_name_error
from ..layers import LATENT_PREFIX, latent_layers
from ..layout import FLAT, Layout, pool_output
from ..pooling import check_pool
from .model import SparseAutoencoder

#: The attribute of the model's root module that holds every attached SAE.
ROOT = "sae"


class SaeContainer(torch.nn.Module):
    """Holds attached SAEs (and the containers of deeper layers' SAEs); never called."""

    def forward(self, *args, **kwargs):  # pragma: no cover - a container is never called
        raise RuntimeError("SaeContainer holds attached SAEs and is never called")


def latent_path(layer: str) -> str:
    """The module path of the latents of the SAE attached to `layer`: ``sae.<layer>``."""
    return f"{ROOT}.{layer}"


def latent_name(layer: str) -> str:
    """How users name those latents: ``sae:<layer>``."""
    return f"{LATENT_PREFIX}{layer}"


def _first_tensor(output: object) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


class LatentHook:
    """The forward hook on an SAE's layer: encode the pooled output, apply the latents' ablation.

    Parameters
    ----------
    sae : SparseAutoencoder
        The attached module (hooks on it see its latents).
    layer : str
    layout : Layout or None
        Where the clips and units lie in the layer's output (None: a 2-D output).
    pool : {"mean", "max", "first"}
        How the layer's output is pooled before encoding.
    """

    def __init__(self, sae: SparseAutoencoder, layer: str, layout: Layout | None, pool: str):
        self.sae, self.layer, self.layout, self.pool = sae, layer, layout, check_pool(pool)

    def _layout(self, tensor: torch.Tensor) -> Layout:
        if self.layout is not None:
            return self.layout
        if tensor.ndim == 2:
            return FLAT
        raise AudioDissectError(f"cannot tell which axis of layer {self.layer!r} (output shape "
                                f"{tuple(tensor.shape)}) holds its units, so its SAE cannot read it",
                                hint="declare the layer's layout (layouts={...}) when creating the target")

    def __call__(self, module: torch.nn.Module, inputs: object, output: object) -> object:
        tensor = _first_tensor(output)
        if tensor is None:
            raise AudioDissectError(f"layer {self.layer!r} returned no tensor for its SAE to read")
        layout = self._layout(tensor)
        batch, unit = layout.batch % tensor.ndim, layout.unit % tensor.ndim
        pooled = pool_output(tensor.detach(), layout, n_clips=tensor.shape[batch], pool=self.pool, layer=self.layer)
        pooled = pooled.to(self.sae.W_enc.dtype)
        seen = self.sae(pooled)                       # forward hooks on the SAE module run here
        clean = self.sae.take_clean()
        if clean is None or seen is clean:
            return None
        delta = self.sae.contribution(seen - clean, pooled)   # (B, U)
        shape = [1] * tensor.ndim
        shape[batch], shape[unit] = delta.shape[0], delta.shape[1]
        delta = (delta if batch < unit else delta.T).reshape(shape).to(tensor.dtype)
        changed = tensor + delta
        if isinstance(output, torch.Tensor):
            return changed
        return type(output)([changed, *output[1:]])


def _root_container(module: torch.nn.Module, *, create: bool) -> SaeContainer | None:
    if isinstance(module, (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)):
        raise AudioDissectError(f"cannot attach an SAE to a bare {type(module).__name__}: its forward would "
                                "call the SAE as one of its children",
                                hint="wrap it in a module of its own (class Wrapped(nn.Module) with the "
                                     "container as an attribute)")
    existing = getattr(module, ROOT, None)
    if existing is None and ROOT not in module._modules:
        if not create:
            return None
        container = SaeContainer()
        module.add_module(ROOT, container)
        return container
    if not isinstance(existing, SaeContainer):
        raise AudioDissectError(f"the model already has an attribute {ROOT!r}, where attached SAEs go",
                                hint="rename the model's own attribute")
    return existing


def attached_saes(module: torch.nn.Module) -> dict[str, SparseAutoencoder]:
    """The SAEs attached to `module`, by the layer each reads: ``{layer: SparseAutoencoder}``."""
    found = {}
    for _, sub in module.named_modules():
        if isinstance(sub, SparseAutoencoder) and sub.latent_host:
            found[sub.latent_host] = sub
    return found


def _node(parent: torch.nn.Module, name: str) -> torch.nn.Module | None:
    return parent._modules.get(name)


def _replace(parent: torch.nn.Module, name: str, new: torch.nn.Module | None) -> None:
    """Put `new` at `parent.name`, moving the children of what was there into it (None: a plain container)."""
    old = parent._modules.get(name)
    children = dict(old.named_children()) if old is not None else {}
    if new is None:
        if not children:
            del parent._modules[name]
            return
        new = SaeContainer()
    for child, sub in children.items():
        new.add_module(child, sub)
    parent.add_module(name, new)


def attach_sae(model: torch.nn.Module, layer: str, sae: SparseAutoencoder, *, pool: str = "mean",
               layouts: Mapping[str, str] | None = None) -> str:
    """Attach `sae` to `model` so that its latents are the units of module path ``sae.<layer>``.

    Parameters
    ----------
    model : torch.nn.Module
        Changed in place: it gains the submodule ``sae.<layer>`` and a forward
        hook on `layer` (:func:`detach_sae` removes both). An SAE attached to
        `layer` before is replaced.
    layer : str
        The module path the SAE reads (not itself a latent layer).
    sae : SparseAutoencoder
        Its ``d_in`` must be the layer's unit count. Moved to the model's device.
    pool : {"mean", "max", "first"}
        How the layer's output is pooled to the vectors the SAE reads (the pooling
        of the activations it was trained on).
    layouts : mapping of str to str, optional
        Declared layouts (the target's ``layouts``), for layers whose unit axis
        their type does not tell.

    Returns
    -------
    str
        The latents' module path, ``sae.<layer>``.

    Raises
    ------
    AudioDissectError
        For an unknown layer, a layer inside the SAEs' own tree, a model that is a
        bare container or already has an attribute ``sae``, a frame-wise layout,
        or a unit count that differs from the SAE's ``d_in``.
    """
    from ..record.unit_axis import UnitAxes

    if not isinstance(sae, SparseAutoencoder):
        raise AudioDissectError(f"expected a SparseAutoencoder, got {type(sae).__name__}",
                                hint="load one with audiodissect.sae.load_sae(folder)")
    modules = dict(model.named_modules())
    if layer == ROOT or layer.startswith(ROOT + "."):
        raise AudioDissectError(f"{layer!r} is an SAE's own layer; an SAE reads one of the model's layers")
    if layer not in modules or not layer:
        raise unknown_name_error("layer", layer, [n for n in modules if n and not n.startswith(ROOT + ".")])
    host = modules[layer]
    layout = UnitAxes(model, layouts).rule(layer)
    if layout is not None and layout.frames:
        raise AudioDissectError(f"layer {layer!r} holds every frame of every clip on one axis ({layout.text}); "
                                "an SAE on clip vectors cannot read it")
    for attr in ("out_features", "out_channels", "num_features"):
        units = getattr(host, attr, None)
        if isinstance(units, int) and not isinstance(host, SparseAutoencoder) and units != sae.d_in:
            raise AudioDissectError(f"layer {layer!r} has {units} units; the SAE reads {sae.d_in}")
        if isinstance(units, int):
            break
    if layer in attached_saes(model):
        detach_sae(model, layer)
    parent: torch.nn.Module = _root_container(model, create=True)  # type: ignore[assignment]
    *folders, last = layer.split(".")
    for name in folders:
        node = _node(parent, name)
        if node is None:
            node = SaeContainer()
            parent.add_module(name, node)
        parent = node
    try:
        device = next(p.device for p in model.parameters() if p is not sae.W_enc)
    except StopIteration:
        device = torch.device("cpu")
    sae.to(device)
    sae.latent_host = layer
    _replace(parent, last, sae)
    host.register_forward_hook(LatentHook(sae, layer, layout, pool))
    return latent_path(layer)


def detach_sae(model: torch.nn.Module, layer: str) -> SparseAutoencoder:
    """Remove the SAE attached to `layer` (its submodule and its hook); returns it.

    Raises
    ------
    AudioDissectError
        When no SAE is attached to `layer`.
    """
    saes = attached_saes(model)
    if layer not in saes:
        raise AudioDissectError(f"no SAE is attached to layer {layer!r}",
                                hint="attached: " + (", ".join(saes) or "none"))
    sae = saes[layer]
    host = dict(model.named_modules()).get(layer)
    if host is not None:
        for key, hook in list(host._forward_hooks.items()):
            if isinstance(hook, LatentHook) and hook.sae is sae:
                del host._forward_hooks[key]
    chain: list[tuple[torch.nn.Module, str]] = []
    parent: torch.nn.Module = model
    for name in [ROOT, *layer.split(".")]:
        chain.append((parent, name))
        parent = parent._modules[name]
    owner, last = chain[-1]
    _replace(owner, last, None)
    for owner, name in reversed(chain[:-1]):  # drop containers left empty
        node = owner._modules.get(name)
        if isinstance(node, SaeContainer) and not node._modules:
            del owner._modules[name]
    sae.latent_host = None
    return sae


def detach_all(model: torch.nn.Module) -> None:
    """Remove every attached SAE from `model`."""
    for layer in list(attached_saes(model)):
        detach_sae(model, layer)


__all__ = ["LatentHook", "ROOT", "SaeContainer", "attach_sae", "attached_saes", "detach_all", "detach_sae",
           "latent_layers", "latent_name", "latent_path"]
