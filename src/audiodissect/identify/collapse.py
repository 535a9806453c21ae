"""The identify stage's collapse check: which (layer, method, similarity) names too much of a layer after one concept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..records import ConceptRankingBlock
from ..similarity import concept_collapse


def layer_collapses(blocks: Sequence[ConceptRankingBlock], concepts: Sequence[str], *,
                    threshold: float) -> list[dict[str, Any]]:
    """The collapsed (layer, method, similarity) groups of ranking blocks, from each unit's top-1 concept.

    Parameters
    ----------
    blocks : sequence of ConceptRankingBlock
        Each one (layer, method, similarity) over its units.
    concepts : sequence of str
        The run's concept set (the top-1 concepts are looked up in it).
    threshold : float
        Share of a layer's units above which one concept is a collapse
        (:func:`audiodissect.similarity.concept_collapse`).

    Returns
    -------
    list of dict
        ``layer``, ``method``, ``similarity``, ``concept``, ``share`` and ``units`` of each
        collapsed group, in the blocks' order.
    """
    index = {c: i for i, c in enumerate(concepts)}
    out = []
    for block in blocks:
        if not len(block) or not block.order.shape[1]:
            continue
        top1 = np.array([index[c] for c in block.concepts], dtype=np.int64)[block.order[:, 0]]
        found = concept_collapse(top1, concepts=list(concepts), threshold=threshold)
        if found.collapsed:
            out.append({"layer": block.layer, "method": block.method, "similarity": block.similarity,
                        "concept": found.name, "share": round(found.share, 4), "units": found.units})
    return out
