"""Probing sets from Hugging Face ``datasets``: ``load_probe("hf-dataset:<id or path>", ...)``.

A local folder written by ``save_to_disk`` (a Dataset or a DatasetDict) is
read with ``datasets.load_from_disk``; anything else is taken for a hub id
and read with ``datasets.load_dataset`` (the network is needed the first
time). ``datasets`` comes with the ``hf`` extra.

Each row is one clip. Its audio is decoded from the raw bytes (or the file
a path names; a relative one from the data set's folder) with soundfile,
mixed to mono and resampled on request; every clip is decoded once at load
time, and a bad one (undecodable, truncated, empty, silent, not finite, a
missing file) is reported in ``probe.skipped``. The label is a ClassLabel's
name or the column's value as a string; other columns of plain values are
kept as clip metadata, with the row number (``"row"``) and the audio's file
name (``"file"``) when it has one.

Clip ids are the audio's file stems (qualified by the label where stems
collide), else the ``id_column``'s values, else ``"row<number>"``.

Split: the rows whose ``heldout_column`` value is among ``heldout_values``
are held out (ESC-50's ``fold`` column, for instance); without a column,
each clip is held out with a seeded chance (``heldout_fraction``, 20 %)
decided by a hash of its file name, id or row number
(:func:`~.splits.seeded_split`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AudioDissectError
from .base import HELDOUT, PROBE, ClipInfo, ProbeSet, SkippedClip
from .decode import clip_problem, read_clip
from .hf_source import (is_local, label_names, open_dataset, raw_audio_column, require_column,
                        scalar_columns)
from .splits import HELDOUT_FRACTION, require_probe_clips, seeded_split, unique_ids

logger = logging.getLogger("audiodissect")

PREFIX = "hf-dataset:"


class HFDatasetProbeSet(ProbeSet):
    """A probing set whose clips are rows of a ``datasets.Dataset``, decoded on demand.

    Parameters
    ----------
    clips : sequence of ClipInfo
    rows : sequence of int
        The data set's row of each clip.
    audio : datasets.Dataset
        The audio column alone, undecoded (``{"bytes", "path"}`` cells or paths).
    column : str
        The audio column's name.
    folder : pathlib.Path or None
        Where relative audio paths start (the local data set's folder).
    digests : sequence of str
        A digest of each clip's audio bytes (or file size and time), for :meth:`content_key`.
    """

    def __init__(self, *, clips: Sequence[ClipInfo], spec: dict[str, Any], skipped: Sequence[SkippedClip],
                 rows: Sequence[int], audio: Any, column: str, folder: Path | None, digests: Sequence[str]):
        super().__init__(name="hf-dataset", clips=clips, spec=spec, skipped=skipped)
        self._rows = [int(r) for r in rows]
        self._audio = audio
        self._column = column
        self._folder = folder
        self._digests = list(digests)

    def _read(self, index: int) -> tuple[np.ndarray, int]:
        source = _cell_source(self._audio[self._rows[index]][self._column], self._folder)
        return read_clip(source, name=self.clips[index].id)

    def _content_parts(self) -> Any:
        """A digest of each clip's audio bytes (or of its file's size and time)."""
        return self._digests


def _cell_source(cell: Any, folder: Path | None) -> bytes | Path:
    """The bytes of an audio cell, else the file its path names."""
    if isinstance(cell, dict):
        if cell.get("bytes"):
            return bytes(cell["bytes"])
        cell = cell.get("path")
    if not cell:
        raise AudioDissectError("the audio cell holds neither bytes nor a path")
    path = Path(str(cell)).expanduser()
    return path if path.is_absolute() or folder is None else folder / path


def _cell_path(cell: Any) -> str | None:
    """The path an audio cell carries, if any."""
    path = cell.get("path") if isinstance(cell, dict) else cell
    return str(path) if path else None


def _cells(audio: Any, column: str, *, batch_size: int = 64) -> Iterator[Any]:
    """The audio cells of every row in order, read a batch at a time (never all bytes at once)."""
    for batch in audio.iter(batch_size=batch_size):
        yield from batch[column]


def _digest(source: bytes | Path) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    try:
        stat = os.stat(source)
    except OSError:
        return "missing"
    return f"{source}:{stat.st_size}:{stat.st_mtime_ns}"


def _heldout_rows(values: list[Any], wanted: Sequence[Any], *, column: str, where: str) -> np.ndarray:
    """Rows whose `column` value is among `wanted` (compared as text; a ClassLabel by name), shape (N,) bool."""
    keys = {str(v) for v in wanted}
    mask = np.array([str(v) in keys for v in values], dtype=bool)
    present = sorted({str(v) for v in values})
    absent = [w for w in wanted if str(w) not in present]
    if absent:
        shown = ", ".join(present[:20]) + (", ..." if len(present) > 20 else "")
        raise AudioDissectError(f"heldout_values {absent} do not occur in the column {column!r} of {where}",
                                hint=f"values present: {shown}")
    return mask


def _as_list(values: Any) -> list[Any]:
    if values is None:
        return []
    return list(values) if isinstance(values, (list, tuple)) else [values]


def load_hf_dataset(*, source: str, split: str = "train", audio_column: str = "audio",
                    label_column: str | None = "label", heldout_column: str | None = None,
                    heldout_values: Any = None, id_column: str | None = None, seed: int = 0,
                    heldout_fraction: float = HELDOUT_FRACTION, config: str | None = None,
                    revision: str | None = None) -> HFDatasetProbeSet:
    """Read a probing set from a Hugging Face data set (see the module docstring).

    Parameters
    ----------
    source : str
        A folder written by ``save_to_disk``, or a hub id.
    split : str
        The split of a DatasetDict or hub data set (ignored for a folder that
        holds a single Dataset).
    audio_column : str
        The column of audio (an ``Audio`` feature, ``{"bytes", "path"}``
        records, or file paths).
    label_column : str or None
        The column of labels (ClassLabel or strings); None for unlabelled clips.
    heldout_column : str, optional
        A column whose values choose the held-out rows, e.g. ``"fold"``.
    heldout_values : value or list of values
        The `heldout_column` values that are held out (required with it).
    id_column : str, optional
        A column of unique clip ids, used when the audio carries no file name.
    seed : int
        Decides the seeded split when there is no `heldout_column`.
    heldout_fraction : float
        Chance of each clip to be held out when there is no `heldout_column`.
    config, revision : str, optional
        The hub data set's configuration and revision.

    Returns
    -------
    HFDatasetProbeSet

    Raises
    ------
    AudioDissectError
        For a missing ``datasets`` package, source, split or column (naming
        the available ones), a row without a label, a held-out value that
        does not occur, duplicate ids, no usable clip, or an empty probe split.
    """
    values = _as_list(heldout_values)
    if (heldout_column is None) != (not values):
        raise AudioDissectError("heldout_column and heldout_values go together",
                                hint="e.g. heldout_column=fold heldout_values=5, or neither for a seeded split")
    if not 0.0 <= float(heldout_fraction) < 1.0:
        raise AudioDissectError("heldout_fraction must be in [0, 1)")
    where = f"{source} [{split}]"
    dataset = open_dataset(source, split=split, config=config, revision=revision)
    for column, option in ((audio_column, "audio_column"), (label_column, "label_column"),
                           (heldout_column, "heldout_column"), (id_column, "id_column")):
        if column is not None:
            require_column(dataset, column, option=option, where=where)
    if len(dataset) == 0:
        raise AudioDissectError(f"{where} has no rows", hint="choose another split with split=NAME")
    audio = raw_audio_column(dataset, audio_column, where=where)
    folder = Path(source).expanduser() if is_local(source) else None
    n = len(dataset)
    labels = label_names(dataset, label_column, where=where) if label_column is not None else [None] * n
    if label_column is not None and None in labels:
        row = labels.index(None)
        raise AudioDissectError(f"row {row} of {where} has no label in the column {label_column!r}",
                                hint="choose a labelled split, or label_column=none for unlabelled clips")
    meta = scalar_columns(dataset, exclude={audio_column, label_column})
    paths = [_cell_path(cell) for cell in _cells(audio, audio_column)]
    names = [os.path.basename(path) if path else None for path in paths]
    if id_column is not None:
        ids = [str(v) for v in dataset.select_columns([id_column]).to_dict()[id_column]]
        if len(set(ids)) != n:
            raise AudioDissectError(f"the column {id_column!r} of {where} holds repeated ids",
                                    hint="choose a column of unique values, or leave id_column out")
        keys = ids
    elif all(names):
        ids = unique_ids([os.path.splitext(name)[0] for name in names],
                         [label or f"row{i}" for i, label in enumerate(labels)])
        keys = [str(path) for path in paths]
    else:
        ids = keys = [f"row{i:06d}" for i in range(n)]
    if heldout_column is not None:
        column_values = (meta[heldout_column] if heldout_column in meta
                         else dataset.select_columns([heldout_column]).to_dict()[heldout_column])
        mask = _heldout_rows(column_values, values, column=heldout_column, where=where)
        splits = [HELDOUT if m else PROBE for m in mask.tolist()]
    else:
        splits = seeded_split(keys, seed=int(seed), fraction=float(heldout_fraction))
    clips, rows, digests, skipped = [], [], [], []
    for i, cell in enumerate(_cells(audio, audio_column)):
        try:
            source_i = _cell_source(cell, folder)
        except AudioDissectError as exc:
            reason = exc.message
        else:
            reason = clip_problem(source_i, name=ids[i])
        if reason is not None:
            skipped.append(SkippedClip(source=f"{where} row {i} ({ids[i]})", reason=reason))
            logger.warning("skipped %s row %d (%s): %s", where, i, ids[i], reason)
            continue
        info = {k: v[i] for k, v in meta.items()}
        info["row"] = i
        if names[i]:
            info["file"] = names[i]
        clips.append(ClipInfo(id=ids[i], label=labels[i], split=splits[i], metadata=info))
        rows.append(i)
        digests.append(_digest(source_i))
    if not clips:
        raise AudioDissectError(f"none of the {n} rows of {where} holds usable audio",
                                hint=f"first problem: {skipped[0].source}: {skipped[0].reason}")
    if skipped:
        logger.warning("hf-dataset: %d of %d rows skipped", len(skipped), n)
    require_probe_clips([c.split for c in clips], name="hf-dataset", where=where,
                        hint="hold out fewer values (heldout_values)" if heldout_column else
                        "lower heldout_fraction")
    spec = {"name": PREFIX + source, "split": split, "audio_column": audio_column, "label_column": label_column,
            "heldout_column": heldout_column, "heldout_values": values or None, "id_column": id_column,
            "seed": int(seed), "heldout_fraction": float(heldout_fraction), "config": config,
            "revision": revision}
    return HFDatasetProbeSet(clips=clips, spec=spec, skipped=skipped, rows=rows, audio=audio,
                             column=audio_column, folder=folder, digests=digests)
