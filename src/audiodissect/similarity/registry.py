"""The similarity functions by name."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

import torch

from ..errors import unknown_name_error
from .cos import cos
from .cos3 import cos3
from .rank_reorder import rank_reorder
from .soft_wpmi import soft_wpmi
from .wpmi import wpmi

SimilarityFunction = Callable[..., torch.Tensor]

#: Every similarity function by its name; each maps (evidence (N, C),
#: activations (N, U), **settings) to scores (U, C), higher = better match.
FUNCTIONS: MappingProxyType[str, SimilarityFunction] = MappingProxyType({
    "cos": cos,
    "cos3": cos3,
    "rank_reorder": rank_reorder,
    "wpmi": wpmi,
    "soft_wpmi": soft_wpmi,
})


def get(name: str) -> SimilarityFunction:
    """The similarity function called `name` (case and ``-``/``_`` do not matter).

    Raises
    ------
    AudioDissectError
        For an unknown name; the message lists the closest names.
    """
    key = str(name).strip().lower().replace("-", "_")
    try:
        return FUNCTIONS[key]
    except KeyError:
        raise unknown_name_error("similarity function", str(name), FUNCTIONS) from None
