"""soft_wpmi: WPMI where each top clip counts with a weight falling with its rank (published and robust)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ._inputs import check_int, check_number, column_groups, prepare, unit_chunks
from ._memo import evidence_terms
from ._pmi import clip_prior_pmi, concept_probabilities, grouped_pmi
from ._ranks import evidence_normal_scores
from .wpmi import MIN_PROB

#: Largest (top clips x clips x concepts) table of log terms computed up front;
#: above it each unit's terms are computed in its chunk instead.
TABLE_ELEMENTS = 2**24


#: Weight of the unit's most-activating clip.
W_FIRST = 0.998
#: Total fall of the weight over the top clips: ``w_i = W_FIRST - W_DROP * i / k``.
W_DROP = 0.028


def rank_weights(k: int, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """Weights of the top-k clips in rank order, as published: ``w_i = 0.998 - 0.028 * i / k``.

    The schedule of the original code (CLIP-Dissect, then AND): it starts at
    0.998 for the best clip and falls by ``0.028 / k`` per rank, so the last
    of the k clips gets ``0.998 - 0.028 (k - 1) / k`` (0.97028 for k = 100),
    not 0.97.

    Parameters
    ----------
    k : int
        Number of top clips (at least 1).
    dtype : torch.dtype
    device : torch.device, optional

    Returns
    -------
    torch.Tensor, shape (k,)
        Computed in float64, returned in `dtype`.
    """
    k = check_int(k, "k")
    i = torch.arange(k, dtype=torch.float64, device=device)
    return (W_FIRST - W_DROP * i / k).to(dtype)


def soft_wpmi_log_likelihood(evidence, activations, *, a: float = 10.0, k: int = 100,
                             chunk_size: int | None = None, groups: Sequence[int] | None = None) -> torch.Tensor:
    """``log p(c | u)`` of soft-WPMI for every unit, before the prior is subtracted.

    ``log p(c | u) = sum_i log(1 + w_i (Q[clip_i, c] - 1) + 1e-7)`` over the
    unit's ``min(k, N)`` top clips in rank order, with the weights of
    :func:`rank_weights` for ``min(k, N)`` clips (as the original code, which
    lowers k to N before building its weights); ``Q = softmax(a * evidence)``
    over concepts, over each group's with `groups` (as :func:`soft_wpmi`).

    Returns
    -------
    torch.Tensor, shape (U, C)
        In the working dtype (float32, or float64 for float64 input).
    """
    a = check_number(a, "a")
    k = check_int(k, "k")
    ev, act = prepare(evidence, activations)
    return _log_likelihood([_log_terms(part, a, k) for part in column_groups(ev, groups)], act, chunk_size)


class _LogTerms:
    """The terms ``log(1 + w_i (Q[clip, c] - 1) + 1e-7)`` of soft-WPMI for evidence `ev` (N, C): they depend
    only on (rank i, clip, concept), so when that (k, N, C) table is small (:data:`TABLE_ELEMENTS`) it is
    computed once, for every unit's likelihood and for the robust variant's clip prior."""

    def __init__(self, ev: torch.Tensor, a: float, k: int):
        self.n, self.c = ev.shape
        self.k = min(k, self.n)
        self.q_minus_1 = concept_probabilities(ev, a) - 1.0                            # (N, C)
        self.w = rank_weights(self.k, dtype=ev.dtype, device=ev.device)                 # (k,)
        self.table = None                                                               # (k, N, C)
        if self.k * self.n * self.c <= TABLE_ELEMENTS:
            self.table = self.ranks(0, self.k)

    def ranks(self, start: int, stop: int) -> torch.Tensor:
        """The terms of ranks ``start`` to ``stop``, shape (stop - start, N, C)."""
        if self.table is not None:
            return self.table[start:stop]
        return (self.w[start:stop].view(-1, 1, 1) * self.q_minus_1).add_(1.0 + MIN_PROB).log_()

    @functools.cached_property
    def clip_prior(self) -> torch.Tensor:
        """``log p(c)`` (C,) of a unit whose top clips are drawn at random: each rank's term averaged over
        clips (made once per terms, so once for equal evidence, as the terms are)."""
        prior = torch.zeros(self.c, dtype=self.q_minus_1.dtype, device=self.q_minus_1.device)
        step = max(1, TABLE_ELEMENTS // (self.n * self.c))                    # ranks per block
        for start in range(0, self.k, step):
            prior += self.ranks(start, start + step).mean(dim=1).sum(dim=0)
        return prior


def _log_terms(evidence: torch.Tensor, a: float, k: int) -> _LogTerms:
    """The :class:`_LogTerms` of `evidence` (N, C), made once for equal evidence and settings."""
    return evidence_terms("soft_wpmi terms", evidence, lambda: _LogTerms(evidence, a, k), a, k)


def _log_likelihood(groups: list[_LogTerms], act, chunk_size: int | None) -> torch.Tensor:
    """``log p(c | u)`` (U, C) of every unit of `act` (activation columns), from its top clips' terms: each
    group's columns side by side, the top clips found once."""
    n, k = groups[0].n, groups[0].k
    cond = torch.empty((act.shape[1], sum(t.c for t in groups)), dtype=groups[0].q_minus_1.dtype,
                       device=act.device)
    offsets = torch.arange(k, device=act.device) * n  # row of (rank i, clip 0) in a table
    for sl in unit_chunks(act.shape[1], chunk_size, per_unit=max(n, k * max(t.c for t in groups))):
        ids = torch.topk(act[:, sl].T, k, dim=1).indices  # (m, k), highest first
        cond[sl] = torch.cat([_group_likelihood(terms, ids, offsets) for terms in groups], dim=1)
    return cond


def _group_likelihood(terms: _LogTerms, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """``log p(c | u)`` (m, C_g) of one group's concepts for units whose top clips are `ids` (m, k)."""
    if terms.table is not None:
        return F.embedding_bag(ids + offsets, terms.table.reshape(terms.k * terms.n, terms.c), mode="sum")
    gathered = terms.q_minus_1[ids].mul_(terms.w.unsqueeze(1)).add_(1.0 + MIN_PROB).log_()  # (m, k, C_g)
    return gathered.sum(dim=1)


def soft_wpmi(evidence, activations, *, a: float = 10.0, k: int = 100, lam: float = 1.0,
              chunk_size: int | None = None, groups: Sequence[int] | None = None) -> torch.Tensor:
    """Soft weighted PMI of every (unit, concept) pair.

    As :func:`~audiodissect.similarity.wpmi`, but clip ``i`` of the unit's top
    `k` (in rank order) enters as a soft event of probability ``w_i``:
    ``log p(c | u) = sum_i log(1 + w_i (Q[clip_i, c] - 1) + 1e-7)`` with
    ``Q = softmax(a * evidence)`` over concepts and the published weights
    ``w_i = 0.998 - 0.028 * i / k`` (:func:`rank_weights`); ``log p(c) = logsumexp over units of
    log p(c | u) - log U``; score ``= log p(c | u) - lam * log p(c)``.

    Parameters
    ----------
    evidence : array_like or torch.Tensor, shape (N, C)
        Evidence of each concept in each clip.
    activations : array_like or torch.Tensor, shape (N, U)
        Activation of each unit on each clip.
    a : float, default 10
        Softmax temperature factor.
    k : int, default 100
        Top clips per unit (all clips if N < k).
    lam : float, default 1
        Weight of the concept prior ``log p(c)``.
    chunk_size : int, optional
        Units processed at once (default: bounded by memory).
    groups : sequence of int, optional
        Several evidence sources side by side, as :func:`~audiodissect.similarity.wpmi`.

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores; higher means a better match.
    """
    lam = check_number(lam, "lam")
    cond = soft_wpmi_log_likelihood(evidence, activations, a=a, k=k, chunk_size=chunk_size, groups=groups)
    return grouped_pmi(cond, groups, lam=lam)


def soft_wpmi_robust(evidence, activations, *, a: float = 10.0, k: int = 100, lam: float = 1.0,
                     chunk_size: int | None = None, groups: Sequence[int] | None = None) -> torch.Tensor:
    """Soft-WPMI on normal-scored evidence with the concept prior from random clips: the robust :func:`soft_wpmi`.

    ``Z`` = each evidence column's normal scores over clips, ``Q = softmax(a *
    Z)`` over concepts; ``log p(c | u) = sum_i log(1 + w_i (Q[clip_i, c] - 1)
    + 1e-7)`` over the unit's ``k' = min(k, N)`` top clips with the published
    weights (:func:`rank_weights`); ``log p(c) = sum_i mean over all clips j of
    log(1 + w_i (Q[j, c] - 1) + 1e-7)``, the expected ``log p(c | u)`` of a
    unit whose top clips are drawn at random; the score is
    ``log p(c | u) - lam * log p(c)``.

    What it changes and why:

    * **normal scores before the softmax**, as in
      :func:`~audiodissect.similarity.wpmi_robust`: a per-concept offset or
      scale of the evidence no longer shifts probability between concepts on
      every clip. This makes the score invariant to any increasing transform
      of a concept's evidence (per-concept ``a_c p_c + b_c``, ``a_c > 0``,
      included) and of a unit's activations;
    * **prior from random clips, not from the other units.** Published,
      ``log p(c)`` is the log-mean-exp of ``log p(c | u)`` over the layer's
      units, so with ``lam = 1`` the score is ``log U`` minus how far the unit
      falls behind the concept's best units. A concept no unit stands out on
      (one that no clip's sharp softmax favours, or a constant column) has
      about the same ``log p(c | u)`` for every unit and scores about 0 for
      all of them, while a unit's own concept scores below 0 as soon as the
      unit trails its best units by more than ``log U``: that concept named
      most of a layer (on the soundbank, 63 % of the demo CNN's ``fc`` units
      "cello"). Against random clips a concept scores 0 only when the unit's
      top clips carry it no more than random clips do, and more when they
      carry it more, whatever the other units are. (The log of the base
      rate, ``log mean Q``, would not do: it exceeds the mean of the logs by
      Jensen's gap, which is 0 only for a constant column, and would hand the
      constant column the win again.)

    Parameters
    ----------
    evidence : array_like or torch.Tensor, shape (N, C)
        Evidence of each concept in each clip.
    activations : array_like or torch.Tensor, shape (N, U)
        Activation of each unit on each clip.
    a : float, default 10
        Softmax factor, applied to normal scores (the published setting).
    k : int, default 100
        Top clips per unit (all clips if N < k).
    lam : float, default 1
        Weight of the concept prior.
    chunk_size : int, optional
        Units processed at once (default: bounded by memory).
    groups : sequence of int, optional
        As :func:`soft_wpmi`.

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores; higher means a better match.
    """
    lam = check_number(lam, "lam")
    a = check_number(a, "a")
    k = check_int(k, "k")
    ev, act = prepare(evidence, activations)
    # the terms of the units' likelihoods and of the clip prior, per group
    groups_terms = [_log_terms(part, a, k) for part in column_groups(evidence_normal_scores(ev), groups)]
    cond = _log_likelihood(groups_terms, act, chunk_size)
    return torch.cat([clip_prior_pmi(part, terms.clip_prior, lam=lam)
                      for part, terms in zip(cond.split([t.c for t in groups_terms], dim=1), groups_terms)], dim=1)
