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

Find one by name with :func:`get` or in :data:`FUNCTIONS`, add one with
``SIMILARITIES.register(name, function)``; read a unit's best
concepts with :func:`top_concepts`.
"""

from ._pmi import pmi_combine
from .cos import cos
from .cos3 import cos3
from .rank_reorder import N_ORDERINGS, rank_reorder
from .registry import FUNCTIONS, SIMILARITIES, get
from .soft_wpmi import soft_wpmi, soft_wpmi_log_likelihood
from .top import TopConcepts, concept_names, top_concepts
from .wpmi import wpmi, wpmi_log_likelihood

__all__ = [
    "FUNCTIONS",
    "N_ORDERINGS",
    "SIMILARITIES",
    "TopConcepts",
    "concept_names",
    "cos",
    "cos3",
    "get",
    "pmi_combine",
    "rank_reorder",
    "soft_wpmi",
    "soft_wpmi_log_likelihood",
    "top_concepts",
    "wpmi",
    "wpmi_log_likelihood",
]
