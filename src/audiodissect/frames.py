"""Frame-level activations: one value per (clip, frame, unit), each frame with its time span.

Clips have different numbers of frames, so a layer's frames are stored
ragged, clip after clip:

- ``values`` (F, U) float32: every frame of every clip, clip-major;
- ``offsets`` (N + 1,) int64: clip i's frames are rows ``offsets[i]:offsets[i + 1]``;
- ``spans`` (F, 2) float64: each frame's start and end in seconds from its clip's start.

Cost: 4 x U bytes per frame for the values and 16 bytes per frame for its span
(plus 8 bytes per clip), e.g. a 4 s clip at 100 frames per second and 64
units takes 400 x (256 + 16) = 108,800 bytes; the pooled row is 4 x U bytes.

A frame's span is where its layer's frame sits in the input, from the
layer's :class:`FrameTiming` (its hop, its window and where frame 0 starts)
when the target declares one (``Target.frame_timings``), else by the
uniform rule: T frames of an input of S samples divide it evenly, frame t
spanning ``[t S / T, (t + 1) S / T)``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping, Sequence

import numpy as np

from .errors import AudioDissectError
from .pooling import check_pool


@dataclasses.dataclass(frozen=True)
class FrameTiming:
    """Where a layer's frames sit in its input, in seconds.

    Attributes
    ----------
    hop : float
        Seconds between the starts of two consecutive frames.
    window : float
        Seconds of input one frame is aligned with (its span's length).
    start : float
        Where frame 0 starts.
    """

    hop: float
    window: float
    start: float = 0.0

    def __post_init__(self) -> None:
        if not (self.hop > 0 and self.window > 0 and np.isfinite(self.start)):
            raise AudioDissectError(f"a frame timing needs a positive hop and window, got hop={self.hop}, "
                                    f"window={self.window}", hint="give seconds, e.g. FrameTiming(0.01, 0.025)")

    def spans(self, n_frames: int) -> np.ndarray:
        """Spans (n_frames, 2) float64 of frames 0..n_frames-1."""
        start = self.start + self.hop * np.arange(n_frames, dtype=np.float64)
        return np.stack([start, start + self.window], axis=1)


def uniform_spans(n_frames: int, n_samples: int, sample_rate: int) -> np.ndarray:
    """Spans (n_frames, 2) float64 of `n_frames` frames dividing `n_samples` samples evenly."""
    edges = np.arange(n_frames + 1, dtype=np.float64) * (n_samples / max(n_frames, 1)) / sample_rate
    return np.stack([edges[:-1], edges[1:]], axis=1)


def timing_for(layer: str, timings: Mapping[str, FrameTiming] | None) -> FrameTiming | None:
    """The declared timing of `layer`: an exact path first, then the first glob pattern that matches; None."""
    timings = timings or {}
    if layer in timings:
        return timings[layer]
    return next((t for pattern, t in timings.items() if fnmatch.fnmatchcase(layer, pattern)), None)


def frame_layers(layers: Sequence[str], wanted: Sequence[str] | None) -> tuple[list[str], set[str]]:
    """Which of `layers` to record frame by frame.

    Parameters
    ----------
    layers : sequence of str
        The recorded layers (exact module paths).
    wanted : sequence of str or None
        Layer paths or glob patterns (``"*"``: every layer that has a time axis).

    Returns
    -------
    chosen : list of str
        The layers matched, in `layers` order.
    required : set of str
        Those named exactly: a layer among them without a time axis is an
        error, while a pattern's matches without one are recorded pooled only.

    Raises
    ------
    AudioDissectError
        When an entry matches no recorded layer.
    """
    if not wanted:
        return [], set()
    for pattern in wanted:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in layers):
            from .errors import unknown_name_error

            raise unknown_name_error("recorded layer for frames", pattern, layers)
    chosen = [name for name in layers if any(fnmatch.fnmatchcase(name, p) for p in wanted)]
    return chosen, {name for name in chosen if name in wanted}


@dataclasses.dataclass
class FrameActivations:
    """One layer's frames over N clips (see the module docstring).

    Attributes
    ----------
    values : np.ndarray, shape (F, U), float32
    offsets : np.ndarray, shape (N + 1,), int64
    spans : np.ndarray, shape (F, 2), float64
    """

    values: np.ndarray
    offsets: np.ndarray
    spans: np.ndarray

    def __post_init__(self) -> None:
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        if self.offsets.ndim != 1 or len(self.offsets) < 1 or self.offsets[0] != 0 or \
                np.any(np.diff(self.offsets) < 0) or self.offsets[-1] != len(self.values) or \
                len(self.spans) != len(self.values):
            raise AudioDissectError(f"inconsistent frames: {len(self.values)} values, {len(self.spans)} spans, "
                                    f"offsets ending at {self.offsets[-1] if len(self.offsets) else None}")

    @property
    def n_clips(self) -> int:
        return len(self.offsets) - 1

    @property
    def counts(self) -> np.ndarray:
        """Frames per clip, shape (N,)."""
        return np.diff(self.offsets)

    def clip(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Clip i's frames: values (T_i, U) and spans (T_i, 2)."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return np.asarray(self.values[a:b]), np.asarray(self.spans[a:b])

    def clip_of_frame(self) -> np.ndarray:
        """The clip of each frame, shape (F,), int64."""
        return np.repeat(np.arange(self.n_clips, dtype=np.int64), self.counts)

    def pooled(self, pool: str) -> np.ndarray:
        """Each clip's frames pooled to one row, (N, U) float32 (see :func:`pool_frames`)."""
        return pool_frames(self.values, self.offsets, pool=pool)


def pool_frames(values: np.ndarray, offsets: np.ndarray, *, pool: str) -> np.ndarray:
    """Pool ragged frames to one row per clip.

    Parameters
    ----------
    values : np.ndarray, shape (F, U)
    offsets : np.ndarray, shape (N + 1,)
        Every clip must have at least one frame.
    pool : {"mean", "max", "first"}

    Returns
    -------
    np.ndarray, shape (N, U), float32
        The mean (accumulated in float64), the maximum or the first frame of each clip.
    """
    check_pool(pool)
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.diff(offsets)
    if np.any(counts < 1):
        raise AudioDissectError("every clip needs at least one frame to pool")
    values = np.asarray(values)
    if pool == "first":
        return values[offsets[:-1]].astype(np.float32)
    if pool == "max":
        return np.maximum.reduceat(values, offsets[:-1], axis=0).astype(np.float32)
    sums = np.add.reduceat(values.astype(np.float64), offsets[:-1], axis=0)
    return (sums / counts[:, None]).astype(np.float32)


def concatenate_frames(parts: Sequence[FrameActivations]) -> FrameActivations:
    """Frames of consecutive clip ranges joined into one, clips in order."""
    if not parts:
        raise AudioDissectError("no frames to join")
    starts = np.cumsum([0] + [len(p.values) for p in parts[:-1]])
    offsets = np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, starts)])
    return FrameActivations(values=np.concatenate([np.asarray(p.values) for p in parts]), offsets=offsets,
                            spans=np.concatenate([np.asarray(p.spans) for p in parts]))
