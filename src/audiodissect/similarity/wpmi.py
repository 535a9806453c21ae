"""wpmi: weighted pointwise mutual information between a unit's top clips and a concept (published and robust)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ._inputs import check_int, check_number, column_groups, prepare, unit_chunks
from ._memo import evidence_terms
from ._pmi import concept_probabilities, grouped_pmi
from ._ranks import evidence_normal_scores

#: Added to probabilities before the log (the published setting).
MIN_PROB = 1e-7


def wpmi_log_likelihood(evidence, activations, *, a: float = 2.0, k: int = 28,
                        chunk_size: int | None = None, groups: Sequence[int] | None = None) -> torch.Tensor:
    """``log p(c | u)`` of WPMI for every unit, before the prior is subtracted.

    ``Q = softmax(a * evidence)`` over concepts (over each group's, with `groups`) and
    ``log p(c | u) = sum over the unit's min(k, N) top clips of log(Q[clip, c] + 1e-7)``.

    Returns
    -------
    torch.Tensor, shape (U, C)
        In the working dtype (float32, or float64 for float64 input).
    """
    a = check_number(a, "a")
    k = check_int(k, "k")
    ev, act = prepare(evidence, activations)
    n, c = ev.shape
    k = min(k, n)
    log_q = [evidence_terms("wpmi log q", part, lambda part=part: torch.log(concept_probabilities(part, a) + MIN_PROB),
                            a) for part in column_groups(ev, groups)]                        # each (N, C_g)
    cond = torch.empty((act.shape[1], c), dtype=ev.dtype, device=act.device)
    for sl in unit_chunks(act.shape[1], chunk_size, per_unit=max(n, k * max(q.shape[1] for q in log_q))):
        ids = torch.topk(act[:, sl].T, k, dim=1).indices  # (m, k)
        # embedding_bag sums the gathered rows without an (m, k, C) temporary
        cond[sl] = torch.cat([F.embedding_bag(ids, q, mode="sum") for q in log_q], dim=1)
    return cond


def wpmi(evidence, activations, *, a: float = 2.0, k: int = 28, lam: float = 0.6,
         chunk_size: int | None = None, groups: Sequence[int] | None = None) -> torch.Tensor:
    """Weighted PMI of every (unit, concept) pair.

    ``Q = softmax(a * evidence)`` over concepts (each clip's distribution over
    concepts); ``log p(c | u)`` sums ``log(Q + 1e-7)`` over the unit's `k`
    most activating clips (all clips if N < k);
    ``log p(c) = logsumexp over units of log p(c | u) - log U``; the score is
    ``log p(c | u) - lam * log p(c)``. The prior is taken over the units
    passed in, so pass one layer's units at a time.

    Parameters
    ----------
    evidence : array_like or torch.Tensor, shape (N, C)
        Evidence of each concept in each clip.
    activations : array_like or torch.Tensor, shape (N, U)
        Activation of each unit on each clip.
    a : float, default 2
        Softmax temperature factor.
    k : int, default 28
        Top clips per unit.
    lam : float, default 0.6
        Weight of the concept prior ``log p(c)``.
    chunk_size : int, optional
        Units processed at once (default: bounded by memory).
    groups : sequence of int, optional
        Several evidence sources side by side: each one's column count, in
        order. Each group's concepts compete only among themselves (its own
        softmax and prior), so the result equals one call per group; the
        units' top clips are found once for all of them.

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores; higher means a better match.
    """
    lam = check_number(lam, "lam")
    return grouped_pmi(wpmi_log_likelihood(evidence, activations, a=a, k=k, chunk_size=chunk_size, groups=groups),
                       groups, lam=lam)


def wpmi_robust(evidence, activations, *, a: float = 2.0, k: int = 28, lam: float = 0.6,
                chunk_size: int | None = None, groups: Sequence[int] | None = None) -> torch.Tensor:
    """Weighted PMI of every (unit, concept) pair on normal-scored evidence: the robust :func:`wpmi`.

    :func:`wpmi` with each evidence column replaced by its normal scores over
    clips (:func:`~audiodissect.similarity._ranks.normal_scores`: ranks, ties
    sharing their mean rank, mapped to standard normal quantiles) before
    ``Q = softmax(a * Z)``; the rest is published: ``log p(c | u)`` sums
    ``log(Q + 1e-7)`` over the unit's top `k` clips, ``log p(c)`` is the
    log-mean-exp of ``log p(c | u)`` over the units passed in (pass one
    layer at a time; for shards, merge :func:`wpmi_log_likelihood` of the
    normal scores with :func:`~audiodissect.similarity.pmi_combine`), score
    ``= log p(c | u) - lam * log p(c)``.

    What it changes and why: a per-concept offset ``b_c`` adds ``a * b_c`` to
    concept c's logit on every clip, so the concept with the largest common
    level takes probability from every other on every clip, and with
    ``lam = 0.6 < 1`` the prior cancels only 60 % of it: the concept with the
    largest offset wins (DB's softmax columns give the word the descriptions
    say most the largest level). A scale ``a_c`` sharpens or flattens one
    concept against the others. Normal scores give every concept the same
    distribution over clips, so only where it is high matters. The prior over
    the layer's units stays: with ``lam < 1`` a concept no unit stands out on
    keeps ``(1 - lam)`` of its (very negative) log-likelihood and cannot win,
    and the prior favours the concepts specific to a unit among its layer
    (unlike :func:`~audiodissect.similarity.soft_wpmi_robust`, whose
    ``lam = 1`` makes that prior collapse).

    Invariant to any increasing transform of a concept's evidence (per-concept
    ``a_c p_c + b_c``, ``a_c > 0``, included) and of a unit's activations.

    Parameters
    ----------
    evidence : array_like or torch.Tensor, shape (N, C)
        Evidence of each concept in each clip.
    activations : array_like or torch.Tensor, shape (N, U)
        Activation of each unit on each clip.
    a : float, default 2
        Softmax factor, applied to normal scores (the published setting).
    k : int, default 28
        Top clips per unit.
    lam : float, default 0.6
        Weight of the concept prior.
    chunk_size : int, optional
        Units processed at once (default: bounded by memory).
    groups : sequence of int, optional
        As :func:`wpmi`.

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores; higher means a better match.
    """
    lam = check_number(lam, "lam")
    ev, _ = prepare(evidence, activations)
    cond = wpmi_log_likelihood(evidence_normal_scores(ev), activations, a=a, k=k, chunk_size=chunk_size,
                               groups=groups)
    return grouped_pmi(cond, groups, lam=lam)
