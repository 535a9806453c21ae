"""Long clips in bounded windows: cutting clips into pieces and combining the pieces' pooled values.

A clip of T samples longer than the window W is cut into ``n = ceil(T / W)``
consecutive windows of nearly equal length (``floor(T / n)`` or
``ceil(T / n)`` samples, so no window is a short tail that a model could not
take); a clip no longer than W is one window. Each window is recorded like a
clip. The windows' values are then combined per clip:

- ``mean``: the mean of the windows' means, weighted by window length in samples;
- ``max``: the maximum over windows;
- ``first``: the first window's value;
- logits (whatever the pooling): the length-weighted mean of the windows' logits.

A window sees only its own audio, so a model's activations near a cut can
differ from those of the whole clip; with mean pooling over frames the
combination is otherwise the whole clip's mean up to frame rounding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..errors import AudioDissectError


@dataclasses.dataclass(frozen=True)
class Windows:
    """The pieces recorded for n clips, in clip order then time order.

    Attributes
    ----------
    clip : np.ndarray, shape (P,), int64
        The clip each piece belongs to (non-decreasing).
    start, stop : np.ndarray, shape (P,), int64
        Sample range of each piece within its clip.
    first : np.ndarray, shape (n,), int64
        Index of each clip's first piece.
    """

    clip: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    first: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """Samples per piece, shape (P,)."""
        return self.stop - self.start

    @property
    def whole(self) -> bool:
        """True when every clip is a single piece."""
        return len(self.clip) == len(self.first)


def plan_windows(lengths: Sequence[int], *, window: int | None) -> Windows:
    """Cut clips of `lengths` samples into windows of at most `window` samples.

    Parameters
    ----------
    lengths : sequence of int, shape (n,)
    window : int or None
        Longest piece in samples; None keeps every clip whole.
    """
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    if window is not None and window < 1:
        raise AudioDissectError(f"the recording window must hold at least one sample, got {window}",
                                hint="set window_seconds to a positive duration, or None for whole clips")
    counts = np.ones(len(lengths), np.int64) if window is None else np.maximum(1, -(-lengths // window))
    clip = np.repeat(np.arange(len(lengths), dtype=np.int64), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    k = np.arange(len(clip), dtype=np.int64) - first[clip]       # window number within its clip
    start = (k * lengths[clip]) // counts[clip]
    stop = ((k + 1) * lengths[clip]) // counts[clip]
    return Windows(clip=clip, start=start, stop=stop, first=first)


def combine_windows(values: np.ndarray, windows: Windows, *, pool: str) -> np.ndarray:
    """Combine per-piece pooled values into per-clip values.

    Parameters
    ----------
    values : np.ndarray, shape (P, U)
        Row p belongs to piece p of `windows`.
    windows : Windows
    pool : {"mean", "max", "first"}
        How the pieces were pooled; logits combine with ``"mean"``.

    Returns
    -------
    np.ndarray, shape (n, U), float32
    """
    if windows.whole:
        return values
    if pool == "first":
        return values[windows.first]
    if pool == "max":
        return np.maximum.reduceat(values, windows.first, axis=0)
    weights = windows.lengths.astype(np.float64)
    totals = np.add.reduceat(weights, windows.first)
    sums = np.add.reduceat(values.astype(np.float64) * weights[:, None], windows.first, axis=0)
    return (sums / np.maximum(totals, 1.0)[:, None]).astype(np.float32)
