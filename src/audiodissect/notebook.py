"""What the notebook calls of :class:`~audiodissect.Dissection` compute: new audio's activations for chosen units
(run-with-cache style, through the recording's own hooks) and a unit's top clips with their audio."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AudioDissectError
from .probes.base import ProbeSet
from .records import parse_unit_id
from .results import Activations, TopClip, TopClips, UnitActivations


#: A 2-D array with at most this many columns (and more rows) is taken for one clip's channels, not clips.
MAX_CHANNELS = 8


def _silent(stage: str, artefact: str | None = None, *, completed: int, total: int | None) -> None:
    """No progress for a handful of new clips."""


def waveforms(clips: Any, *, rate: int, given_rate: int | None = None) -> tuple[list[np.ndarray], list[str]]:
    """(waveforms (T_i,) float32 at `rate`, their names) from arrays, audio files or a probing set.

    Parameters
    ----------
    clips : np.ndarray (T,) or (n, T), sequence of arrays or paths, path, or ProbeSet
    rate : int
        The model's rate, Hz.
    given_rate : int, optional
        The rate of arrays (default `rate`); files and probing sets carry their own.
    """
    from .audio import resample
    from .probes.decode import BadClipError, read_clip

    if isinstance(clips, ProbeSet):
        return [clips.audio(i, sample_rate=rate) for i in range(len(clips))], [c.id for c in clips.clips]
    if given_rate is not None and (isinstance(given_rate, bool) or not isinstance(given_rate, (int, np.integer))
                                   or given_rate < 1):
        raise AudioDissectError(f"sample_rate must be a whole number of Hz, got {given_rate!r}",
                                hint=f"e.g. sample_rate=16000 (the model's rate is {rate})")
    if isinstance(clips, (str, os.PathLike)):
        clips = [clips]
    if isinstance(clips, np.ndarray):
        if clips.ndim not in (1, 2):
            raise AudioDissectError(f"waveforms must be (T,) or (n, T), got an array of shape {clips.shape}")
        if clips.ndim == 2 and clips.shape[1] <= MAX_CHANNELS < clips.shape[0]:
            raise AudioDissectError(f"an array of shape {clips.shape} reads as {clips.shape[0]} clips of "
                                    f"{clips.shape[1]} samples: it looks like one clip's channels (T, channels)",
                                    hint="pass mono audio: wave.mean(axis=1) (or (n, T) for n clips)")
        clips = [clips] if clips.ndim == 1 else list(clips)
    items = list(clips)
    if not items:
        raise AudioDissectError("no clips given")
    waves, names = [], []
    for i, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            try:
                audio, source_rate = read_clip(item)
            except BadClipError as exc:
                raise AudioDissectError(str(exc)) from None
            waves.append(resample(audio, source_rate, rate))
            names.append(Path(item).name)
        else:
            raw = np.asarray(item)
            if raw.dtype.kind not in "fiu":  # complex, text, objects: no waveform
                raise AudioDissectError(f"clip {i} must hold real-valued samples, got {raw.dtype}")
            wave = raw.astype(np.float32)
            if wave.ndim != 1 or wave.size == 0:
                raise AudioDissectError(f"clip {i} must be a non-empty (T,) waveform, got shape {wave.shape}")
            if not np.isfinite(wave).all():  # the record stage drops such clips; new audio is refused
                raise AudioDissectError(f"clip {i} holds {int((~np.isfinite(wave)).sum())} NaN or infinite samples",
                                        hint="clean the audio first, e.g. np.nan_to_num(wave)")
            waves.append(resample(wave, int(given_rate), rate) if given_rate and int(given_rate) != rate else wave)
            names.append(f"clip{i}")
    return waves, names


def _wanted(item: str) -> tuple[str, int | None]:
    """``"fc#3"`` -> ("fc", 3); a layer path or pattern -> (it, None)."""
    layer, sep, index = str(item).rpartition("#")
    return (layer, int(index)) if sep and index.isascii() and index.isdigit() else (str(item), None)


def unit_activations(target: Any, clips: Any, units: str | Sequence[str], *, settings: Any,
                     sample_rate: int | None = None, names: Sequence[str] | None = None,
                     classes: dict[str, str] | None = None) -> UnitActivations:
    """`units`' activations on new `clips`, recorded with the record stage's hooks, pooling, windows and batches.

    Parameters
    ----------
    target : Target
    clips
        See :func:`waveforms`.
    units : str or sequence of str
        Unit ids (``"fc#3"``), layer paths or glob patterns (every unit of the layers they match).
    settings : RecordConfig
        ``pool``, ``batch_size`` and ``window_seconds`` as the run recorded with.
    sample_rate : int, optional
        The rate of waveforms given as arrays.
    names : sequence of str, optional
        Row names.
    classes : dict of str to str, optional
        The output units' classes.
    """
    from .layers import resolve_layers
    from .record import record_waveforms

    waves, row_names = waveforms(clips, rate=target.sample_rate, given_rate=sample_rate)
    if names is not None:
        if len(names) != len(waves):
            raise AudioDissectError(f"{len(names)} names for {len(waves)} clips")
        row_names = [str(n) for n in names]
    wanted = [_wanted(item) for item in ([units] if isinstance(units, str) else list(units))]
    if not wanted:
        raise AudioDissectError("no units given", hint='name units ("fc#3"), layers ("fc") or globs ("conv*")')
    arrays, logits = record_waveforms(target, waves, list(dict.fromkeys(layer for layer, _ in wanted)),
                                      pool=settings.pool, batch_size=settings.batch_size,
                                      window_seconds=settings.window_seconds, names=row_names, hook=_silent)
    columns, ids = [], []
    for layer, index in wanted:
        if index is not None:
            width = arrays[layer].shape[1]
            if index >= width:
                raise AudioDissectError(f"unit {layer}#{index!r} does not exist: layer {layer!r} has {width} units "
                                        f"(#0 to #{width - 1})")
            columns.append(arrays[layer][:, index])
            ids.append(f"{layer}#{index}")
            continue
        for name in resolve_layers(target.module, [layer]):
            columns += [arrays[name][:, i] for i in range(arrays[name].shape[1])]
            ids += [f"{name}#{i}" for i in range(arrays[name].shape[1])]
    values = np.stack(columns, axis=1).astype(np.float32) if columns else np.zeros((len(waves), 0), np.float32)
    return UnitActivations(units=ids, clips=row_names, values=values, logits=logits,
                           classes={u: c for u, c in (classes or {}).items() if u in ids})


def top_clips(acts: Activations, unit: str, *, k: int, bottom: bool, split: str | None, probe: Any,
              sample_rate: int, descriptions: Sequence[str] | None) -> TopClips:
    """A unit's `k` most (least, with `bottom`) activating clips of `split` (None: all), audio read from `probe`
    (whose clip i is row i of the arrays) at `sample_rate` when asked."""
    layer, index = parse_unit_id(unit)
    array = acts[layer]
    if index >= array.shape[1]:
        raise AudioDissectError(f"unit {unit!r} does not exist: layer {layer!r} has {array.shape[1]} units")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise AudioDissectError(f"k must be a whole number of at least 1, got {k!r}")
    rows = np.arange(len(acts.clips)) if split is None else \
        np.array([i for i, c in enumerate(acts.clips) if c.split == split], dtype=np.int64)
    if len(rows) == 0:
        raise AudioDissectError(f"the run has no {split!r} clips")
    values = np.asarray(array[rows, index], dtype=np.float64)
    order = np.argsort(values if bottom else -values, kind="stable")[: int(k)]

    position = {c.id: i for i, c in enumerate(getattr(probe, "clips", None) or [])}

    def reader(row: int) -> Callable[[], np.ndarray]:
        clip_id = acts.clips[row].id

        def read() -> np.ndarray:  # by the clip's id: a probing set other than the run's has other rows
            if clip_id not in position:
                raise AudioDissectError(f"clip {clip_id!r} of the run is not in the probing set given, so its audio "
                                        "cannot be read", hint="open the run with the probing set it recorded")
            return probe.audio(position[clip_id], sample_rate=sample_rate)
        return read

    clips = [TopClip(unit=unit, rank=rank + 1, row=int(rows[j]), clip=acts.clips[int(rows[j])],
                     activation=float(values[j]), description=descriptions[int(rows[j])] if descriptions else None,
                     sample_rate=sample_rate, _read=reader(int(rows[j])))
             for rank, j in enumerate(order)]
    return TopClips(unit=unit, clips=clips, bottom=bottom, class_name=acts.unit_classes.get(unit))
