"""Which classes lose confidence when a concept's units are pruned (paper Fig. 10).

For every pruned concept and strategy, the mean change of the true-class
logit of each class's held-out clips (``class_change`` of
:func:`~audiodissect.prune.evaluate.pruning_effect`), averaged over the
selections of that strategy (random draws: over seeds). A selective strategy
makes the concept's own class lose the most: the diagonal of the concept x
class matrix is its darkest cell. Selections that pruned no unit are left
out, as in the pruning table.

Reads ``pruning/results.jsonl`` only (no model pass). Files written::

    pruning/class_drop.csv    one row per (strategy, concept, class): mean confidence change
    pruning/class_drop.json   per strategy: how often and how far the concept's own class loses most,
                              and the names of these files
    pruning/class_drop.png    heat maps concept x class of the mean confidence change, one per strategy
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import atomic_path, read_json, write_json, write_text
from ..class_names import class_names_lookup, normalize_concept
from ..errors import AudioDissectError
from ..rundir import CLASS_DROP_CSV, CLASS_DROP_JSON, CLASS_DROP_PNG, PRUNING_BASELINE, PRUNING_RESULTS, RunDir
from .evaluate import table_strategy

CSV_NAME = Path(CLASS_DROP_CSV).name
JSON_NAME = Path(CLASS_DROP_JSON).name
PNG_NAME = Path(CLASS_DROP_PNG).name
CSV_COLUMNS = ("strategy", "concept", "class", "change", "own", "units_pruned", "selections")


@dataclass
class ClassDrop:
    """The per-class confidence changes of one strategy.

    Attributes
    ----------
    strategy : str
        Table strategy (``"tab"``, ``"random~tab"``, ...).
    concepts : list of str, length R
        Pruned concepts, in first-seen order.
    classes : list of int, length K
        Class indices with held-out clips, ascending.
    change : np.ndarray, shape (R, K)
        Mean confidence change of class k's clips after pruning concept r's units (NaN: not measured).
    own : np.ndarray, shape (R,), int64
        Column of each concept's own class, -1 when it has no held-out clips.
    units : np.ndarray, shape (R,)
        Mean number of units pruned per concept.
    selections : np.ndarray, shape (R,), int64
        Selections averaged per concept (random: seeds).
    """

    strategy: str
    concepts: list[str]
    classes: list[int]
    change: np.ndarray
    own: np.ndarray
    units: np.ndarray
    selections: np.ndarray

    def own_rank(self) -> np.ndarray:
        """Rank of each concept's own class by change, 1 = loses most; shape (R,), NaN without its class."""
        rows = np.arange(len(self.concepts))
        own_value = np.where(self.own >= 0, self.change[rows, np.maximum(self.own, 0)], np.nan)
        with np.errstate(invalid="ignore"):
            below = np.sum(self.change < own_value[:, None], axis=1)
        return np.where(np.isfinite(own_value), 1.0 + below, np.nan)


def class_drop_matrices(results: Sequence[Mapping[str, Any]],
                        class_names: Sequence[str]) -> dict[str, ClassDrop]:
    """Concept x class matrices of mean confidence change, one per table strategy.

    Parameters
    ----------
    results : sequence of dict
        ``pruning/results.jsonl`` rows (``concept``, ``strategy``, ``reference``,
        ``units_pruned``, ``class_change``).
    class_names : sequence of str
        The model's classes (the keys of ``class_change`` index them).

    Returns
    -------
    dict of str to ClassDrop
        Strategies in first-seen order.

    Raises
    ------
    AudioDissectError
        When a row has no ``class_change`` (measured before per-class changes were kept).
    """
    stale = [r for r in results if r.get("class_change") is None]
    if stale:
        raise AudioDissectError(f"{len(stale)} pruning results hold no per-class changes "
                                f"(e.g. {stale[0].get('concept')!r}, {stale[0].get('label')!r})",
                                hint="measure them again: `audiodissect evaluate pruning --run DIR`")
    kept = [r for r in results if int(r["units_pruned"]) > 0]
    classes = sorted({int(k) for r in kept for k in r["class_change"]})
    column = {k: j for j, k in enumerate(classes)}
    lookup = class_names_lookup(class_names)
    grouped: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for row in kept:
        grouped.setdefault(table_strategy(row), {}).setdefault(row["concept"], []).append(row)
    out = {}
    for strategy, per_concept in grouped.items():
        concepts = list(per_concept)
        sums = np.zeros((len(concepts), len(classes)))
        counts = np.zeros((len(concepts), len(classes)))
        for i, concept in enumerate(concepts):
            for row in per_concept[concept]:
                cols = [column[int(k)] for k in row["class_change"]]
                values = np.array([_number(v) for v in row["class_change"].values()], dtype=np.float64)
                finite = np.isfinite(values)
                np.add.at(sums[i], np.array(cols, dtype=np.int64)[finite], values[finite])
                np.add.at(counts[i], np.array(cols, dtype=np.int64)[finite], 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            change = np.where(counts > 0, sums / np.maximum(counts, 1.0), np.nan)
        own = np.array([column.get(lookup.get(normalize_concept(c), -1), -1) for c in concepts], dtype=np.int64)
        units = np.array([np.mean([float(r["units_pruned"]) for r in per_concept[c]]) for c in concepts])
        selections = np.array([len(per_concept[c]) for c in concepts], dtype=np.int64)
        out[strategy] = ClassDrop(strategy, concepts, classes, change, own, units, selections)
    return out


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def class_drop_rows(matrices: Mapping[str, ClassDrop], class_names: Sequence[str]) -> list[dict[str, Any]]:
    """Long-format rows (:data:`CSV_COLUMNS`), one per measured (strategy, concept, class)."""
    rows = []
    for drop in matrices.values():
        r, k = np.nonzero(np.isfinite(drop.change))
        rows += [{"strategy": drop.strategy, "concept": drop.concepts[i], "class": class_names[drop.classes[j]],
                  "change": float(drop.change[i, j]), "own": int(drop.own[i] == j),
                  "units_pruned": float(drop.units[i]), "selections": int(drop.selections[i])}
                 for i, j in zip(r.tolist(), k.tolist())]
    return rows


def class_drop_summary(matrices: Mapping[str, ClassDrop]) -> list[dict[str, Any]]:
    """Per strategy: does the concept's own class lose the most?

    Returns
    -------
    list of dict
        ``strategy``, ``n_concepts`` (with their class among the held-out
        classes), ``n_classes``, ``own_first`` (concepts whose own class loses
        most), ``mean_own_rank`` (1 = always first), ``own_change`` (mean over
        concepts of the own class's change), ``other_change`` (mean over concepts
        of the mean change of the other classes, each class weighted equally)
        and ``gap`` = other_change - own_change (positive: the own class loses more).
    """
    summary = []
    for drop in matrices.values():
        has_own = drop.own >= 0
        change = drop.change[has_own]                       # (r, K)
        own = drop.own[has_own]
        own_change = change[np.arange(len(change)), own]    # (r,)
        others = np.isfinite(change)
        others[np.arange(len(change)), own] = False
        count = others.sum(axis=1)
        other = np.where(count > 0, np.where(others, change, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)
        rank = drop.own_rank()[has_own]
        row = {"strategy": drop.strategy, "n_concepts": int(has_own.sum()), "n_classes": len(drop.classes),
               "own_first": int(np.sum(rank == 1)), "mean_own_rank": _mean(rank),
               "own_change": _mean(own_change), "other_change": _mean(other)}
        row["gap"] = (row["other_change"] - row["own_change"]
                      if row["own_change"] is not None and row["other_change"] is not None else None)
        summary.append(row)
    return summary


def _mean(values: np.ndarray) -> float | None:
    """Mean of the finite values, None when there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


def plot_class_drop(matrices: Mapping[str, ClassDrop], class_names: Sequence[str], path: str | Path, *,
                    title: str = "") -> Path:
    """Heat maps concept x class of the mean confidence change, one panel per strategy; own classes outlined.

    One colour scale for all panels, symmetric about zero (red: confidence lost, blue: gained).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    drops = list(matrices.values())
    if not drops:
        raise AudioDissectError("no pruning selection removed any unit: nothing to plot",
                                hint="prune concepts whose strategies choose units")
    n_cols = min(3, len(drops))
    n_rows = math.ceil(len(drops) / n_cols)
    n_classes = max(len(d.classes) for d in drops)
    n_concepts = max(len(d.concepts) for d in drops)
    cell = 0.16 if max(n_classes, n_concepts) > 20 else 0.4
    fontsize = 5 if max(n_classes, n_concepts) > 20 else 8
    width = n_cols * max(3.0, cell * n_classes + 1.6) + 1.2
    height = n_rows * max(2.4, cell * n_concepts + 1.6) + 0.6
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width, height), dpi=100, squeeze=False, layout="constrained")
    finite = np.concatenate([d.change[np.isfinite(d.change)] for d in drops])
    limit = float(np.max(np.abs(finite))) if len(finite) else 1.0
    limit = limit if limit > 0 else 1.0
    image = None
    for n, (ax, drop) in enumerate(zip(axes.ravel(), drops)):
        image = ax.imshow(np.ma.masked_invalid(drop.change), cmap="RdBu", vmin=-limit, vmax=limit,
                          aspect="auto", interpolation="nearest")
        rows = np.nonzero(drop.own >= 0)[0]
        ax.add_collection(PatchCollection([Rectangle((c - 0.5, r - 0.5), 1, 1) for r, c in zip(rows, drop.own[rows])],
                                          facecolor="none", edgecolor="black", linewidth=2.0))
        ax.set_title(f"{drop.strategy} ({len(drop.concepts)} concepts)", fontsize=9)
        ax.set_xticks(np.arange(len(drop.classes)))
        ax.set_xticklabels([class_names[k] for k in drop.classes], rotation=90, fontsize=fontsize)
        ax.set_yticks(np.arange(len(drop.concepts)))
        ax.set_yticklabels(drop.concepts, fontsize=fontsize)
        if n // n_cols == n_rows - 1 or n + n_cols >= len(drops):
            ax.set_xlabel("held-out class", fontsize=8)
        if n % n_cols == 0:
            ax.set_ylabel("pruned concept", fontsize=8)
    for ax in axes.ravel()[len(drops):]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="mean change of the true-class logit")
    fig.suptitle(title or "Per-class confidence change after pruning a concept's units (own class outlined)",
                 fontsize=10)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def run_class_names(run: RunDir) -> list[str]:
    """The class names the pruning was measured with (``pruning/baseline.json``, else the recording's)."""
    meta = run.file(PRUNING_BASELINE)
    names = read_json(meta).get("class_names") if meta.exists() else None
    if not names and run.has_stage("record"):
        names = run.stage("record").get("class_names")
    if not names:
        raise AudioDissectError(f"{run.path} names no classes for its pruning results",
                                hint="run `audiodissect evaluate pruning --run DIR` first")
    return list(names)


def write_class_drop(run: RunDir, *, results: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Write ``pruning/class_drop.csv``, ``class_drop.json`` and ``class_drop.png`` from the pruning results.

    Parameters
    ----------
    run : RunDir
    results : sequence of dict, optional
        Pruning rows; default ``pruning/results.jsonl``.

    Returns
    -------
    dict
        ``summary`` (:func:`class_drop_summary`) and ``files`` (names under ``pruning/``).
    """
    if results is None:
        if not run.file(PRUNING_RESULTS).exists():
            raise AudioDissectError(f"{run.path} has no pruning results",
                                    hint=f"run `audiodissect prune --run {run.path}` first")
        results = run.read_prune_rows()
    names = run_class_names(run)
    matrices = class_drop_matrices(results, names)
    summary = class_drop_summary(matrices)
    write_text(run.file(CLASS_DROP_CSV), _csv_text(class_drop_rows(matrices, names)))
    files = {"csv": CSV_NAME, "json": JSON_NAME}
    if matrices:
        plot_class_drop(matrices, names, run.file(CLASS_DROP_PNG))
        files["png"] = PNG_NAME
    else:
        run.file(CLASS_DROP_PNG).unlink(missing_ok=True)  # no plot of an earlier, different set of results
    write_json(run.file(CLASS_DROP_JSON), {"strategies": summary, "files": files})
    return {"summary": summary, "files": files}
