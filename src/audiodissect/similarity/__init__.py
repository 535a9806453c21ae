"""Module A's similarity functions: score every (unit, concept) pair.

Each function maps ``evidence`` (N clips x C concepts) and ``activations``
(N clips x U units), numpy arrays or torch tensors, to scores (U x C, torch
float32, higher = better match), vectorised over units and processed in
chunks of units so memory stays bounded. Settings are keyword-only and
default to the published ones (inherited from CLIP-Dissect):

- :func:`cos`: cosine over clips;
- :func:`cos3`: cosine of centred, cubed columns;
- :func:`rank_reorder`: how little the concept reorders the unit's top 5% clips;
- :func:`wpmi`: weighted PMI over the unit's top 28 clips (a=2, lambda=0.6);
- :func:`soft_wpmi`: rank-weighted PMI over the top 100 clips (a=10, lambda=1).

Each has a robust variant (``cos_robust``, ``cos3_robust``, ...), invariant to
any per-concept rescaling of the evidence (``a_c p_c + b_c``, ``a_c > 0``) so
that no concept wins a layer's units for its evidence's level or spread; their
docstrings say what changed and why. :data:`FUNCTIONS` holds the published
functions, :data:`ROBUST_FUNCTIONS` the robust ones, :func:`get` finds either
by name and variant (default ``"robust"``); ``SIMILARITIES.register(name,
function, robust=other)`` adds one. Read a unit's best concepts with
:func:`top_concepts`; :func:`concept_collapse` says how much of a layer one
concept takes.
"""

import sys
import types
from typing import TYPE_CHECKING

from ..lazy import lazy_exports

#: Where each public name lives: imported on first use (PEP 562), so that the registry's names (help texts,
#: settings) cost no torch.
_EXPORTS = {
    "pmi_combine": "_pmi",
    "COLLAPSE_THRESHOLD": "collapse", "Collapse": "collapse", "concept_collapse": "collapse",
    "cos": "cos", "cos_robust": "cos",
    "cos3": "cos3", "cos3_robust": "cos3",
    "N_ORDERINGS": "rank_reorder", "rank_reorder": "rank_reorder", "rank_reorder_robust": "rank_reorder",
    "DEFAULT_VARIANT": "registry", "FUNCTIONS": "registry", "ROBUST_FUNCTIONS": "registry",
    "SIMILARITIES": "registry", "VARIANTS": "registry", "get": "registry",
    "soft_wpmi": "soft_wpmi", "soft_wpmi_log_likelihood": "soft_wpmi", "soft_wpmi_robust": "soft_wpmi",
    "TopConcepts": "top", "concept_names": "top", "top_concepts": "top",
    "wpmi": "wpmi", "wpmi_log_likelihood": "wpmi", "wpmi_robust": "wpmi",
}

if TYPE_CHECKING:
    from ._pmi import pmi_combine
    from .collapse import COLLAPSE_THRESHOLD, Collapse, concept_collapse
    from .cos import cos, cos_robust
    from .cos3 import cos3, cos3_robust
    from .rank_reorder import N_ORDERINGS, rank_reorder, rank_reorder_robust
    from .registry import DEFAULT_VARIANT, FUNCTIONS, ROBUST_FUNCTIONS, SIMILARITIES, VARIANTS, get
    from .soft_wpmi import soft_wpmi, soft_wpmi_log_likelihood, soft_wpmi_robust
    from .top import TopConcepts, concept_names, top_concepts
    from .wpmi import wpmi, wpmi_log_likelihood, wpmi_robust


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


class _Package(types.ModuleType):
    """This package, whose functions ``cos``, ``cos3``, ... share their names with their modules.

    The first import of a submodule (``audiodissect.similarity.cos``, by
    whoever imports it first) binds the module to the package's attribute of
    its name; here that binding takes the function the module defines
    instead, so that ``audiodissect.similarity.cos`` stays the function, as
    it was when this package imported every function up front.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "COLLAPSE_THRESHOLD",
    "Collapse",
    "DEFAULT_VARIANT",
    "FUNCTIONS",
    "N_ORDERINGS",
    "ROBUST_FUNCTIONS",
    "SIMILARITIES",
    "TopConcepts",
    "VARIANTS",
    "concept_collapse",
    "concept_names",
    "cos",
    "cos3",
    "cos3_robust",
    "cos_robust",
    "get",
    "pmi_combine",
    "rank_reorder",
    "rank_reorder_robust",
    "soft_wpmi",
    "soft_wpmi_log_likelihood",
    "soft_wpmi_robust",
    "top_concepts",
    "wpmi",
    "wpmi_log_likelihood",
    "wpmi_robust",
]
