"""soft_wpmi: WPMI where each top clip counts with a weight falling with its rank."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._inputs import check_int, check_number, prepare, unit_chunks
from ._pmi import concept_probabilities, pmi_combine
from .wpmi import MIN_PROB

#: Largest (top clips x clips x concepts) table of log terms computed up front;
#: above it each unit's terms are computed in its chunk instead.
TABLE_ELEMENTS = 2**24


def rank_weights(k: int, *, w_start: float = 0.998, w_end: float = 0.97,
                 dtype=torch.float32, device=None) -> torch.Tensor:
    """Weights of the top-k clips, falling linearly from `w_start` (rank 1) to `w_end` (rank k).

    Returns
    -------
    torch.Tensor, shape (k,)
        ``[w_start]`` when k is 1.
    """
    return torch.linspace(w_start, w_end, k, dtype=dtype, device=device)


def soft_wpmi_log_likelihood(evidence, activations, *, a: float = 10.0, k: int = 100,
                             w_start: float = 0.998, w_end: float = 0.97,
                             chunk_size: int | None = None) -> torch.Tensor:
    """``log p(c | u)`` of soft-WPMI for every unit, before the prior is subtracted.

    ``log p(c | u) = sum_i log(1 + w_i (Q[clip_i, c] - 1) + 1e-7)`` over the
    unit's ``min(k, N)`` top clips in rank order, with weights from
    :func:`rank_weights` over those clips.

    Returns
    -------
    torch.Tensor, shape (U, C)
        In the working dtype (float32, or float64 for float64 input).
    """
    a = check_number(a, "a")
    k = check_int(k, "k")
    w_start = check_number(w_start, "w_start")
    w_end = check_number(w_end, "w_end")
    ev, act = prepare(evidence, activations)
    n, c = ev.shape
    k = min(k, n)
    q_minus_1 = concept_probabilities(ev, a) - 1.0  # (N, C)
    w = rank_weights(k, w_start=w_start, w_end=w_end, dtype=ev.dtype, device=ev.device)
    cond = torch.empty((act.shape[1], c), dtype=ev.dtype, device=act.device)
    # Every term depends only on (rank, clip, concept): when that table is
    # small, compute its logs once and sum rows of it per unit.
    table = None
    if k * n * c <= TABLE_ELEMENTS:
        table = (w.view(k, 1, 1) * q_minus_1).add_(1.0 + MIN_PROB).log_().view(k * n, c)
        offsets = torch.arange(k, device=act.device) * n  # row of (rank i, clip 0)
    for sl in unit_chunks(act.shape[1], chunk_size, per_unit=max(n, k * c)):
        ids = torch.topk(act[:, sl].T, k, dim=1).indices  # (m, k), highest first
        if table is not None:
            cond[sl] = F.embedding_bag(ids + offsets, table, mode="sum")
        else:
            terms = q_minus_1[ids].mul_(w.unsqueeze(1)).add_(1.0 + MIN_PROB).log_()  # (m, k, C)
            cond[sl] = terms.sum(dim=1)
    return cond


def soft_wpmi(evidence, activations, *, a: float = 10.0, k: int = 100, lam: float = 1.0,
              w_start: float = 0.998, w_end: float = 0.97,
              chunk_size: int | None = None) -> torch.Tensor:
    """Soft weighted PMI of every (unit, concept) pair.

    As :func:`~audiodissect.similarity.wpmi`, but clip ``i`` of the unit's top
    `k` (in rank order) enters as a soft event of probability ``w_i``:
    ``log p(c | u) = sum_i log(1 + w_i (Q[clip_i, c] - 1) + 1e-7)`` with
    ``Q = softmax(a * evidence)`` over concepts and ``w_i`` falling linearly
    from `w_start` to `w_end`; ``log p(c) = logsumexp over units of
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
    w_start, w_end : float, default 0.998 and 0.97
        Weights of the first and the last of the top clips.
    chunk_size : int, optional
        Units processed at once (default: bounded by memory).

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores; higher means a better match.
    """
    lam = check_number(lam, "lam")
    cond = soft_wpmi_log_likelihood(evidence, activations, a=a, k=k, w_start=w_start,
                                    w_end=w_end, chunk_size=chunk_size)
    return pmi_combine(cond, lam=lam)
