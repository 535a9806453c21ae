"""The similarity functions by name, in two variants: robust (the default) and paper."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import torch

from ..errors import unknown_name_error
from .cos import cos, cos_robust
from .cos3 import cos3, cos3_robust
from .rank_reorder import rank_reorder, rank_reorder_robust
from .soft_wpmi import soft_wpmi, soft_wpmi_robust
from .wpmi import wpmi, wpmi_robust

SimilarityFunction = Callable[..., torch.Tensor]

#: Every similarity function by its name, as published (CLIP-Dissect's settings, AND's
#: procedure); each maps (evidence (N, C), activations (N, U), **settings) to scores (U, C),
#: higher = better match.
FUNCTIONS: MappingProxyType[str, SimilarityFunction] = MappingProxyType({
    "cos": cos,
    "cos3": cos3,
    "rank_reorder": rank_reorder,
    "wpmi": wpmi,
    "soft_wpmi": soft_wpmi,
})

#: The same names, each a variant that no per-concept rescaling of the evidence
#: (``a_c p_c + b_c``, ``a_c > 0``) can change; each function's docstring says what
#: differs from the published one and why.
ROBUST_FUNCTIONS: MappingProxyType[str, SimilarityFunction] = MappingProxyType({
    "cos": cos_robust,
    "cos3": cos3_robust,
    "rank_reorder": rank_reorder_robust,
    "wpmi": wpmi_robust,
    "soft_wpmi": soft_wpmi_robust,
})

#: The variants: ``"robust"`` (:data:`ROBUST_FUNCTIONS`) and ``"paper"`` (:data:`FUNCTIONS`).
VARIANTS: Mapping[str, Mapping[str, SimilarityFunction]] = MappingProxyType({
    "robust": ROBUST_FUNCTIONS,
    "paper": FUNCTIONS,
})
DEFAULT_VARIANT = "robust"


def get(name: str, *, variant: str = DEFAULT_VARIANT) -> SimilarityFunction:
    """The similarity function called `name` in `variant` (case and ``-``/``_`` do not matter).

    Parameters
    ----------
    name : str
        One of ``cos``, ``cos3``, ``rank_reorder``, ``wpmi``, ``soft_wpmi``.
    variant : {"robust", "paper"}
        ``"robust"``: invariant to per-concept rescaling of the evidence;
        ``"paper"``: as published.

    Raises
    ------
    AudioDissectError
        For an unknown name or variant; the message lists the closest ones.
    """
    functions = VARIANTS.get(str(variant).strip().lower())
    if functions is None:
        raise unknown_name_error("similarity variant", str(variant), VARIANTS)
    key = str(name).strip().lower().replace("-", "_")
    try:
        return functions[key]
    except KeyError:
        raise unknown_name_error("similarity function", str(name), functions) from None
