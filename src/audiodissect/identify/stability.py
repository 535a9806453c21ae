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
    """:func:`_best` of the robust cos, from a float32 product of the floored columns where it cannot change the
    winner.

    The robust cos (:func:`~audiodissect.similarity.cos.cos_robust`) floors each unit's column at its median
    (``h``), centres it (``h - m``) and scales it to norm 1, then multiplies it by the evidence's unit columns
    ``p`` in float64 (:func:`~audiodissect.similarity._inputs.column_products`). A unit's best concept is
    unchanged by its positive scale, and ``h . p_c = (h - m) . p_c + m sum(p_c)``, where ``sum(p_c)`` is zero
    up to rounding: so the winner of the float32 product ``h . p_c`` (neither centred nor scaled) is the
    robust cos's wherever its two best concepts lie further apart than twice the error. That error is at most
    ``||h||`` times ``gamma_N + 2.01 u + max |sum(p_c)|`` (``gamma_N = N u / (1 - N u)``, ``u = 2 ** -24``: the
    float32 product in any summation order; the rounding of the centring and the scaling; the mean's share)
    with room for float32's rounding of the scores themselves. Only the other units, and the constant ones
    (which the robust cos scores 0 for every concept), are centred and multiplied in float64. The inputs are
    finite rows of checked arrays (a bootstrap resample), so they are not checked again. With torch's float32
    matrix products set to a lower precision (``torch.set_float32_matmul_precision``), every unit takes the
    float64 route.

    Parameters
    ----------
    evidence : np.ndarray, shape (N, C), float32
    activations : np.ndarray, shape (N, U), float32
    keep : np.ndarray of bool, shape (C,)

    Returns
    -------
    np.ndarray, shape (U,), int
        The same indices as ``_best(cos_robust, evidence, activations, keep)``.
    """
    import torch

    from ..similarity._inputs import column_products, unit_chunks
    from ..similarity._ranks import CONSTANT_EPS, lower_medians, unit_columns

    # nothing to compare; or float32 products that torch may compute in a lower precision than the bound assumes
    if keep.sum() < 2 or torch.get_float32_matmul_precision() != "highest":
        from ..similarity import cos_robust

        return _best(cos_robust, evidence, activations, keep)
    n, c = evidence.shape
    u = 2.0 ** -24
    gamma = n * u / (1.0 - n * u)
    p = unit_columns(torch.from_numpy(evidence))                          # (N, C)
    drift = float(p.to(torch.float64).sum(dim=0).abs().max())             # max |sum(p_c)|
    # per unit of ||h|| (computed in float32: within 1 + 2 gamma_N), both scores' errors, rounding slack
    per_norm = 2.0 * 1.01 * (1.0 + 2.0 * gamma) * (1.01 * (gamma + 2.01 * u) + 1.01 * drift + 8 * u)
    masked = torch.from_numpy(np.where(keep, 0.0, -np.inf).astype(np.float32))
    acts = torch.from_numpy(activations)
    best = np.empty(acts.shape[1], dtype=np.int64)
    for sl in unit_chunks(acts.shape[1], None, per_unit=3 * n + c):    # cos_robust's chunks: the same columns
        x = acts[:, sl]
        low = lower_medians(x)                                            # (1, m): h's smallest value
        h = torch.maximum(x, low)                                         # (N, m): upper_half(x)
        high = h.amax(dim=0, keepdim=True)
        constant = ((high - low) <= CONSTANT_EPS * torch.finfo(h.dtype).eps   # centred_columns' rule
                    * torch.maximum(high.abs(), low.abs()))[0]
        top2 = torch.topk(h.T @ p + masked, k=2, dim=1)                   # (m, 2), float32
        margin = per_norm * (h * h).sum(dim=0).sqrt()                     # (m,)
        close = ~((top2.values[:, 0] - top2.values[:, 1]) > margin) | constant  # NaN (overflow) is close too
        chosen = top2.indices[:, 0].numpy().copy()
        if bool(close.any()):
            chosen[close.numpy()] = _winners(column_products(_unit_columns_of(h, close), p).float().numpy(), keep)
        best[sl] = chosen
    return best


def _unit_columns_of(h: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """``unit_columns(h)[:, columns]``, shape (N, k), computed on those columns alone (`h` (N, m), `columns` a
    boolean mask (m,) with k set).

    Every column is reduced on its own, so the columns' values do not depend on their neighbours; but a
    single column of a wider block is reduced by another kernel (a contiguous one), whose norm differs in its
    last bits: it is computed beside a copy of itself.
    """
    from ..similarity._ranks import unit_columns

    picked = h[:, columns]
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
    from ..similarity._inputs import check_finite

    fn = sim.get(settings.similarity, variant=settings.variant)
    # a resample's winners: the robust cos has a faster route to the same ones
    resampled_best = _best_robust_cos if settings.robust_cos else functools.partial(_best, fn)
    index = {c: i for i, c in enumerate(concepts)}
    keep = {m: np.array([c not in set((exclude or {}).get(m, ())) for c in concepts]) for m in evidence}
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[UnitName]] = {}
    for r in names:
        if r.name is not None and r.method in evidence:
            groups.setdefault((r.layer, r.method), []).append(r)
    # every resample drawn here, group after group, so that the groups can be tested in any order
    clips = {layer: int(np.shape(activations[layer])[0]) for layer, _ in groups}
    draws = {group: [rng.integers(0, clips[group[0]], size=clips[group[0]]) for _ in range(resamples)]
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
        for rows in draws[group]:
            kept += resampled_best(ev[rows], acts[rows], keep[method]) == named
        return kept, resampled_best(ev, after, keep[method])

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
