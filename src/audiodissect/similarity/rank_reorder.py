"""rank_reorder: how well a concept's evidence reproduces the order of a unit's top clips (published and robust)."""

from __future__ import annotations

import torch

from ..errors import AudioDissectError
from ._inputs import TINY, check_int, check_number, prepare, unit_chunks
from ._memo import evidence_terms
from ._ranks import normal_scores

#: Random orderings used to measure each unit's error under a random order.
N_ORDERINGS = 32


def top_count(n_clips: int, top_fraction: float) -> int:
    """Number of top clips used per unit: ``max(1, floor(n_clips * top_fraction))``."""
    return max(1, int(n_clips * top_fraction))


def random_orderings(n: int, *, n_orderings: int = N_ORDERINGS, seed: int = 0) -> torch.Tensor:
    """`n_orderings` random permutations of ``range(n)`` from a seeded generator.

    Returns
    -------
    torch.Tensor, shape (n_orderings, n), int64
        The same permutations for the same arguments on every machine.
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.argsort(torch.rand((n_orderings, n), generator=gen), dim=1)


def rank_reorder(evidence, activations, *, p: float = 3.0, top_fraction: float = 0.05,
                 scale: float = 0.5, n_orderings: int = N_ORDERINGS, seed: int = 0,
                 chunk_size: int | None = None) -> torch.Tensor:
    """Score each (unit, concept) pair by how little the concept reorders the unit's top clips.

    For a unit, take its ``n = max(1, floor(N * top_fraction))`` most
    activating clips with their activations sorted from highest down,
    ``s_1 >= ... >= s_n``. Order the same clips by the concept's evidence
    instead (highest first, ties kept in activation order) and read their
    activations in that order, ``r_1 .. r_n``. Then

    - ``error = mean_i |s_i - r_i| ** p``;
    - ``random = mean over orderings of mean_i |s_i - s_perm(i)| ** p``, with
      `n_orderings` random permutations drawn once from a generator seeded by
      `seed` and shared by all units (so the result does not depend on
      `chunk_size`);
    - ``score = -error / max(random, 1e-12) / max(relu(mean_i e_i) ** scale, 1e-12)``
      where ``e_i`` is the concept's evidence on the unit's top clips.

    The random-order error depends on the unit only: it puts units on a common
    scale without changing which concept wins for a unit. The last factor
    favours concepts with strong evidence on the unit's top clips; a concept
    with no positive evidence there gets a very low score. A dead unit
    (constant top activations) scores 0 for every concept.

    Parameters
    ----------
    evidence : array_like or torch.Tensor, shape (N, C)
        Evidence of each concept in each clip.
    activations : array_like or torch.Tensor, shape (N, U)
        Activation of each unit on each clip.
    p : float, default 3
        Exponent of the absolute differences.
    top_fraction : float, default 0.05
        Share of clips (the unit's most activating) that are compared.
    scale : float, default 0.5
        Exponent of the mean-evidence divisor.
    n_orderings : int, default 32
        Random orderings used for the random-order error.
    seed : int, default 0
        Seed of the random orderings.
    chunk_size : int, optional
        Units processed at once (default: bounded by memory; the (units,
        top clips, concepts) tensors are the big ones).

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores, at most 0 (higher means a better match).
    """
    p = check_number(p, "p", positive=True)
    scale = check_number(scale, "scale", nonnegative=True)
    frac = check_number(top_fraction, "top_fraction", positive=True)
    if frac > 1:
        raise AudioDissectError(f"top_fraction must be in (0, 1], got {top_fraction!r}")
    n_orderings = check_int(n_orderings, "n_orderings")
    ev, act = prepare(evidence, activations)
    n_clips, c = ev.shape
    n = top_count(n_clips, frac)
    perms = random_orderings(n, n_orderings=n_orderings, seed=seed).to(act.device)
    ev_t = ev.T.contiguous()  # (C, N): sorting along the last axis is the fast path
    out = torch.empty((act.shape[1], c), dtype=torch.float32, device=act.device)
    for sl in unit_chunks(act.shape[1], chunk_size, per_unit=n * max(c, n_orderings)):
        top, ids = torch.topk(act[:, sl].T, n, dim=1)  # (m, n), highest first
        m = top.shape[0]
        e = ev_t[:, ids]  # (C, m, n): each concept's evidence on each unit's top clips
        order = torch.sort(e, dim=2, descending=True, stable=True).indices
        reordered = torch.gather(top.expand(c, m, n), 2, order)
        del order
        error = reordered.sub_(top).abs_().pow_(p).mean(dim=2).T  # (m, C)
        del reordered
        random = (top.unsqueeze(1) - top[:, perms]).abs_().pow_(p).mean(dim=(1, 2))  # (m,)
        strength = torch.relu(e.mean(dim=2).T).pow_(scale).clamp_min_(TINY)  # (m, C)
        score = error / random.clamp_min(TINY).unsqueeze(1) / strength
        out[sl] = (0.0 - score).to(torch.float32)  # 0.0 - x: no negative zeros
    return out


#: Added to a unit's error ratio so that concepts that order its top clips perfectly (ratio 0: a concept
#: tied on all of them, as a label is) are still ranked by their strength.
RATIO_FLOOR = 1e-6


def rank_reorder_robust(evidence, activations, *, p: float = 3.0, top_fraction: float = 0.05,
                        scale: float = 0.5, n_orderings: int = N_ORDERINGS, seed: int = 0,
                        chunk_size: int | None = None) -> torch.Tensor:
    """:func:`rank_reorder` with an evidence strength that no rescaling of a concept changes.

    As :func:`rank_reorder` (the unit's top ``n = max(1, floor(N *
    top_fraction))`` clips, their activations read in the concept's evidence
    order, ties kept in activation order, ``error = mean |s_i - r_i| ** p``
    over the error of `n_orderings` seeded random orderings), with three
    changes:

    * **strength**: the divisor is ``relu(mean_i z_i) ** scale`` where ``z_i``
      is the normal score of the concept's evidence on top clip i among all N
      clips (:func:`~audiodissect.similarity._ranks.normal_scores`), not
      ``relu(mean_i e_i) ** scale``. The published divisor grows with a
      concept's common level, so the concept with the largest offset
      (``p_c + b_c``) wins; the normal score is 0 for a concept no higher on
      the unit's top clips than on a typical clip, larger the rarer its values
      there are, and unchanged by any increasing transform of the column;
    * **no strength, no score**: a concept whose strength is 0 (not above its
      typical level on the unit's top clips; a constant column) scores
      ``-1e12`` whatever its ordering error. Published, such a concept's
      score is ``-error / 1e-12``, which is 0, the best possible, when the
      error is 0, and the error is 0 for any concept tied on the unit's top
      clips (a constant column, a label absent from them): such a concept won
      every unit, and with label evidence every label tied on a unit's top
      clips scored 0, so none was named right;
    * **ratio**: ``error / random + 1e-6`` (:data:`RATIO_FLOOR`), so that the
      concepts that order the top clips perfectly (a label, tied on all of
      them) are ranked by their strength instead of all scoring 0; with
      nothing to order (one top clip, or equal top activations) the ratio is
      1, chance, instead of 0.

    ``score = -(error / random + 1e-6) / strength`` where the strength is
    positive, ``-1e12`` elsewhere.

    Parameters
    ----------
    evidence : array_like or torch.Tensor, shape (N, C)
        Evidence of each concept in each clip.
    activations : array_like or torch.Tensor, shape (N, U)
        Activation of each unit on each clip.
    p : float, default 3
        Exponent of the absolute differences.
    top_fraction : float, default 0.05
        Share of clips (the unit's most activating) that are compared.
    scale : float, default 0.5
        Exponent of the strength divisor.
    n_orderings : int, default 32
        Random orderings used for the random-order error.
    seed : int, default 0
        Seed of the random orderings.
    chunk_size : int, optional
        Units processed at once (default: bounded by memory).

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores, below 0 (higher means a better match).
    """
    p = check_number(p, "p", positive=True)
    scale = check_number(scale, "scale", nonnegative=True)
    frac = check_number(top_fraction, "top_fraction", positive=True)
    if frac > 1:
        raise AudioDissectError(f"top_fraction must be in (0, 1], got {top_fraction!r}")
    n_orderings = check_int(n_orderings, "n_orderings")
    ev, act = prepare(evidence, activations)
    n_clips, c = ev.shape
    n = top_count(n_clips, frac)
    perms = random_orderings(n, n_orderings=n_orderings, seed=seed).to(act.device)
    ev_t = ev.T.contiguous()                                            # (C, N)
    height = evidence_terms("rank_reorder heights", ev, lambda: normal_scores(ev).T.contiguous())  # (C, N)
    out = torch.empty((act.shape[1], c), dtype=torch.float32, device=act.device)
    for sl in unit_chunks(act.shape[1], chunk_size, per_unit=n * max(c, n_orderings)):
        top, ids = torch.topk(act[:, sl].T, n, dim=1)  # (m, n), highest first
        m = top.shape[0]
        order = torch.sort(ev_t[:, ids], dim=2, descending=True, stable=True).indices  # (C, m, n)
        reordered = torch.gather(top.expand(c, m, n), 2, order)
        del order
        error = reordered.sub_(top).abs_().pow_(p).mean(dim=2).T  # (m, C)
        del reordered
        random = (top.unsqueeze(1) - top[:, perms]).abs_().pow_(p).mean(dim=(1, 2)).unsqueeze(1)  # (m, 1)
        ratio = torch.where(random > TINY, error / random.clamp_min(TINY), torch.ones_like(error)) + RATIO_FLOOR
        mean_height = height[:, ids].mean(dim=2).T                   # (m, C)
        strength = torch.relu(mean_height).pow_(scale)
        score = torch.where(mean_height > 0, -ratio / strength.clamp_min(TINY), torch.full_like(ratio, -1.0 / TINY))
        out[sl] = score.to(torch.float32)
    return out
