"""The similarity functions by name, each published and in its robust variant."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import torch

from ..errors import unknown_name_error
from ..registry import Registry
from .cos import cos, cos_robust
from .cos3 import cos3, cos3_robust
from .rank_reorder import rank_reorder, rank_reorder_robust
from .soft_wpmi import soft_wpmi, soft_wpmi_robust
from .wpmi import wpmi, wpmi_robust

SimilarityFunction = Callable[..., torch.Tensor]

#: The similarity functions by name (case and ``-``/``_`` do not matter); each maps
#: (evidence (N, C), activations (N, U), **settings) to scores (U, C), higher = better match.
#: An entry's factory is the function as published (CLIP-Dissect's settings, AND's procedure),
#: its ``robust`` meta the variant that no per-concept rescaling of the evidence
#: (``a_c p_c + b_c``, ``a_c > 0``) can change. ``SIMILARITIES.register(name, function,
#: robust=other)`` adds one (without ``robust``, the function serves both variants).
SIMILARITIES: Registry[torch.Tensor] = Registry("similarity function",
                                                fold=lambda name: name.lower().replace("-", "_"))
for _published, _robust in ((cos, cos_robust), (cos3, cos3_robust), (rank_reorder, rank_reorder_robust),
                            (wpmi, wpmi_robust), (soft_wpmi, soft_wpmi_robust)):
    SIMILARITIES.register(_published.__name__, _published, robust=_robust)
del _published, _robust

#: Every similarity function by its name, as published: a read-only, live view of :data:`SIMILARITIES`.
FUNCTIONS: Mapping[str, SimilarityFunction] = SIMILARITIES.factories

#: The variants: ``"robust"`` (each entry's robust function) and ``"paper"`` (as published).
VARIANTS = ("robust", "paper")
DEFAULT_VARIANT = "robust"


class _Robust(Mapping):
    """A live view of the robust variant of every registered similarity function."""

    def __getitem__(self, name: str) -> SimilarityFunction:
        entry = SIMILARITIES.parse(name).entry
        return entry.meta.get("robust", entry.factory)

    def __iter__(self):
        return iter(SIMILARITIES.names())

    def __len__(self) -> int:
        return len(SIMILARITIES.names())


#: The robust variant of every similarity function, by name; each function's docstring says what
#: differs from the published one and why.
ROBUST_FUNCTIONS: Mapping[str, SimilarityFunction] = _Robust()


def get(name: str, *, variant: str = DEFAULT_VARIANT) -> SimilarityFunction:
    """The similarity function called `name` in `variant` (case and ``-``/``_`` do not matter).

    Parameters
    ----------
    name : str
        One of ``cos``, ``cos3``, ``rank_reorder``, ``wpmi``, ``soft_wpmi``, or a registered name.
    variant : {"robust", "paper"}
        ``"robust"``: invariant to per-concept rescaling of the evidence; ``"paper"``: as published.

    Raises
    ------
    AudioDissectError
        For an unknown name or variant; the message lists the closest ones.
    """
    if str(variant).strip().lower() not in VARIANTS:
        raise unknown_name_error("similarity variant", str(variant), VARIANTS)
    entry = SIMILARITIES.parse(name).entry
    return entry.factory if variant == "paper" else entry.meta.get("robust", entry.factory)


__all__ = ["DEFAULT_VARIANT", "FUNCTIONS", "ROBUST_FUNCTIONS", "SIMILARITIES", "VARIANTS", "SimilarityFunction", "get"]
