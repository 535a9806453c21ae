"""Pieces shared by wpmi and soft_wpmi: concept probabilities and the PMI combination."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import AudioDissectError
from ._inputs import column_groups


def concept_probabilities(evidence: torch.Tensor, a: float) -> torch.Tensor:
    """Q = softmax(a * evidence) over concepts, shape (N, C)."""
    return torch.softmax(a * evidence, dim=1)


def grouped_pmi(log_p_c_given_u: torch.Tensor, groups: Sequence[int] | None, *, lam: float) -> torch.Tensor:
    """:func:`pmi_combine` of each group of columns apart (groups: column counts, or None for one group),
    shape (U, C), float32."""
    if groups is None:
        return pmi_combine(log_p_c_given_u, lam=lam)
    return torch.cat([pmi_combine(part, lam=lam) for part in column_groups(log_p_c_given_u, groups)], dim=1)


def pmi_combine(log_p_c_given_u, *, lam: float) -> torch.Tensor:
    """Weighted PMI from the per-unit log-likelihoods of all units of a layer.

    ``log p(c) = logsumexp_u log p(c | u) - log U`` and
    ``score = log p(c | u) - lam * log p(c)``.

    Computed in float64: when one unit dominates a concept (soft-WPMI on a
    small layer), the score is ``log U`` minus a term of order 1e-5 that a
    float32 subtraction of log-likelihoods in the hundreds would round away,
    leaving near-ties to rounding.

    This is the only step that needs every unit at once: when units are scored
    in shards, compute ``log p(c | u)`` per shard, concatenate, then call this.

    Parameters
    ----------
    log_p_c_given_u : torch.Tensor, shape (U, C)
        ``log p(c | u)`` of every unit of the layer.
    lam : float
        Weight of the concept prior.

    Returns
    -------
    torch.Tensor, shape (U, C), float32
    """
    cond = torch.as_tensor(log_p_c_given_u)
    if cond.ndim != 2 or 0 in cond.shape:
        raise AudioDissectError(f"log p(c|u) must be a non-empty (units, concepts) array, "
                                f"got shape {tuple(cond.shape)}")
    cond = cond.to(torch.float64)
    log_p_c = torch.logsumexp(cond, dim=0) - math.log(cond.shape[0])
    return (cond - lam * log_p_c).to(torch.float32)


def clip_prior_pmi(log_p_c_given_u: torch.Tensor, log_p_c: torch.Tensor, *, lam: float) -> torch.Tensor:
    """``log p(c | u) - lam * log p(c)`` with a prior from the clips, shape (U, C), float32.

    :func:`~audiodissect.similarity.soft_wpmi_robust` takes ``log p(c)`` from
    the probing set's clips (the same for every unit), so nothing needs the
    other units of the layer and a concept's score does not depend on which
    units are scored with it.

    Parameters
    ----------
    log_p_c_given_u : torch.Tensor, shape (U, C)
    log_p_c : torch.Tensor, shape (C,)
    lam : float
    """
    cond = log_p_c_given_u.to(torch.float64)
    return (cond - lam * log_p_c.to(device=cond.device, dtype=torch.float64)).to(torch.float32)
