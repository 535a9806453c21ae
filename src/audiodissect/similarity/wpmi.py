"""wpmi: weighted pointwise mutual information between a unit's top clips and a concept (published and robust)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._inputs import check_int, check_number, prepare, unit_chunks
from ._pmi import clip_prior_pmi, concept_probabilities, pmi_combine
from ._ranks import normal_scores

#: Added to probabilities before the log (the published setting).
MIN_PROB = 1e-7


def wpmi_log_likelihood(evidence, activations, *, a: float = 2.0, k: int = 28,
                        chunk_size: int | None = None) -> torch.Tensor:
    """``log p(c | u)`` of WPMI for every unit, before the prior is subtracted.

    ``Q = softmax(a * evidence)`` over concepts and
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
    log_q = torch.log(concept_probabilities(ev, a) + MIN_PROB)  # (N, C)
    cond = torch.empty((act.shape[1], c), dtype=ev.dtype, device=act.device)
    for sl in unit_chunks(act.shape[1], chunk_size, per_unit=max(n, k * c)):
        ids = torch.topk(act[:, sl].T, k, dim=1).indices  # (m, k)
        # embedding_bag sums the gathered rows without an (m, k, C) temporary
        cond[sl] = F.embedding_bag(ids, log_q, mode="sum")
    return cond


def wpmi(evidence, activations, *, a: float = 2.0, k: int = 28, lam: float = 0.6,
         chunk_size: int | None = None) -> torch.Tensor:
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

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores; higher means a better match.
    """
    lam = check_number(lam, "lam")
    return pmi_combine(wpmi_log_likelihood(evidence, activations, a=a, k=k, chunk_size=chunk_size),
                       lam=lam)


def wpmi_robust(evidence, activations, *, a: float = 2.0, k: int = 28, lam: float = 0.6,
                chunk_size: int | None = None) -> torch.Tensor:
    """Weighted PMI on normal-scored evidence with the concept prior from random clips.

    ``Z`` = each evidence column's normal scores over clips
    (:func:`~audiodissect.similarity._ranks.normal_scores`), ``Q =
    softmax(a * Z)`` over concepts; ``log p(c | u)`` sums ``log(Q + 1e-7)``
    over the unit's ``k' = min(k, N)`` top clips as published;
    ``log p(c) = k' * mean over all clips of log(Q[:, c] + 1e-7)``, the
    expected ``log p(c | u)`` of a unit whose top clips are drawn at random;
    the score is ``log p(c | u) - lam * log p(c)``.

    What it changes and why:

    * **normal scores before the softmax.** A per-concept offset ``b_c`` adds
      ``a * b_c`` to concept c's logit on every clip, so the concept with the
      largest common level takes probability from every other on every clip,
      and with ``lam = 0.6 < 1`` the published prior cancels only 60 % of it:
      the concept with the largest offset wins. A scale ``a_c`` sharpens or
      flattens one concept against the others. Normal scores give every
      concept the same distribution over clips, so only where it is high
      matters;
    * **prior from random clips, not from the other units.** Published,
      ``log p(c)`` is the log of the mean of ``p(c | u)`` over the layer's
      units. A concept with the same ``p(c | u)`` for every unit (one that no
      clip's softmax favours, or a constant column) then has a PMI of
      ``(1 - lam) log p(c | u)``: exactly 0 for soft-WPMI's ``lam = 1``, more
      than the unit's own concept gets whenever the unit is not among that
      concept's best units. Against random clips a concept's PMI is 0 only
      when the unit's top clips carry it no more than random clips do, and
      positive when they carry it more, whatever the other units are. (The
      log of the base rate, ``k' log mean Q``, would not do: it exceeds the
      mean of the logs by Jensen's gap, which is 0 only for a constant
      column, and would hand the constant column the win again.)

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

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores; higher means a better match.
    """
    lam = check_number(lam, "lam")
    a = check_number(a, "a")
    k = check_int(k, "k")
    ev, _ = prepare(evidence, activations)
    z = normal_scores(ev)
    cond = wpmi_log_likelihood(z, activations, a=a, k=k, chunk_size=chunk_size)
    prior = min(k, ev.shape[0]) * torch.log(concept_probabilities(z, a) + MIN_PROB).mean(dim=0)  # (C,)
    return clip_prior_pmi(cond, prior, lam=lam)
