"""How stable each unit's name is: under resampling of the probing set, and under a little noise in the audio.

A name worth believing should not hinge on which clips happened to be in
the probing set, nor on noise far below what the unit is meant to hear.
For every unit with a name, :func:`name_stability` re-chooses its best
concept (the naming source and similarity of :mod:`~audiodissect.identify.naming`)

* on `resamples` bootstrap resamples of the probe clips: the share of them
  that keep the name is its *bootstrap survival*;
* on activations recorded from the same clips with Gaussian noise added to
  each waveform (standard deviation ``noise`` times the waveform's own):
  a different best concept there is a *flip*.

Robustness work on network dissection found input noise of std 0.02 changing
the concept of up to 28 % of deep units; the per-layer share that flips is
the figure to hold against it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..records import NameStability, UnitName
from ..threads import largest_float32_bytes, thread_map, thread_workers
from .naming import NamingSettings, wilson_interval

if TYPE_CHECKING:  # torch is imported where it is used
    import torch


def noisy_waveforms(waves: Sequence[np.ndarray], *, noise: float, seed: int) -> list[np.ndarray]:
    """Each waveform plus Gaussian noise of standard deviation `noise` times its own (seeded per position).

    Parameters
    ----------
    waves : sequence of np.ndarray, each (T_i,)

    Returns
    -------
    list of np.ndarray, each (T_i,), float32
    """
    out = []
    for i, w in enumerate(waves):
        w = np.asarray(w, dtype=np.float32)
        rng = np.random.default_rng([seed, i])
        out.append((w + noise * float(w.std()) * rng.standard_normal(w.shape)).astype(np.float32))
    return out


def _best(fn, evidence: np.ndarray, activations: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return _winners(fn(evidence, activations).float().numpy(), keep)


def _winners(scores: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Each unit's best concept (U,) from scores (U, C), among the concepts `keep` (C,) allows (`scores` is
    changed)."""
    scores[:, ~keep] = -np.inf
    return scores.argmax(axis=1)


def _best_robust_cos(evidence: np.ndarray, activations: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """:func:`_best` of the robust cos on each of R resamples, from float32 products of the floored columns where
    they cannot change the winner.

    The robust cos (:func:`~audiodissect.similarity.cos.cos_robust`) floors each unit's column at its median
    (``h``), centres it (``h - m``) and scales it to norm 1, then multiplies it by the evidence's unit columns
    ``p`` in float64 (:func:`~audiodissect.similarity._inputs.column_products`). A unit's best concept is
    unchanged by its positive scale, and ``h . p_c = (h - m) . p_c + m sum(p_c)``, where ``sum(p_c)`` is zero
    up to rounding: so the winner of the float32 product ``h . p_c`` (neither centred nor scaled) is the
    robust cos's wherever its two best concepts lie further apart than twice the error. That error is at most
    ``||h||`` times ``gamma_N + 2.01 u + max |sum(p_c)|`` (``gamma_N = N u / (1 - N u)``, ``u = 2 ** -24``: the
    float32 product in any summation order; the rounding of the centring and the scaling; the mean's share)
    with room for float32's rounding of the scores themselves. Only the other units, and the constant ones
    (which the robust cos scores 0 for every concept), are centred and multiplied in float64. The resamples
    are computed together, a few operations for all of them. The inputs are finite rows of checked arrays
    (bootstrap resamples), so they are not checked again. With torch's float32 matrix products set to a lower
    precision (``torch.set_float32_matmul_precision``), every unit takes the float64 route.

    Parameters
    ----------
    evidence : np.ndarray, shape (R, N, C), float32
    activations : np.ndarray, shape (R, N, U), float32
    keep : np.ndarray of bool, shape (C,)

    Returns
    -------
    np.ndarray, shape (R, U), int
        Row r holds the same indices as ``_best(cos_robust, evidence[r], activations[r], keep)``.
    """
    import torch

    from ..similarity._inputs import column_products, unit_chunks
    from ..similarity._ranks import constant_range, row_lower_medians, unit_columns

    # nothing to compare; or float32 products that torch may compute in a lower precision than the bound assumes
    if keep.sum() < 2 or torch.get_float32_matmul_precision() != "highest":
        from ..similarity import cos_robust

        return _each_best(cos_robust, evidence, activations, keep)
    r, n, c = evidence.shape
    u = 2.0 ** -24
    gamma = n * u / (1.0 - n * u)
    # each resample's unit columns, side by side in one call: columns are normalised one by one
    side = torch.from_numpy(np.ascontiguousarray(evidence.transpose(1, 0, 2)).reshape(n, r * c))
    p = unit_columns(side).reshape(n, r, c).permute(1, 0, 2)               # (R, N, C)
    drift = p.to(torch.float64).sum(dim=1).abs().amax(dim=1)               # (R,): max |sum(p_c)|
    # per unit of ||h|| (computed in float32: within 1 + 2 gamma_N), both scores' errors, rounding slack
    per_norm = (2.0 * 1.01 * (1.0 + 2.0 * gamma) * (1.01 * (gamma + 2.01 * u) + 1.01 * drift + 8 * u)).float()
    masked = torch.from_numpy(np.where(keep, 0.0, -np.inf).astype(np.float32))
    best = np.empty((activations.shape[0], activations.shape[2]), dtype=np.int64)
    for sl in unit_chunks(activations.shape[2], None, per_unit=3 * n + c):  # cos_robust's chunks: the same columns
        columns = np.ascontiguousarray(activations[:, :, sl].transpose(0, 2, 1))  # (R, m, N)
        low = torch.from_numpy(row_lower_medians(columns))                # (R, m)
        h = torch.maximum(torch.from_numpy(columns), low[:, :, None])       # (R, m, N): upper_half, transposed
        constant = constant_range(low, h.amax(dim=2))                     # (R, m); low is h's smallest value
        top2 = torch.topk(torch.bmm(h, p) + masked, k=2, dim=2)           # (R, m, 2), float32
        margin = per_norm[:, None] * (h * h).sum(dim=2).sqrt()            # (R, m)
        close = ~((top2.values[..., 0] - top2.values[..., 1]) > margin) | constant  # NaN (overflow) is close too
        chosen = top2.indices[..., 0].numpy().copy()
        for k in np.flatnonzero(close.any(dim=1).numpy()):
            chosen[k, close[k].numpy()] = _winners(
                column_products(_unit_columns_of(h[k].T, close[k]), p[k]).float().numpy(), keep)
        best[:, sl] = chosen
    return best


def _each_best(fn, evidence: np.ndarray, activations: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """:func:`_best` of each resample: (R, N, C) and (R, N, U) to (R, U)."""
    return np.stack([_best(fn, e, a, keep) for e, a in zip(evidence, activations)])


def _unit_columns_of(h: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """``unit_columns(h)[:, columns]``, shape (N, k), computed on those columns alone (`h` (N, m), `columns` a
    boolean mask (m,) with k set).

    Every column is reduced on its own, so the columns' values do not depend on their neighbours; but a
    single column of a wider block is reduced by another kernel (a contiguous one), whose norm differs in its
    last bits: it is computed beside a copy of itself.
    """
    from ..similarity._ranks import unit_columns

    picked = h[:, columns].contiguous()  # rows in memory order, as the robust cos's columns are
    if picked.shape[1] == 1 and h.shape[1] > 1:
        return unit_columns(picked.expand(-1, 2).contiguous())[:, :1]
    return unit_columns(picked)


def name_stability(names: Sequence[UnitName], evidence: Mapping[str, np.ndarray],
                   activations: Mapping[str, np.ndarray], noisy: Mapping[str, np.ndarray],
                   concepts: Sequence[str], *, exclude: Mapping[str, Sequence[str]] | None = None,
                   settings: NamingSettings = NamingSettings(), resamples: int = 20,
                   seed: int = 0) -> list[NameStability]:
    """Bootstrap survival and noise flips of every named unit.

    Parameters
    ----------
    names : sequence of UnitName
        The units' names (units without one are left out).
    evidence : mapping of method to np.ndarray, shape (N, C)
        Probe rows, in the activations' row order.
    activations, noisy : mapping of layer to np.ndarray, shape (N, U)
        The layer on the probe clips, and on the same clips with noise.
    concepts : sequence of str, length C
    exclude : mapping of method to concepts, optional
        Concepts a source has no evidence for (never a name).
    settings : NamingSettings
        The similarity the names were chosen with.
    resamples : int
    seed : int

    Returns
    -------
    list of NameStability
        One per named unit, in the order of `names`.
    """
    import torch

    from .. import similarity as sim
    from ..similarity._inputs import CHUNK_ELEMENTS, check_finite

    fn = sim.get(settings.similarity, variant=settings.variant)
    # a resample's winners: the robust cos has a faster route to the same ones
    resampled_best = _best_robust_cos if settings.robust_cos else functools.partial(_each_best, fn)
    index = {c: i for i, c in enumerate(concepts)}
    keep = {m: np.array([c not in set((exclude or {}).get(m, ())) for c in concepts]) for m in evidence}
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[UnitName]] = {}
    for r in names:
        if r.name is not None and r.method in evidence:
            groups.setdefault((r.layer, r.method), []).append(r)
    # every resample drawn here, group after group, so that the groups can be tested in any order
    clips = {layer: int(np.shape(activations[layer])[0]) for layer, _ in groups}
    draws = {group: np.array([rng.integers(0, clips[group[0]], size=clips[group[0]]) for _ in range(resamples)],
                             dtype=np.int64).reshape(resamples, clips[group[0]])   # (resamples, N)
             for group in groups}

    def test(group: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
        """(resamples that keep each unit's name, the best concept of each with noise) of one group"""
        (layer, method), records = group, groups[group]
        units = np.array([r.index for r in records], dtype=np.int64)
        acts = np.asarray(activations[layer], dtype=np.float32)[:, units]
        ev = np.asarray(evidence[method], dtype=np.float32)
        named = np.array([index[r.name] for r in records])
        after = np.ascontiguousarray(np.asarray(noisy[layer], dtype=np.float32)[:, units])
        kept = np.zeros(len(records))
        check_finite(torch.from_numpy(acts), "activations")  # once: a resample's rows are rows of these
        check_finite(torch.from_numpy(ev), "evidence")
        check_finite(torch.from_numpy(after), "activations with noise")
        # as many resamples at once as make a chunk of the similarity functions' size
        at_once = max(1, CHUNK_ELEMENTS // max(1, acts.size))
        for start in range(0, resamples, at_once):
            rows = draws[group][start:start + at_once]                    # (R', N)
            kept += (resampled_best(ev[rows], acts[rows], keep[method]) == named).sum(axis=0)
        return kept, resampled_best(ev[None], after[None], keep[method])[0]

    results: dict[str, NameStability] = {}
    workers = thread_workers(item_bytes=largest_float32_bytes(np.shape(activations[layer]) for layer, _ in groups))
    tested = thread_map(test, list(groups), workers=workers)  # groups side by side
    for group, (kept, after) in zip(groups, tested):
        for r, survived, best in zip(groups[group], kept, after):
            results[r.unit] = NameStability(unit=r.unit, layer=r.layer, index=r.index, name=r.name, method=r.method,
                                            bootstrap_survival=round(float(survived / resamples), 4),
                                            noise_name=concepts[best], noise_flipped=bool(concepts[best] != r.name))
    return [results[r.unit] for r in names if r.unit in results]


def flip_shares(stability: Sequence[NameStability], *, z: float = 1.96) -> list[dict]:
    """Per layer: named units, mean bootstrap survival, and the share that flips under noise with its
    Wilson interval, in the layers' order."""
    rows: dict[str, dict] = {}
    for r in stability:
        row = rows.setdefault(r.layer, {"layer": r.layer, "units": 0, "flipped": 0, "survival": 0.0})
        row["units"] += 1
        row["flipped"] += r.noise_flipped
        row["survival"] += r.bootstrap_survival
    for row in rows.values():
        low, high = wilson_interval(row["flipped"], row["units"], z=z)
        row.update(survival=round(row["survival"] / row["units"], 4),
                   share_flipped=round(row["flipped"] / row["units"], 4), ci_low=round(low, 4), ci_high=round(high, 4))
    return list(rows.values())
