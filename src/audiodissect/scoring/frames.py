"""Frame-level scoring: does a unit fire *when* its explained concept sounds?

For a unit of a layer recorded frame by frame and its explanation (one
concept), over the frames of clips with timed events:

- **IoU**: the unit's active frames are those above its ``quantile`` of all
  its frames (network dissection's rule: a threshold per unit by quantile);
  the concept's frames are those whose centre lies inside one of its events
  (:func:`~audiodissect.probes.events.frame_truth`); IoU = |both| / |either|.
- **AUPRC**: average precision of the unit's frame values ranking the
  concept's frames, threshold-free: the sum over the distinct values, highest
  first, of the recall gained times the precision there (tied frames count
  as one threshold, as scikit-learn's ``average_precision_score`` does, so a
  constant unit scores the concept's share of frames).

Scores are computed for all units of a layer at once, a block of units at a
time (:func:`frame_iou_auprc`). An explanation that no event carries (a
concept the events never name, or "unexplained") gets no score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import AudioDissectError
from ..probes.base import HELDOUT, PROBE
from ..probes.events import frame_truth
from ..rundir import RunDir

#: Default quantile above which a unit's frames are active.
QUANTILE = 0.9


def frame_iou_auprc(values: np.ndarray, truth: np.ndarray, *, quantile: float = QUANTILE
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU and AUPRC of each unit's frames against its concept's frames.

    Parameters
    ----------
    values : np.ndarray, shape (F, U)
        The units' frame activations.
    truth : np.ndarray, shape (F, U), bool
        Where each unit's explained concept sounds.
    quantile : float
        Active frames lie above this quantile of the unit's frames.

    Returns
    -------
    iou, auprc, threshold : np.ndarray, shape (U,)
        NaN where the concept never sounds in these frames.
    """
    if not 0.0 < quantile < 1.0:
        raise AudioDissectError(f"quantile must lie strictly between 0 and 1, got {quantile}")
    values = np.asarray(values, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    if values.shape != truth.shape:
        raise AudioDissectError(f"values {values.shape} and truth {truth.shape} differ in shape")
    threshold = np.quantile(values, quantile, axis=0)                                   # (U,)
    active = values > threshold
    union = (active | truth).sum(axis=0)
    iou = np.where(union > 0, (active & truth).sum(axis=0) / np.maximum(union, 1), 0.0)
    order = np.argsort(-values, axis=0, kind="stable")
    ranked = np.take_along_axis(values, order, axis=0)                                  # (F, U) highest first
    hits = np.cumsum(np.take_along_axis(truth, order, axis=0), axis=0)                  # true positives so far
    end = np.ones_like(truth)
    end[:-1] = ranked[:-1] != ranked[1:]                                                # last frame of a tie
    at_end = np.where(end, hits, 0)
    before = np.vstack([np.zeros((1, values.shape[1]), dtype=hits.dtype),
                        np.maximum.accumulate(at_end, axis=0)[:-1]])                    # hits at the previous end
    precision = hits / np.arange(1, len(values) + 1)[:, None]
    positives = truth.sum(axis=0)
    auprc = np.where(end, (hits - before) * precision, 0.0).sum(axis=0) / np.maximum(positives, 1)
    missing = positives == 0
    return np.where(missing, np.nan, iou), np.where(missing, np.nan, auprc), threshold


def score_frames(run: RunDir, explanations: dict[str, str], *, quantile: float = QUANTILE,
                 split: str = HELDOUT) -> list[dict[str, Any]]:
    """Score units' explanations frame by frame on the clips of `split` that have events.

    Parameters
    ----------
    run : RunDir
        Its layers recorded frame by frame, with ``events.csv``.
    explanations : dict of str to str
        ``{unit id: concept}`` (units of frame layers).
    quantile : float
    split : {"heldout", "probe", "all"}

    Returns
    -------
    list of dict
        One row per unit in `explanations` order: ``unit``, ``concept``, ``iou``,
        ``auprc``, ``base_rate`` (the concept's share of the frames), ``frames``;
        ``iou``/``auprc`` None where no event carries the concept.

    Raises
    ------
    AudioDissectError
        When the run has no events, no clip of `split` has any, or a unit's layer has no frames.
    """
    if split not in (HELDOUT, PROBE, "all"):
        raise AudioDissectError(f"unknown split {split!r}", hint="heldout, probe or all")
    events = run.events()
    if not events:
        raise AudioDissectError(f"{run.path} has no timed events to score frames against",
                                hint="record a probing set with events (scenes, or events=<csv>)")
    clips = run.clips()
    with_events = {e.clip for e in events}
    rows = np.array([i for i, c in enumerate(clips) if c.id in with_events and (split == "all" or c.split == split)],
                    dtype=np.int64)
    if not len(rows):
        raise AudioDissectError(f"no {split} clip of {run.path} has timed events")
    labels = sorted({e.label for e in events})
    by_layer: dict[str, list[tuple[str, int, str]]] = {}
    for uid, concept in explanations.items():
        layer, _, index = uid.rpartition("#")
        by_layer.setdefault(layer, []).append((uid, int(index), concept))
    out: dict[str, dict[str, Any]] = {}
    for layer, units in by_layer.items():
        frames = run.frames(layer)
        counts = frames.counts[rows]
        take = np.arange(counts.sum()) + np.repeat(frames.offsets[rows] - (np.cumsum(counts) - counts), counts)
        spans = np.asarray(frames.spans)[take]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        truth = frame_truth(events, [clips[r].id for r in rows], offsets, spans, labels)          # (F, L)
        column = {c: j for j, c in enumerate(labels)}
        known = [(uid, index, concept) for uid, index, concept in units if concept in column]
        if known:
            values = np.asarray(frames.values[:, [i for _, i, _ in known]])[take]                 # (F, u)
            if not np.isfinite(values).all():  # the recording never writes these: the run's values.npy was altered
                raise AudioDissectError(f"the frame activations of layer {layer!r} hold NaN or infinite values",
                                        hint="record the layer's frames again: audiodissect record --frames LAYER")
            per_unit = truth[:, [column[c] for _, _, c in known]]
            iou, auprc, _ = frame_iou_auprc(values, per_unit, quantile=quantile)
            for j, (uid, _, concept) in enumerate(known):
                out[uid] = {"unit": uid, "concept": concept, "iou": _none(iou[j]), "auprc": _none(auprc[j]),
                            "base_rate": float(per_unit[:, j].mean()), "frames": int(len(take))}
        for uid, _, concept in units:
            out.setdefault(uid, {"unit": uid, "concept": concept, "iou": None, "auprc": None, "base_rate": None,
                                 "frames": int(len(take))})
    return [out[uid] for uid in explanations]


def _none(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def mean_scores(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean IoU and AUPRC over the scored rows, with how many were scored of how many."""
    scored = [r for r in rows if r["iou"] is not None]
    return {"units": len(rows), "scored": len(scored),
            "iou": float(np.mean([r["iou"] for r in scored])) if scored else None,
            "auprc": float(np.mean([r["auprc"] for r in scored])) if scored else None,
            "base_rate": float(np.mean([r["base_rate"] for r in scored])) if scored else None}


def explanations(run: RunDir, source: str = "names", *, layers: Sequence[str] | None = None) -> dict[str, str]:
    """Each unit's explanation from a run: its one name (``"names"``) or an identify method's top concept.

    Parameters
    ----------
    source : str
        ``"names"`` (named and ambiguous units; unexplained ones left out) or
        ``"<method>/<similarity>"`` (e.g. ``"tab/cos"``), as the report keys them.
    layers : sequence of str, optional
        Only units of these layers (default: the run's frame layers).

    Returns
    -------
    dict of str to str
        ``{unit id: concept}``.
    """
    wanted = set(layers if layers is not None else run.frame_layers())
    if source == "names":
        return {r.unit: r.name for r in run.read_units("names") if r.name and r.layer in wanted}
    found = {}
    for r in run.read_units("identify"):
        key = f"{r.method}/{r.similarity}" if r.similarity else r.method
        if key == source and r.layer in wanted and r.concepts:
            found[r.unit] = r.concepts[0]
    if not found:
        raise AudioDissectError(f"no identify result {source!r} for the frame layers of {run.path}",
                                hint="give 'names' or a method/similarity pair the identify stage ran, e.g. tab/cos")
    return found
