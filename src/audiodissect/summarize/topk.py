"""The most and least activating probe clips of every unit."""

from __future__ import annotations

import numpy as np
import torch

from ..arrays import block_size, column_blocks
from ..errors import AudioDissectError


def _order_keys(block: np.ndarray) -> np.ndarray:
    """Integers in the order of float32 values (``-0.0`` equal to ``0.0``), shape as `block`, int64."""
    bits = (block + np.float32(0.0)).view(np.int32).astype(np.int64)  # + 0.0 turns -0.0 into 0.0
    return np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)


def _first_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Column positions of the `k` largest of distinct `keys` (m, N), largest first, shape (m, k)."""
    return torch.topk(torch.from_numpy(keys), k, dim=1, sorted=True).indices.numpy()


def _block_extremes(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom `k` rows of each column of `block` (N, m), ties by lower row: two (m, k) arrays."""
    n = block.shape[0]
    if block.dtype == np.float32 and n < 2**31:
        # Distinct keys that order by value and then by lower row index:
        # a partial selection then gives exactly the stable sort's first k.
        keys = _order_keys(np.ascontiguousarray(block.T))  # (m, N)
        tie = (n - 1) - np.arange(n, dtype=np.int64)
        return _first_k(keys * n + tie, k), _first_k(-keys * n + tie, k)
    cols = block.T if np.issubdtype(block.dtype, np.floating) else block.T.astype(np.float64)
    return (np.argsort(-cols, axis=1, kind="stable")[:, :k],
            np.argsort(cols, axis=1, kind="stable")[:, :k])


def top_bottom_clips(activations: np.ndarray, k: int = 5, *,
                     chunk_units: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of each unit's `k` highest- and `k` lowest-activating clips.

    Parameters
    ----------
    activations : ndarray, np.memmap or RowSubset, shape (N, U)
        One value per (probe clip, unit). Pass the probe rows only: the
        indices returned point into these rows. Read a block of units at a
        time, so a memory-mapped array is never held whole.
    k : int
        Clips per side; at most N.
    chunk_units : int, optional
        Units read and ranked at once (default: about 16 MiB of float32
        activations, :func:`audiodissect.arrays.block_size`).

    Returns
    -------
    top : ndarray of int64, shape (U, k)
        Row indices of the highest values, highest first.
    bottom : ndarray of int64, shape (U, k)
        Row indices of the lowest values, lowest first.

    Notes
    -----
    Ties are broken by the lower row index, on both sides, so the result does
    not depend on the sorting algorithm. float32 activations are selected
    with a partial sort (linear in N per unit); other dtypes are sorted
    fully. NaN activations are an error.
    """
    if np.ndim(activations) != 2:
        raise AudioDissectError(f"activations must be a 2-d (clips, units) array, got shape "
                                f"{np.shape(activations)}")
    a = activations if hasattr(activations, "dtype") else np.asarray(activations)
    n, u = int(a.shape[0]), int(a.shape[1])
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise AudioDissectError(f"k must be between 1 and the number of clips ({n}), got {k}")
    top = np.empty((u, k), dtype=np.int64)
    bottom = np.empty((u, k), dtype=np.int64)
    # the int64 keys and selections take about 8x the block's float32 bytes
    size = block_size(n, per_row=4, block_units=chunk_units)
    for units, block in column_blocks(a, block_units=size):
        if np.issubdtype(block.dtype, np.floating) and np.isnan(block).any():
            raise AudioDissectError("activations contain NaN values")
        top[units], bottom[units] = _block_extremes(block, k)
    return top, bottom
