"""The best-scoring concepts of each unit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from ..errors import AudioDissectError
from ._inputs import check_int


class TopConcepts(NamedTuple):
    """The `k` best concepts of each unit, best first."""

    indices: torch.Tensor
    """shape (U, k), int64: concept indices."""
    values: torch.Tensor
    """shape (U, k), float32: their scores."""


def top_concepts(scores, concepts: Sequence[str], *, k: int = 5) -> TopConcepts:
    """The `k` highest-scoring concepts of every unit.

    Parameters
    ----------
    scores : array_like or torch.Tensor, shape (U, C)
        Output of a similarity function.
    concepts : sequence of str, length C
        The concept names, in column order (checked against the scores).
    k : int, default 5
        Concepts per unit; at most C are returned.

    Returns
    -------
    TopConcepts
        ``(indices, values)``, both (U, min(k, C)), best first; equal scores
        keep the order of the concept list.
    """
    k = check_int(k, "k")
    s = torch.as_tensor(scores)
    if s.ndim != 2:
        raise AudioDissectError(f"scores must be (units, concepts), got shape {tuple(s.shape)}")
    if s.shape[1] != len(concepts):
        raise AudioDissectError(f"scores have {s.shape[1]} concept columns but {len(concepts)} "
                                "concept names were given")
    if torch.isnan(s).any():
        raise AudioDissectError("scores hold NaN values")
    values, indices = torch.sort(s, dim=1, descending=True, stable=True)
    k = min(k, s.shape[1])
    return TopConcepts(indices[:, :k].contiguous(), values[:, :k].to(torch.float32).contiguous())


def concept_names(indices, concepts: Sequence[str]) -> list[list[str]]:
    """Concept names for an index array of shape (U, k), as U lists of k names."""
    idx = torch.as_tensor(indices)
    if idx.ndim != 2:
        raise AudioDissectError(f"indices must be (units, k), got shape {tuple(idx.shape)}")
    return [[concepts[j] for j in row] for row in idx.tolist()]
