"""The similarity functions by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from ..registry import Registry
from .cos import cos
from .cos3 import cos3
from .rank_reorder import rank_reorder
from .soft_wpmi import soft_wpmi
from .wpmi import wpmi

SimilarityFunction = Callable[..., torch.Tensor]

#: The similarity functions by name (case and ``-``/``_`` do not matter); each
#: maps (evidence (N, C), activations (N, U), **settings) to scores (U, C),
#: higher = better match. ``SIMILARITIES.register(name, function)`` adds one.
SIMILARITIES: Registry[torch.Tensor] = Registry("similarity function",
                                                fold=lambda name: name.lower().replace("-", "_"))
for _function in (cos, cos3, rank_reorder, wpmi, soft_wpmi):
    SIMILARITIES.register(_function.__name__, _function)
del _function

#: Every similarity function by its name: a read-only, live view of :data:`SIMILARITIES`.
FUNCTIONS: Mapping[str, SimilarityFunction] = SIMILARITIES.factories


def get(name: str) -> SimilarityFunction:
    """The similarity function called `name` (case and ``-``/``_`` do not matter).

    Raises
    ------
    AudioDissectError
        For an unknown name; the message lists the closest names.
    """
    return SIMILARITIES.parse(name).entry.factory
