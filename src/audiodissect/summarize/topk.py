"""The most and least activating probe clips of every unit."""

from __future__ import annotations

import numpy as np

from ..errors import AudioDissectError


def top_bottom_clips(activations: np.ndarray, k: int = 5, *,
                     chunk_units: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Indices of each unit's `k` highest- and `k` lowest-activating clips.

    Parameters
    ----------
    activations : ndarray, shape (N, U)
        One value per (probe clip, unit). Pass the probe rows only: the
        indices returned point into these rows.
    k : int
        Clips per side; at most N.
    chunk_units : int
        Units sorted at once (bounds the memory to about ``chunk_units * N``
        indices).

    Returns
    -------
    top : ndarray of int64, shape (U, k)
        Row indices of the highest values, highest first.
    bottom : ndarray of int64, shape (U, k)
        Row indices of the lowest values, lowest first.

    Notes
    -----
    Ties are broken by the lower row index, on both sides, so the result does
    not depend on the sorting algorithm. NaN activations are an error.
    """
    a = np.asarray(activations)
    if a.ndim != 2:
        raise AudioDissectError(f"activations must be a 2-d (clips, units) array, got shape {a.shape}")
    n = a.shape[0]
    if not 1 <= k <= n:
        raise AudioDissectError(f"k must be between 1 and the number of clips ({n}), got {k}")
    if np.issubdtype(a.dtype, np.floating) and np.isnan(a).any():
        raise AudioDissectError("activations contain NaN values")
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    u = a.shape[1]
    top = np.empty((u, k), dtype=np.int64)
    bottom = np.empty((u, k), dtype=np.int64)
    for start in range(0, u, max(1, chunk_units)):
        block = a[:, start:start + chunk_units].T  # (units in chunk, N)
        # Stable sorts: highest first (of -a) and lowest first, ties by row index.
        top[start:start + block.shape[0]] = np.argsort(-block, axis=1, kind="stable")[:, :k]
        bottom[start:start + block.shape[0]] = np.argsort(block, axis=1, kind="stable")[:, :k]
    return top, bottom
