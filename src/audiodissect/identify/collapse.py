"""The identify stage's collapse check: which (layer, method, similarity) names too much of a layer after one concept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..records import ConceptRanking
from ..similarity import concept_collapse


def layer_collapses(records: Sequence[ConceptRanking], concepts: Sequence[str], *,
                    threshold: float) -> list[dict[str, Any]]:
    """The collapsed (layer, method, similarity) groups of `records`, from each unit's top-1 concept.

    Parameters
    ----------
    records : sequence of ConceptRanking
    concepts : sequence of str
        The run's concept set (the top-1 concepts are looked up in it).
    threshold : float
        Share of a layer's units above which one concept is a collapse
        (:func:`audiodissect.similarity.concept_collapse`).

    Returns
    -------
    list of dict
        ``layer``, ``method``, ``similarity``, ``concept``, ``share`` and ``units`` of each
        collapsed group, in the records' order.
    """
    index = {c: i for i, c in enumerate(concepts)}
    groups: dict[tuple[str, str, str | None], list[int]] = {}
    for r in records:
        if r.concepts:
            groups.setdefault((r.layer, r.method, r.similarity), []).append(index[r.concepts[0]])
    out = []
    for (layer, method, similarity), top1 in groups.items():
        found = concept_collapse(np.array(top1, dtype=np.int64), concepts=list(concepts), threshold=threshold)
        if found.collapsed:
            out.append({"layer": layer, "method": method, "similarity": similarity, "concept": found.name,
                        "share": round(found.share, 4), "units": found.units})
    return out
