"""Which axis of a hooked module's output holds its units, from the module's type or a declared layout.

In this order, for a layer at module path ``name``:

1. a layout declared for the layer: ``layouts={pattern: "BTC", ...}`` (an
   exact path wins over glob patterns, which are tried in the order given);
2. the module's ``channel_axis`` attribute (clips on axis 0);
3. the module's type:

   - convolutions, batch/instance/group norms, pooling, upsampling: units on
     axis 1;
   - Linear, Bilinear, LayerNorm, RMSNorm, embeddings: units on the last axis;
   - ``MultiheadAttention``, RNNs and ``nn.Transformer*`` blocks: units on the
     last axis, clips on axis 0 when ``batch_first`` else on axis 1;
   - modules that pass their input's layout on (activations such as ReLU and
     GELU, dropout, ``Identity``, padding): the layout of what reaches them,
     known when they sit in an ``nn.Sequential``: that of the nearest
     preceding sibling that is not such a module (or, for the first child,
     what reaches the Sequential itself);
   - ``nn.Sequential``: the layout of what its last child passes on;

4. otherwise a 2-D (B, U) output is unambiguous, and any other output is an
   error asking for a declared layout: units are never guessed from the last
   axis.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

import torch

from ..errors import AudioDissectError, closest_names
from ..layout import CHANNEL_FIRST, CHANNEL_LAST, FLAT, SEQUENCE_FIRST, Layout, parse_layout

nn = torch.nn

_CHANNEL_FIRST_TYPES = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
    nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm,
    nn.LocalResponseNorm, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.pooling._LPPoolNd,
    nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle,
)
_CHANNEL_LAST_TYPES = (nn.Linear, nn.Bilinear, nn.LayerNorm, nn.Embedding, nn.EmbeddingBag) + (
    (nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())
_SEQUENCE_TYPES = (nn.MultiheadAttention, nn.RNNBase, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
                   nn.TransformerEncoder, nn.TransformerDecoder, nn.Transformer)
_PASS_ON_MODULES = ("torch.nn.modules.activation", "torch.nn.modules.dropout", "torch.nn.modules.padding",
                    "transformers.activations")


def passes_layout_on(module: nn.Module) -> bool:
    """True for modules whose output keeps their input's layout (activations, dropout, Identity, padding)."""
    if isinstance(module, nn.MultiheadAttention):
        return False
    return isinstance(module, nn.Identity) or type(module).__module__ in _PASS_ON_MODULES


def _batch_first(module: nn.Module) -> bool:
    flag = getattr(module, "batch_first", None)
    if flag is None:
        attention = next((m for m in module.modules() if isinstance(m, nn.MultiheadAttention)), None)
        flag = attention.batch_first if attention is not None else False
    return bool(flag)


def type_layout(module: nn.Module) -> Layout | None:
    """The layout a module's type implies (rules 2 and 3 without the Sequential context), or None."""
    axis = getattr(module, "channel_axis", None)
    if axis is not None:
        return Layout(batch=0, unit=int(axis), text=f"channel_axis={int(axis)}")
    if isinstance(module, _CHANNEL_FIRST_TYPES):
        return CHANNEL_FIRST
    if isinstance(module, _CHANNEL_LAST_TYPES):
        return CHANNEL_LAST
    if isinstance(module, _SEQUENCE_TYPES):
        return CHANNEL_LAST if _batch_first(module) else SEQUENCE_FIRST
    return None


class UnitAxes:
    """Resolves each layer's :class:`~audiodissect.layout.Layout` in one model.

    Parameters
    ----------
    model : torch.nn.Module
    layouts : mapping of str to str, optional
        Declared layouts by layer path or glob pattern (see
        :func:`~audiodissect.layout.parse_layout`). Each pattern must
        match a module path of `model`.
    """

    def __init__(self, model: nn.Module, layouts: Mapping[str, str] | None = None):
        self.modules = dict(model.named_modules())
        self.declared = {pattern: parse_layout(text, layer=pattern) for pattern, text in (layouts or {}).items()}
        names = [n for n in self.modules if n]
        for pattern in self.declared:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                close = closest_names(pattern, names)
                raise AudioDissectError(f"a layout is declared for {pattern!r}, which matches no module path",
                                        hint="closest: " + ", ".join(close) if close else None)

    def rule(self, name: str) -> Layout | None:
        """The layout of layer `name` from a declaration, its attribute or its type; None when unknown."""
        if name in self.declared:
            return self.declared[name]
        for pattern, layout in self.declared.items():
            if fnmatch.fnmatchcase(name, pattern):
                return layout
        module = self.modules[name]
        found = type_layout(module)
        if found is not None:
            return found
        if isinstance(module, nn.Sequential):
            return self._passed_on(name, len(module) - 1)
        if passes_layout_on(module):
            return self._reaching(name)
        return None

    def _passed_on(self, sequential: str, index: int) -> Layout | None:
        """Layout of what children 0..`index` of a Sequential pass on."""
        children = list(self.modules[sequential].named_children())
        for child, module in reversed(children[:index + 1]):
            if not passes_layout_on(module):
                return self.rule(f"{sequential}.{child}" if sequential else child)
        return self._reaching(sequential) if sequential else None

    def _reaching(self, name: str) -> Layout | None:
        """Layout of what reaches module `name`, known when its parent is a Sequential."""
        if not name:
            return None
        parent, _, child = name.rpartition(".")
        container = self.modules[parent]
        if not isinstance(container, nn.Sequential):
            return None
        index = [n for n, _ in container.named_children()].index(child)
        return self._passed_on(parent, index - 1) if index else self._reaching(parent)

    def layout(self, name: str, output: torch.Tensor) -> Layout:
        """The layout of layer `name`'s `output`: its rule, or (B, U) for a 2-D output.

        Raises
        ------
        AudioDissectError
            When no rule applies and the output has more than two axes.
        """
        found = self.rule(name)
        if found is not None:
            return found
        if output.ndim == 2:
            return FLAT
        kind = type(self.modules[name]).__name__
        letters = "".join("BCTHWD"[i] if i < 6 else "X" for i in range(output.ndim))
        raise AudioDissectError(
            f"cannot tell which axis of layer {name!r} ({kind}, output shape {tuple(output.shape)}) holds its units",
            hint=f"declare its layout, e.g. layouts={{{name!r}: {letters!r}}} (B clips, C units, other letters "
                 "pooled; (BT) for frames of every clip on one axis), or give the module a channel_axis attribute")


def channel_axis(module: nn.Module, output: torch.Tensor) -> int:
    """The axis of `output` holding `module`'s units, from the module alone (clips on axis 0).

    Uses the ``channel_axis`` attribute or the module's type (see the module
    docstring; an ``nn.Sequential`` is resolved through its children); a 2-D
    output has its units on axis 1.

    Raises
    ------
    AudioDissectError
        When the type does not tell and the output has more than two axes.
    """
    layout = UnitAxes(module).layout("", output)
    if layout.batch % output.ndim != 0 or layout.frames:
        raise AudioDissectError(f"{type(module).__name__} keeps its clips on axis {layout.batch}, not 0",
                                hint="use the recording layouts for this module")
    return layout.unit % output.ndim
