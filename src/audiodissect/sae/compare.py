"""Neurons against latents on one layer: confident names, explanation scores and pruning selectivity.

For a layer L and the latents of its SAE (``sae.L``), recorded in the same
run and carried through identify and score, side by side. Units constant on
the probe clips (dead latents, dead neurons) have no best concept; they are
counted, but left out of the shares and of pruning (:func:`live_units`):

- **names** (:func:`name_status_rows`): the identify stage's one answer per
  unit (``units/names.jsonl``): the share of live units named, ambiguous and
  unexplained, and how many distinct concepts the names cover.
- **confident names** (:func:`confident_names`): a unit's closed-set name is
  confident when its top-1 concept stays the top-1 on at least 90 % of 20
  bootstrap resamples of the probe clips (the name's margin over the
  runner-up exceeds what resampling the probe moves). The scores are
  recomputed from the run's evidence (``evidence/<method>.npy``) and
  activations with the identify stage's similarity variant.
- **explanation scores** (:func:`score_rows`): per explanation kind and
  predictor, the mean held-out Spearman of the score stage
  (``units/score.jsonl``; the simulation score of OpenAI's protocol) with a
  95 % bootstrap interval over units, and the same for the detection score
  (average precision of picking the unit's top held-out clips out of others).
- **pruning selectivity** (:func:`pruning_rows`): per class, the units of L
  (then the latents) whose top-3 concepts by one method include the class are
  ablated on the held-out clips; dA, dR and dR - dA as the pruning table
  reports them (:func:`audiodissect.prune.evaluate.pruning_table`), against
  as many random live units of the same layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import AudioDissectError
from ..prune.evaluate import pruning_table
from ..prune.replica import measure_row
from ..prune.runner import PruningContext, resolve_concepts
from ..prune.strategies import Selection, select_closed_set
from ..records import PruneRow, parse_unit_id, unit_id
from ..rundir import RunDir


def confident_names(evidence: np.ndarray, activations: np.ndarray, *, similarity: str, variant: str = "robust",
                    resamples: int = 20, agreement: float = 0.9, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's top-1 concept and whether it survives bootstrap resamples of the clips.

    Parameters
    ----------
    evidence : np.ndarray, shape (N, C)
        Clip-concept evidence on the probe clips.
    activations : np.ndarray, shape (N, U)
        The units on the same clips.
    similarity : str
        A similarity function's name.
    variant : {"robust", "paper"}
    resamples : int
        Bootstrap resamples of the N clips (with replacement).
    agreement : float
        Share of resamples whose top-1 must equal the full sample's.
    seed : int

    Returns
    -------
    top1 : np.ndarray, shape (U,), int
        Index of each unit's best concept (-1 when all its scores are equal).
    confident : np.ndarray, shape (U,), bool
    """
    from ..identify.units import score_units

    evidence = np.asarray(evidence, dtype=np.float32)
    activations = np.asarray(activations, dtype=np.float32)
    if evidence.shape[0] != activations.shape[0]:
        raise AudioDissectError(f"{evidence.shape[0]} evidence rows for {activations.shape[0]} activation rows")
    full = score_units(evidence, activations, similarity=similarity, variant=variant).numpy()
    top1 = full.argmax(axis=1)
    top1[np.ptp(full, axis=1) == 0] = -1
    rng = np.random.default_rng(seed)
    agree = np.zeros(len(top1), dtype=np.int64)
    n = evidence.shape[0]
    for _ in range(resamples):
        rows = np.sort(rng.integers(0, n, size=n))
        scores = score_units(evidence[rows], activations[rows], similarity=similarity, variant=variant).numpy()
        agree += scores.argmax(axis=1) == top1
    return top1, (agree >= agreement * resamples) & (top1 >= 0)


def live_units(run: RunDir, layer: str) -> np.ndarray:
    """Which units of `layer` vary over the probe clips, shape (U,) bool (a dead latent is zero on all of them)."""
    acts = np.asarray(run.activations(layer))[run.probe_rows()]
    return np.ptp(acts, axis=0) > 0


def mean_interval(values: Sequence[float], *, resamples: int = 1000, level: float = 0.95,
                  seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` and its percentile bootstrap interval (NaN for no values)."""
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1 - level) / 2
    return float(values.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def naming_rows(run: RunDir, groups: Mapping[str, str], *, pairs: Sequence[tuple[str, str]],
                variant: str = "robust", resamples: int = 20, agreement: float = 0.9) -> list[dict[str, Any]]:
    """Confidently named share per (group, method, similarity).

    Parameters
    ----------
    run : RunDir
        With the identify stage's evidence and the recorded layers.
    groups : mapping of str to str
        ``{label: recorded layer}``, e.g. ``{"neurons": "fc", "latents": "sae.fc"}``.
    pairs : sequence of (method, similarity)

    Returns
    -------
    list of dict
        ``group``, ``layer``, ``method``, ``similarity``, ``units``, ``live`` (units that vary over the
        probe clips), ``confident`` (share of the live units), ``confident_all`` (share of all units)
        and ``distinct`` (distinct confident top-1 concepts).
    """
    rows = run.probe_rows()
    out = []
    for method, similarity in pairs:
        evidence = run.evidence(method)[rows]
        for label, layer in groups.items():
            acts = np.asarray(run.activations(layer))[rows]
            top1, confident = confident_names(evidence, acts, similarity=similarity, variant=variant,
                                              resamples=resamples, agreement=agreement)
            live = np.ptp(acts, axis=0) > 0
            out.append({"group": label, "layer": layer, "method": method, "similarity": similarity,
                        "units": int(len(top1)), "live": int(live.sum()),
                        "confident": float(confident[live].mean()) if live.any() else 0.0,
                        "confident_all": float(confident.mean()),
                        "distinct": int(len(set(top1[confident].tolist())))})
    return out


def name_status_rows(run: RunDir, groups: Mapping[str, str]) -> list[dict[str, Any]]:
    """The identify stage's answers per group: shares of live units named, ambiguous and unexplained.

    Parameters
    ----------
    run : RunDir
        With the identify stage's ``units/names.jsonl`` covering every group's layer.
    groups : mapping of str to str
        ``{label: recorded layer}``.

    Returns
    -------
    list of dict
        ``group``, ``layer``, ``units``, ``live``, ``named``, ``ambiguous``, ``unexplained`` (shares of the
        live units) and ``distinct`` (distinct concepts among the named units).
    """
    names = run.read_units("names")
    out = []
    for label, layer in groups.items():
        live = live_units(run, layer)
        answers = [r for r in names if r.layer == layer and live[r.index]]
        if len(answers) != int(live.sum()):
            raise AudioDissectError(f"{run.path}'s names do not cover the live units of {layer!r}",
                                    hint=f"run `audiodissect identify --run {run.path}` after recording it")
        count = {status: sum(r.status == status for r in answers) for status in ("named", "ambiguous",
                                                                                  "unexplained")}
        share = {status: n / len(answers) if answers else 0.0 for status, n in count.items()}
        out.append({"group": label, "layer": layer, "units": int(live.size), "live": len(answers), **share,
                    "distinct": len({r.name for r in answers if r.status == "named"})})
    return out


def score_rows(run: RunDir, groups: Mapping[str, str], *, measure: str = "spearman") -> list[dict[str, Any]]:
    """Mean held-out score per (explanation, predictor) and group, with 95 % bootstrap intervals over units.

    Parameters
    ----------
    run : RunDir
        With the score stage's ``units/score.jsonl``.
    groups : mapping of str to str
        ``{label: recorded layer}``.
    measure : {"spearman", "detection_auprc"}
        The simulation score (Spearman of predicted against real activations) or the detection score.

    Returns
    -------
    list of dict
        ``explanation``, ``predictor`` and per group label ``<label>`` (mean), ``<label>_low``,
        ``<label>_high``, ``<label>_n``.
    """
    if measure not in ("spearman", "detection_auprc"):
        raise AudioDissectError(f"unknown score measure {measure!r}", hint="spearman or detection_auprc")
    records = run.read_units("score")
    by_key: dict[tuple[str, str], dict[str, list[float]]] = {}
    layer_group = {layer: label for label, layer in groups.items()}
    for r in records:
        label = layer_group.get(r.layer)
        value = getattr(r, measure)
        if label is None or value is None:
            continue
        by_key.setdefault((r.explanation, r.predictor), {}).setdefault(label, []).append(float(value))
    out = []
    for (explanation, predictor), values in sorted(by_key.items()):
        row: dict[str, Any] = {"explanation": explanation, "predictor": predictor}
        for label in groups:
            mean, low, high = mean_interval(values.get(label, []))
            row.update({label: mean, f"{label}_low": low, f"{label}_high": high,
                        f"{label}_n": len(values.get(label, []))})
        out.append(row)
    return out


def pruning_rows(run: RunDir, target: Any, probe: Any, groups: Mapping[str, str], *, concepts: Sequence[str],
                 method: str = "tab", similarity: str = "soft_wpmi", top: int = 3, seeds: int = 1,
                 batch_size: int = 32) -> tuple[list[dict[str, Any]], list[PruneRow]]:
    """Pruning each concept's units within one group's layer, against random units of that layer.

    Parameters
    ----------
    run : RunDir
        With identify results for every group's layer.
    target, probe
        The run's model (with the SAE attached) and probing set.
    groups : mapping of str to str
        ``{label: recorded layer}``; selections are named ``<label>/<method>``. Only live units
        (:func:`live_units`) are chosen, by the method and by the random draws.
    concepts : sequence of str
        Class names, ``["all"]`` or ``["sample:N"]`` (as the prune stage reads them).
    method, similarity : str
        Which identify records choose the units (a unit is chosen when the concept is among its `top`).
    seeds : int
        Random draws per selection.

    Returns
    -------
    table : list of dict
        :func:`~audiodissect.prune.evaluate.pruning_table` rows (strategies ``<label>/<method>`` and
        ``random~<label>/<method>``).
    rows : list of PruneRow
        One per measured selection.
    """
    ctx = PruningContext(run, target, probe, batch_size=batch_size, include_output_layer=True)
    records = ctx.records("identify")
    for layer in groups.values():
        if layer not in ctx.layers:
            raise AudioDissectError(f"{run.path} has no recorded layer {layer!r}")
    live = {layer: np.flatnonzero(live_units(run, layer)) for layer in groups.values()}
    measured = []
    for concept in resolve_concepts(ctx, list(concepts)):
        for label, layer in groups.items():
            chosen = select_closed_set(records, concept, method=method, similarity=similarity,
                                       layers={layer: ctx.layers[layer]}, top=top)
            alive = set(live[layer].tolist())
            units = [u for u in chosen.units if parse_unit_id(u)[1] in alive]
            name = f"{label}/{method}"
            selections = [Selection(strategy=name, concept=concept, units=units,
                                    reasons={u: chosen.reasons[u] for u in units})]
            for seed in range(seeds if units else 0):
                drawn = np.sort(np.random.default_rng(seed).choice(live[layer], size=len(units), replace=False))
                picked = [unit_id(layer, i) for i in drawn.tolist()]
                selections.append(Selection(strategy="random", concept=concept, units=picked, seed=seed,
                                            reference=name, reasons={u: f"random draw (seed {seed})" for u in picked}))
            measured += [measure_row(ctx, selection) for selection in selections]
    return pruning_table([row.to_json() for row in measured]), measured
