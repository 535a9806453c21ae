"""Probing sets: labelled clips whose audio a consumer reads at its own rate."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import resample

PROBE = "probe"
HELDOUT = "heldout"
SPLITS = (PROBE, HELDOUT)


@dataclasses.dataclass(frozen=True)
class ClipInfo:
    """One clip of a probing set, without its audio.

    Attributes
    ----------
    id : str
        Unique within the set; used in file names and records.
    label : str or None
        The clip's class name.
    split : {"probe", "heldout"}
        Probe clips describe units; held-out clips are kept for pruning and scoring.
    metadata : dict
        Free, JSON-able facts (program, notes, voice, fold, ...).
    path : str or None
        The source file, for sets read from disk.
    """

    id: str
    label: str | None
    split: str = PROBE
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    path: str | None = None

    def to_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SkippedClip:
    """A file that was reported and left out, with the reason."""

    source: str
    reason: str


class ProbeSet:
    """A sequence of clips with audio.

    Subclasses implement :meth:`_read`. Every loader checks its clips when it
    builds the set, so a bad file is reported in :attr:`skipped` rather than
    failing a later stage.

    Parameters
    ----------
    name : str
        Short name of the set, e.g. ``"soundbank"`` or ``"esc50"``.
    clips : sequence of ClipInfo
    spec : dict
        JSON-able arguments that rebuild this set with :func:`audiodissect.probes.load_probe`.
    skipped : sequence of SkippedClip
    """

    #: A concept file (one concept per line) that names this set's sounds better than its
    #: labels do; None: the concept set is the labels.
    concepts_file: Path | None = None
    #: Timed events inside the clips (:class:`~audiodissect.probes.events.Event`), when the set knows them:
    #: generated scenes, or an events CSV file given with the set.
    events: Sequence[Any] = ()
    #: Digest of events attached from a file (:func:`~audiodissect.probes.attach_events`), part of the content key.
    events_digest: str | None = None

    def __init__(self, *, name: str, clips: Sequence[ClipInfo], spec: dict[str, Any],
                 skipped: Sequence[SkippedClip] = ()):
        self.name = name
        self.clips = list(clips)
        self.spec = dict(spec)
        self.skipped = list(skipped)
        ids = [c.id for c in self.clips]
        if len(set(ids)) != len(ids):
            raise ValueError(f"probe set {name!r} has duplicate clip ids")

    def __len__(self) -> int:
        return len(self.clips)

    def content_key(self) -> str:
        """A digest of what this set holds, for caches of results computed on it.

        It covers the spec, every clip's id, label, split and source, and
        :meth:`_content_parts` (the audio itself or what stands for it), so a
        set whose audio changed under the same spec and ids gets a new key.
        """
        from ..cache import hash_key

        parts = ["probe", self.spec, [(c.id, c.label, c.split, c.path) for c in self.clips], self._content_parts()]
        return hash_key(*parts) if self.events_digest is None else hash_key(*parts, self.events_digest)

    def audio_key(self) -> str:
        """A digest of the clips' audio alone: their ids, source files and :meth:`_audio_parts`, not their
        labels, splits or the set's other options.

        Results that depend on the audio only (descriptions, tag logits, acoustic
        measurements) are cached under it, so the same clips under other labels
        (a relabelled manifest, in-memory clips given other labels) reuse them.
        """
        from ..cache import hash_key

        return hash_key("audio", [(c.id, c.path) for c in self.clips], self._audio_parts())

    def _audio_parts(self) -> Any:
        """What stands for the audio in :meth:`audio_key` (by default :meth:`_content_parts`)."""
        return self._content_parts()

    def _content_parts(self) -> Any:
        """What stands for the audio in :meth:`content_key`: by default each source file's size and mtime."""
        import os

        parts = []
        for clip in self.clips:
            try:
                stat = os.stat(clip.path) if clip.path else None
            except OSError:
                stat = None
            parts.append(None if stat is None else (stat.st_size, stat.st_mtime_ns))
        return parts

    def __iter__(self) -> Iterator[ClipInfo]:
        return iter(self.clips)

    def __getitem__(self, index: int) -> ClipInfo:
        return self.clips[index]

    @property
    def labels(self) -> list[str]:
        """Sorted distinct labels."""
        return sorted({c.label for c in self.clips if c.label is not None})

    def indices(self, split: str) -> np.ndarray:
        """Positions of the clips in `split`, shape (n,), int64."""
        return np.array([i for i, c in enumerate(self.clips) if c.split == split], dtype=np.int64)

    def audio(self, index: int, *, sample_rate: int) -> np.ndarray:
        """The clip's mono float32 audio at `sample_rate`, shape (T,)."""
        audio, rate = self._read(index)
        return resample(audio, rate, sample_rate)

    def _read(self, index: int) -> tuple[np.ndarray, int]:
        """Return (audio (T,) float32, its sample rate) for clip `index`."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line: name, clip counts per split, labels, skipped files."""
        n_probe = sum(c.split == PROBE for c in self.clips)
        text = (f"{self.name}: {len(self)} clips ({n_probe} probe, {len(self) - n_probe} held-out), "
                f"{len(self.labels)} labels")
        if self.skipped:
            text += f", {len(self.skipped)} bad files skipped"
        return text


class SubsetProbe(ProbeSet):
    """The clips of another probing set at some positions, in order (e.g. without the clips a recording left out).

    Parameters
    ----------
    base : ProbeSet
    positions : sequence of int, shape (n,)
        Positions into `base`, increasing.
    dropped : sequence of SkippedClip
        The clips left out and why; added to `base`'s :attr:`skipped`.

    Other attributes (``sample_rate``, ``concepts_file``, ...) are `base`'s.
    """

    def __init__(self, base: ProbeSet, positions: Sequence[int], *, dropped: Sequence[SkippedClip] = ()):
        super().__init__(name=base.name, clips=[base.clips[int(i)] for i in positions], spec=base.spec,
                         skipped=[*base.skipped, *dropped])
        self.base = base
        self.positions = np.asarray(positions, dtype=np.int64)

    def __getattr__(self, name: str) -> Any:
        if name == "base":  # not set yet (while unpickling)
            raise AttributeError(name)
        return getattr(self.base, name)

    @property
    def concepts_file(self) -> Path | None:  # type: ignore[override]
        return self.base.concepts_file

    @property
    def events(self) -> list[Any]:  # type: ignore[override]
        """The base set's events of the clips kept."""
        kept = {c.id for c in self.clips}
        return [e for e in self.base.events if e.clip in kept]

    def audio(self, index: int, *, sample_rate: int) -> np.ndarray:
        return self.base.audio(int(self.positions[index]), sample_rate=sample_rate)

    def _read(self, index: int) -> tuple[np.ndarray, int]:
        return self.base._read(int(self.positions[index]))

    def _content_parts(self) -> Any:
        return [self.base.content_key(), self.positions.tolist()]

    def _audio_parts(self) -> Any:
        return [self.base.audio_key(), self.positions.tolist()]


def without_clips(probe: ProbeSet, dropped: Sequence[SkippedClip]) -> ProbeSet:
    """`probe` without the clips whose ids `dropped` names (``source`` is the clip id); `probe` itself when none."""
    ids = {d.source for d in dropped}
    if not ids:
        return probe
    keep = [i for i, c in enumerate(probe.clips) if c.id not in ids]
    return SubsetProbe(probe, keep, dropped=list(dropped))


class ArrayProbeSet(ProbeSet):
    """A probing set whose audio is held in memory (or memory-mapped).

    Parameters
    ----------
    audio : sequence of np.ndarray, each (T_i,)
        One waveform per clip, in clip order.
    sample_rate : int
    """

    def __init__(self, *, name: str, clips: Sequence[ClipInfo], audio: Sequence[np.ndarray],
                 sample_rate: int, spec: dict[str, Any], skipped: Sequence[SkippedClip] = ()):
        super().__init__(name=name, clips=clips, spec=spec, skipped=skipped)
        if len(audio) != len(self.clips):
            raise ValueError("one waveform per clip is required")
        self._audio = audio
        self.sample_rate = int(sample_rate)

    def _read(self, index: int) -> tuple[np.ndarray, int]:
        return np.asarray(self._audio[index], dtype=np.float32), self.sample_rate

    def _content_parts(self) -> Any:
        """The sample rate and a digest of every waveform's samples."""
        import hashlib

        return [self.sample_rate] + [hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()
                                     for a in self._audio]
