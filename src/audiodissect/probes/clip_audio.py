"""Clips of a probing set as a captioner or an audio backend reads them: an id and the audio."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class ClipAudio:
    """One clip as a captioner sees it.

    Attributes
    ----------
    id : str
        The clip's id in the probing set.
    audio : np.ndarray, shape (T,)
        Mono float32 samples in [-1, 1].
    sample_rate : int
    path : str or None
        The source file, when there is one.
    """

    id: str
    audio: np.ndarray
    sample_rate: int
    path: str | None = None


class ProbeClip:
    """A clip of a probing set whose audio is read when accessed (and not kept).

    Has the attributes of :class:`ClipAudio`; build many with :func:`probe_clips`.
    """

    def __init__(self, probe: Any, index: int, *, sample_rate: int):
        info = probe[index]
        self.id: str = info.id
        self.path: str | None = info.path
        self.sample_rate = int(sample_rate)
        self._probe = probe
        self._index = index

    @property
    def audio(self) -> np.ndarray:
        """Mono float32 samples at :attr:`sample_rate`, shape (T,)."""
        return self._probe.audio(self._index, sample_rate=self.sample_rate)


def probe_clips(probe: Any, *, sample_rate: int = 16000, indices: Sequence[int] | None = None) -> list[ProbeClip]:
    """Clips of a :class:`~audiodissect.probes.base.ProbeSet` for a captioner, audio read lazily."""
    indices = range(len(probe)) if indices is None else indices
    return [ProbeClip(probe, int(i), sample_rate=sample_rate) for i in indices]
