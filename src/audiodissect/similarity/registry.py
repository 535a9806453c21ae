"""The similarity functions by name, each published and in its robust variant.

Importing this module imports no function (nor torch): each built-in one is a
:class:`~audiodissect.registry.Lazy` entry, imported when first asked for, so
that settings and help texts can list the names cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..errors import unknown_name_error
from ..registry import Lazy, Registry

if TYPE_CHECKING:
    import torch

    # the modules of BUILT_IN, imported by its lazy entries; written here also for the stage runner's code
    # versions, which follow the imports in the source (tests/test_registry.py checks that they match)
    from . import cos, cos3, rank_reorder, soft_wpmi, wpmi  # noqa: F401

SimilarityFunction = Callable[..., "torch.Tensor"]

#: The built-in similarity functions: ``name`` is defined in the module ``.name`` of this package, beside
#: its robust variant ``name_robust``.
BUILT_IN = ("cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi")

#: The similarity functions by name (case and ``-``/``_`` do not matter); each maps
#: (evidence (N, C), activations (N, U), **settings) to scores (U, C), higher = better match.
#: An entry's factory is the function as published (CLIP-Dissect's settings, AND's procedure),
#: its ``robust`` meta the variant that no per-concept rescaling of the evidence
#: (``a_c p_c + b_c``, ``a_c > 0``) can change. ``SIMILARITIES.register(name, function,
#: robust=other)`` adds one (without ``robust``, the function serves both variants).
SIMILARITIES: Registry[torch.Tensor] = Registry("similarity function",
                                                fold=lambda name: name.lower().replace("-", "_"))
for _name in BUILT_IN:
    SIMILARITIES.register(_name, Lazy(f"{__package__}.{_name}:{_name}"),
                          robust=Lazy(f"{__package__}.{_name}:{_name}_robust"))
del _name

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


__all__ = ["BUILT_IN", "DEFAULT_VARIANT", "FUNCTIONS", "ROBUST_FUNCTIONS", "SIMILARITIES", "VARIANTS", "SimilarityFunction", "get"]
