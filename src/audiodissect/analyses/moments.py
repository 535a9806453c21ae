"""Moments: when, inside which clip, a unit fires most, for layers recorded frame by frame.

A unit's moments are its highest frames over the probe clips, one per clip
(the clip's peak frame), the clips ranked by that peak: a moment is (clip,
time), with the frame's span, the activation, a snippet around it (the
frame's centre plus and minus half of ``snippet_seconds``, kept inside the
clip) and the events sounding at its centre when the run has events.
Everything is computed for many units of a layer at once, one column block
at a time (:func:`layer_moments`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import AudioDissectError
from ..frames import FrameActivations
from ..rundir import RunDir, parse_unit_id


@dataclasses.dataclass(frozen=True)
class Moments:
    """The top moments of some units of one layer.

    Attributes
    ----------
    units : np.ndarray, shape (u,)
        Unit indices in the layer.
    rows : np.ndarray, shape (u, k), int64
        Clip rows of the run (-1 where a unit has fewer than k clips).
    frames : np.ndarray, shape (u, k), int64
        The peak frame within each clip.
    values : np.ndarray, shape (u, k), float32
        The activation at that frame.
    """

    units: np.ndarray
    rows: np.ndarray
    frames: np.ndarray
    values: np.ndarray


def layer_moments(frames: FrameActivations, units: Sequence[int], *, rows: np.ndarray, k: int,
                  block: int = 256) -> Moments:
    """Each unit's top-`k` moments among the clips `rows`, one moment (its peak frame) per clip.

    Parameters
    ----------
    frames : FrameActivations
        The layer's frames over all N clips of the run.
    units : sequence of int, shape (u,)
    rows : np.ndarray, shape (n,)
        Clip rows the moments may come from (the probe clips).
    k : int
    block : int
        Units read at once (bounds memory to F x block values).

    Returns
    -------
    Moments
        Ranked by activation, highest first; ties keep clip order.
    """
    if k < 1:
        raise AudioDissectError(f"k must be at least 1, got {k}")
    units = np.asarray(units, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    k_eff = min(k, len(rows))
    out_rows = np.full((len(units), k), -1, dtype=np.int64)
    out_frames = np.full((len(units), k), -1, dtype=np.int64)
    out_values = np.full((len(units), k), np.nan, dtype=np.float32)
    starts = frames.offsets[:-1]
    n_frames = len(frames.values)
    position = np.arange(n_frames, dtype=np.int64)[:, None]
    clip_of_frame = frames.clip_of_frame()
    for lo in range(0, len(units), block):
        cols = units[lo:lo + block]
        values = np.asarray(frames.values[:, cols], dtype=np.float32)               # (F, b)
        if not np.isfinite(values).all():  # the recording never writes these: the run's values.npy was altered
            raise AudioDissectError("frame activations hold NaN or infinite values (units "
                                    f"{cols[~np.isfinite(values).all(axis=0)].tolist()[:5]})",
                                    hint="record the layer's frames again: audiodissect record --frames LAYER")
        peak = np.maximum.reduceat(values, starts, axis=0)                           # (N, b)
        at_peak = np.where(values == peak[clip_of_frame], position, n_frames)        # (F, b)
        first = np.minimum.reduceat(at_peak, starts, axis=0)                         # (N, b) frame index
        order = np.argsort(-peak[rows], axis=0, kind="stable")[:k_eff]               # (k, b)
        chosen = rows[order]                                                         # (k, b) clip rows
        out_rows[lo:lo + len(cols), :k_eff] = chosen.T
        out_frames[lo:lo + len(cols), :k_eff] = (np.take_along_axis(first[rows], order, axis=0)
                                                 - starts[chosen]).T
        out_values[lo:lo + len(cols), :k_eff] = np.take_along_axis(peak[rows], order, axis=0).T
    return Moments(units=units, rows=out_rows, frames=out_frames, values=out_values)


def snippet_bounds(centre: np.ndarray, clip_end: np.ndarray, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Snippets of `seconds` centred on `centre` (s), shifted to lie inside [0, `clip_end`]; both shape as `centre`."""
    half = seconds / 2.0
    start = np.clip(centre - half, 0.0, np.maximum(clip_end - seconds, 0.0))
    return start, np.minimum(start + seconds, clip_end)


def unit_moments(run: RunDir, unit: str, *, k: int = 5, snippet_seconds: float = 1.0) -> list[dict[str, Any]]:
    """One unit's top moments as plain rows (see :func:`moments_rows`)."""
    return moments_rows(run, [unit], k=k, snippet_seconds=snippet_seconds)[unit]


def moments_rows(run: RunDir, units: Sequence[str], *, k: int = 5,
                 snippet_seconds: float = 1.0) -> dict[str, list[dict[str, Any]]]:
    """The top moments of `units` (``"<layer>#<index>"``, their layers recorded frame by frame).

    Returns
    -------
    dict of str to list of dict
        Per unit, ranked rows with ``unit``, ``rank``, ``clip``, ``label``,
        ``frame``, ``start``, ``end``, ``time`` (the frame's centre),
        ``activation``, ``snippet_start``, ``snippet_end`` (seconds) and
        ``events`` (the labels sounding at ``time``, when the run has events).

    Raises
    ------
    AudioDissectError
        For a unit of a layer without frames, or an index outside its layer.
    """
    if not snippet_seconds > 0:  # NaN too
        raise AudioDissectError(f"snippet_seconds must be positive, got {snippet_seconds}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise AudioDissectError(f"k must be a whole number of at least 1, got {k!r}")
    clips = run.clips()
    probe_rows = run.probe_rows()
    events = run.events()
    by_clip: dict[str, list[Any]] = {}
    for e in events:
        by_clip.setdefault(e.clip, []).append(e)
    by_layer: dict[str, list[int]] = {}
    for uid in units:
        layer, index = parse_unit_id(uid)
        by_layer.setdefault(layer, []).append(index)
    out: dict[str, list[dict[str, Any]]] = {}
    for layer, indices in by_layer.items():
        frames = run.frames(layer)
        width = frames.values.shape[1]
        bad = [i for i in indices if not 0 <= i < width]
        if bad:
            raise AudioDissectError(f"layer {layer!r} has {width} units, no unit #{bad[0]}")
        # one moment per clip at most: a huge k (the run's report.moments setting) allocates no more
        found = layer_moments(frames, indices, rows=probe_rows, k=min(k, max(len(probe_rows), 1)))
        clip_end = frames.spans[frames.offsets[1:] - 1, 1].astype(np.float64)         # (N,) last frame's end
        for j, index in enumerate(indices):
            valid = found.rows[j] >= 0
            r, f = found.rows[j][valid], found.frames[j][valid]
            span = np.asarray(frames.spans[frames.offsets[r] + f], dtype=np.float64)  # (k, 2)
            centre = span.mean(axis=1)
            start, stop = snippet_bounds(centre, clip_end[r], snippet_seconds)
            rows = []
            for rank in range(len(r)):
                clip = clips[int(r[rank])]
                sounding = sorted({e.label for e in by_clip.get(clip.id, []) if e.onset <= centre[rank] < e.offset})
                rows.append({"unit": f"{layer}#{index}", "rank": rank + 1, "clip": clip.id, "label": clip.label,
                             "frame": int(f[rank]), "start": float(span[rank, 0]), "end": float(span[rank, 1]),
                             "time": float(centre[rank]), "activation": float(found.values[j][valid][rank]),
                             "snippet_start": float(start[rank]), "snippet_end": float(stop[rank]),
                             "events": "+".join(sounding)})
            out[f"{layer}#{index}"] = rows
    return out
