"""Timed sound events inside clips: what sounds when, for frame-level ground truth.

An event is one sound of a clip with its onset and offset in seconds from
the clip's start and a label (a concept). Generated scenes know theirs
(:mod:`~audiodissect.probes.scenes`); a probing set read from disk can bring
them as a CSV file with the header ``clip,onset,offset,label``, one row per
event (``load_probe(..., events="annotations.csv")``). The ``clip`` cell
names a clip by its id, its file name or its file stem.

:func:`frame_truth` turns events into frame labels: a frame sounds a label
when the centre of its time span lies inside one of the clip's events with
that label (``onset <= centre < offset``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..cache import write_text
from ..errors import AudioDissectError

#: The columns of an events CSV file, in order.
EVENT_COLUMNS = ("clip", "onset", "offset", "label")


@dataclasses.dataclass(frozen=True)
class Event:
    """One sound of one clip.

    Attributes
    ----------
    clip : str
        The clip's id.
    onset, offset : float
        Seconds from the clip's start; ``0 <= onset < offset``.
    label : str
        What sounds (a concept).
    """

    clip: str
    onset: float
    offset: float
    label: str


def write_events(path: str | Path, events: Sequence[Event]) -> None:
    """Write `events` as an events CSV file (header :data:`EVENT_COLUMNS`), atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EVENT_COLUMNS)
    for e in events:
        writer.writerow([e.clip, f"{e.onset:.4f}", f"{e.offset:.4f}", e.label])
    write_text(path, buffer.getvalue())


def read_events(path: str | Path, clips: Sequence[object] | None = None) -> list[Event]:
    """Read an events CSV file.

    Parameters
    ----------
    path : path
        Header ``clip,onset,offset,label`` (other columns are ignored).
    clips : sequence of ClipInfo, optional
        The probing set's clips: each ``clip`` cell must name one of them by
        id, file name or file stem, and is stored as that clip's id. An
        event may not end after its clip does when the clip's duration is
        unknown here, so only ``onset < offset`` and ``onset >= 0`` are checked.

    Returns
    -------
    list of Event
        In file order.

    Raises
    ------
    AudioDissectError
        Naming the file and line of a missing column, a cell that is not a
        number, an empty label, ``offset <= onset``, a negative onset, or a
        clip the probing set lacks.
    """
    from .disk import read_table_lines

    path = Path(path).expanduser()
    expected = "a CSV file with the header clip,onset,offset,label (seconds from the clip's start)"
    if not path.is_file():
        raise AudioDissectError(f"the events file {path} does not exist", hint=f"expected {expected}")
    rows = read_table_lines(path, required=EVENT_COLUMNS, expected=expected)
    names: dict[str, str] = {}
    if clips is not None:
        for c in clips:
            for alias in _aliases(c):
                names.setdefault(alias, c.id)
        for c in clips:  # an id always names its own clip
            names[c.id] = c.id
    events = []
    for line, row in rows:
        where = f"{path}, line {line}"
        try:
            onset, offset = float(row["onset"]), float(row["offset"])
        except ValueError:
            raise AudioDissectError(f"{where}: onset {row['onset']!r} and offset {row['offset']!r} must be numbers "
                                    "of seconds", hint=f"expected {expected}") from None
        if not (np.isfinite(onset) and np.isfinite(offset)) or onset < 0 or offset <= onset:
            raise AudioDissectError(f"{where}: an event needs 0 <= onset < offset, got {onset} and {offset}",
                                    hint="give seconds from the clip's start, the offset after the onset")
        if not row["label"]:
            raise AudioDissectError(f"{where}: the event has no label", hint="name what sounds (a concept)")
        clip = row["clip"]
        if clips is not None:
            if clip not in names:
                from ..errors import closest_names

                close = closest_names(clip, list(names))
                raise AudioDissectError(f"{where}: no clip {clip!r} in the probing set",
                                        hint="name a clip by its id, file name or file stem"
                                             + (f"; closest: {', '.join(close)}" if close else ""))
            clip = names[clip]
        events.append(Event(clip=clip, onset=onset, offset=offset, label=row["label"]))
    return events


def _aliases(clip: object) -> list[str]:
    path = getattr(clip, "path", None)
    if not path:
        return []
    p = Path(path)
    return [p.name, p.stem]


def events_digest(events: Sequence[Event]) -> str:
    """A digest of `events` (for cache keys)."""
    from ..cache import hash_key

    return hash_key([(e.clip, round(e.onset, 6), round(e.offset, 6), e.label) for e in events])


def frame_truth(events: Sequence[Event], clip_ids: Sequence[str], offsets: np.ndarray, spans: np.ndarray,
                concepts: Sequence[str]) -> np.ndarray:
    """Which frames sound which concept.

    Parameters
    ----------
    events : sequence of Event
    clip_ids : sequence of str, shape (N,)
        The clips whose frames are given, in order.
    offsets : np.ndarray, shape (N + 1,), int64
        Clip i's frames are rows ``offsets[i]:offsets[i + 1]``.
    spans : np.ndarray, shape (F, 2)
        Each frame's start and end in seconds from its clip's start.
    concepts : sequence of str, shape (C,)

    Returns
    -------
    np.ndarray, shape (F, C), bool
        True where the frame's centre lies inside an event of that concept in its clip.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    spans = np.asarray(spans, dtype=np.float64)
    n_frames = int(offsets[-1]) if len(offsets) else 0
    truth = np.zeros((n_frames, len(concepts)), dtype=bool)
    if not events or not n_frames:
        return truth
    row = {c: i for i, c in enumerate(clip_ids)}
    column = {c: j for j, c in enumerate(concepts)}
    kept = [(row[e.clip], column[e.label], e.onset, e.offset) for e in events
            if e.clip in row and e.label in column]
    if not kept:
        return truth
    clip_of_event, concept_of_event, onset, offset = (np.array(v) for v in zip(*kept))
    centre = spans.mean(axis=1)                                            # (F,)
    clip_of_frame = np.repeat(np.arange(len(clip_ids)), np.diff(offsets))  # (F,)
    # events sorted by clip: each frame meets only its own clip's events
    order = np.argsort(clip_of_event, kind="stable")
    clip_of_event, concept_of_event = clip_of_event[order], concept_of_event[order]
    onset, offset = onset[order].astype(np.float64), offset[order].astype(np.float64)
    first = np.searchsorted(clip_of_event, np.arange(len(clip_ids)), side="left")
    last = np.searchsorted(clip_of_event, np.arange(len(clip_ids)), side="right")
    counts = (last - first)[clip_of_frame]                                # events of each frame's clip
    pair_frame = np.repeat(np.arange(n_frames), counts)                   # one row per (frame, event of its clip)
    pair_event = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) \
        + np.repeat(first[clip_of_frame], counts)
    inside = (onset[pair_event] <= centre[pair_frame]) & (centre[pair_frame] < offset[pair_event])
    truth[pair_frame[inside], concept_of_event[pair_event[inside]]] = True
    return truth
