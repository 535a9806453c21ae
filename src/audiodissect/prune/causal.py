"""The causal check of unit names: does the model lean on a named unit more for clips with its concept?

A name is a claim about what a unit responds to; if the model uses the unit
for that concept, switching the unit off (or turning it up) should change
the model's output more on held-out clips *with* the concept than on clips
*without* it. For a sample of confidently named units per layer,
:func:`causal_effects` measures the mean change of the logits (L2 norm of
their difference from the unpruned ones) on both groups, with the unit
zeroed and with its output scaled by ``amplify``, and the *specificity*
``(change with - change without) / mean change``. The same is measured for
size-matched random units of the layer, on the same clips, and the named
unit's specificity is set against theirs (``z``).

A clip *has* a concept when the naming source's evidence says so: for the
labels (0/1), the clips labelled with it; for graded evidence, the fifth of
the held-out clips where it is strongest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..executor import Executor, LocalExecutor
from ..progress import ProgressHook, track
from ..records import CausalEffect, UnitName
from .evaluate import heldout_logits
from .replica import replica_setup

#: Share of the held-out clips that have a concept, for graded evidence.
WITH_SHARE = 0.2


def concept_clips(column: np.ndarray) -> np.ndarray:
    """Which clips have the concept, from its evidence on them (n,): the top value of 0/1 evidence, else the
    strongest :data:`WITH_SHARE` of the clips, shape (n,), bool."""
    column = np.asarray(column, dtype=np.float64)
    values = np.unique(column)
    if len(values) <= 2:
        return column == values.max()
    return column >= np.quantile(column, 1 - WITH_SHARE)


@dataclasses.dataclass(frozen=True)
class OutputChange:
    """A worker's task: the per-clip change of the logits with some units scaled (0: switched off)."""

    scale: float

    def __call__(self, state: Any, units: Sequence[str]) -> np.ndarray:
        logits = heldout_logits(state.target, state.audio, units=list(units), batch_size=state.batch_size,
                                scale=self.scale)
        return np.linalg.norm(logits - state.baseline, axis=1)                   # (n,)


def specificity(change: np.ndarray, with_concept: np.ndarray) -> float:
    """``(mean change with - mean change without) / mean change`` of one unit's per-clip changes (n,)."""
    mean = float(change.mean())
    if mean <= 0 or with_concept.all() or not with_concept.any():
        return 0.0
    return float((change[with_concept].mean() - change[~with_concept].mean()) / mean)


def causal_effects(pruning: Any, names: Sequence[UnitName], evidence: Mapping[str, np.ndarray],
                   concepts: Sequence[str], *, units_per_layer: int, random_units: int, amplify: float,
                   seed: int, executor: Executor | None = None, hook: ProgressHook | None = None
                   ) -> list[CausalEffect]:
    """The causal check of a sample of confidently named units per layer.

    Parameters
    ----------
    pruning : PruningContext
        The model, its held-out audio and unpruned logits (``baseline``, rows ``audio.rows``).
    names : sequence of UnitName
    evidence : mapping of method to np.ndarray, shape (n_heldout, C)
        Each source's evidence on the context's held-out clips, in its row order.
    concepts : sequence of str, length C
    units_per_layer, random_units : int
        Named units checked and random units compared per layer.
    amplify : float
        Factor a unit's output is scaled by when turned up.
    seed : int
    executor : Executor, optional
        Runs the forward passes (on Ray: on workers holding one model replica each).
    hook : ProgressHook, optional

    Returns
    -------
    list of CausalEffect
        Layer by layer, the checked units in index order.
    """
    rng = np.random.default_rng(seed)
    index = {c: i for i, c in enumerate(concepts)}
    checked: list[UnitName] = []
    randoms: dict[str, list[str]] = {}
    for layer in pruning.eligible:
        named = [r for r in names if r.layer == layer and r.confident and r.method in evidence]
        if not named:
            continue
        picked = rng.choice(len(named), size=min(units_per_layer, len(named)), replace=False)
        checked += [named[i] for i in sorted(picked)]
        drawn = rng.choice(pruning.eligible[layer], size=min(random_units, pruning.eligible[layer]), replace=False)
        randoms[layer] = [f"{layer}#{int(i)}" for i in sorted(drawn)]
    jobs = [(r.unit, 0.0) for r in checked] + [(r.unit, amplify) for r in checked]
    jobs += [(unit, 0.0) for units in randoms.values() for unit in units]
    executor = executor or LocalExecutor()
    changes: dict[tuple[str, float], np.ndarray] = {}
    setup = executor.state(pruning, ship=replica_setup)
    by_scale = {scale: [unit for unit, s in jobs if s == scale] for scale in dict.fromkeys(s for _, s in jobs)}
    for scale, units in by_scale.items():
        measured = executor.map(OutputChange(scale), [[u] for u in units], setup=setup)
        for unit, change in zip(units, track(measured, "causal", hook=hook, total=len(units))):
            changes[(unit, scale)] = change
    records = []
    for r in checked:
        with_concept = concept_clips(evidence[r.method][:, index[r.name]])
        off, up = changes[(r.unit, 0.0)], changes[(r.unit, amplify)]
        mine = specificity(off, with_concept)
        others = np.array([specificity(changes[(u, 0.0)], with_concept) for u in randoms[r.layer]])
        sd = float(others.std(ddof=1)) if len(others) > 1 else 0.0
        records.append(CausalEffect(
            unit=r.unit, layer=r.layer, index=r.index, name=r.name, method=r.method,
            clips_with=int(with_concept.sum()), clips_without=int((~with_concept).sum()),
            ablate_with=_mean(off, with_concept), ablate_without=_mean(off, ~with_concept),
            amplify_with=_mean(up, with_concept), amplify_without=_mean(up, ~with_concept),
            specificity=round(mine, 6), random_mean=round(float(others.mean()), 6),
            random_sd=round(sd, 6), z=round((mine - float(others.mean())) / sd, 4) if sd > 0 else None))
    return records


def _mean(change: np.ndarray, mask: np.ndarray) -> float:
    return round(float(change[mask].mean()), 6) if mask.any() else 0.0


def causal_summary(effects: Sequence[CausalEffect]) -> list[dict[str, Any]]:
    """Per layer: units checked, their mean specificity, the random units' mean, and how many beat them
    (``z > 2``)."""
    rows: dict[str, dict[str, Any]] = {}
    for e in effects:
        row = rows.setdefault(e.layer, {"layer": e.layer, "units": 0, "specificity": 0.0, "random": 0.0,
                                        "beats_random": 0})
        row["units"] += 1
        row["specificity"] += e.specificity
        row["random"] += e.random_mean or 0.0
        row["beats_random"] += int(e.z is not None and e.z > 2)
    for row in rows.values():
        row["specificity"] = round(row["specificity"] / row["units"], 4)
        row["random"] = round(row["random"] / row["units"], 4)
    return list(rows.values())
