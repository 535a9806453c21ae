"""Column blocks of (clips, units) arrays that may be larger than memory.

Activations are stored as one (N, U) float32 ``.npy`` per layer and opened
memory-mapped (:meth:`audiodissect.rundir.RunDir.activations`). Everything
that works per unit (similarity functions, top-k clips, scoring) reads them
a block of units (columns) at a time with :func:`read_columns` or
:func:`column_blocks`, so its memory is bounded by one block whatever the
array's size.

Reading columns of a row-major memory map touches every row of the file; the
kernel keeps the touched pages (and, on a read fault, pages around each, up
to a whole large folio of the page cache) mapped into the process, where they
count towards its resident memory until the mapping goes away. :func:`read_columns` therefore copies a memory
map in groups of rows and drops each group's pages from the process with
``madvise(MADV_DONTNEED)`` once copied: the data stays in the page cache, the
process holds only the block it asked for.

:class:`RowSubset` is a lazy selection of rows (e.g. the probe clips) of such
an array: it reads only the rows and columns a block needs.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Sequence

import numpy as np

from .errors import AudioDissectError

#: Elements (float32) of one column block when the caller gives no block size: 64 MiB.
BLOCK_ELEMENTS = 2**24
#: Bytes of whole rows of a memory map copied between two page releases. A read fault may
#: map a whole large folio of the page cache (up to whole rows), so this bounds what is mapped.
RELEASE_BYTES = 2**24


class RowSubset:
    """The rows `rows` of an (N, U) array, read lazily a block of columns at a time.

    Parameters
    ----------
    array : np.ndarray or np.memmap, shape (N, U)
        The whole array (e.g. a layer's memory-mapped activations).
    rows : sequence of int, shape (n,)
        The rows to keep, in the order wanted.

    Notes
    -----
    ``shape`` is ``(n, U)``. Indexing with ``[:, cols]`` reads just those
    columns of the kept rows; ``np.asarray(subset)`` reads all of it (only
    for arrays known to fit in memory).
    """

    def __init__(self, array: np.ndarray, rows: Sequence[int] | np.ndarray):
        if np.ndim(array) != 2:
            raise AudioDissectError(f"need a 2-d (clips, units) array, got shape {np.shape(array)}")
        self.base = array
        self.rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        n = array.shape[0]
        if len(self.rows) and (self.rows.min() < -n or self.rows.max() >= n):
            raise AudioDissectError(f"a row index is outside the array's {n} rows")

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), int(self.base.shape[1]))

    @property
    def dtype(self) -> np.dtype:
        return self.base.dtype

    ndim = 2

    def __len__(self) -> int:
        return len(self.rows)

    def columns(self, start: int, stop: int) -> np.ndarray:
        """The kept rows of columns ``start:stop``, shape (n, stop - start), in the array's dtype."""
        return read_columns(self.base, start, stop, rows=self.rows)

    def __getitem__(self, key):
        if isinstance(key, tuple) and len(key) == 2 and _is_full_slice(key[0]):
            cols = key[1]
            if isinstance(cols, slice) and cols.step in (None, 1):
                start, stop, _ = cols.indices(self.shape[1])
                return self.columns(start, max(start, stop))
            return _release_after(self.base, lambda: self.base[:, cols][self.rows])
        return np.asarray(self)[key]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.columns(0, self.shape[1])
        return out if dtype is None else out.astype(dtype, copy=False)

    def __reduce__(self):
        """Pickle a subset of a whole ``.npy`` memory map as its file name and rows, not its data.

        So a subset sent to another process (an executor's worker) reopens
        the file there, memory-mapped; an in-memory base travels as data.
        """
        if _whole_file(self.base) and str(self.base.filename).endswith(".npy"):
            return (_npy_rows, (str(self.base.filename), self.rows))
        return (RowSubset, (np.asarray(self.base), self.rows))


def _npy_rows(path: str, rows: np.ndarray) -> RowSubset:
    """`rows` of the ``.npy`` file at `path`, memory-mapped (the unpickling side of :class:`RowSubset`)."""
    return RowSubset(np.load(path, mmap_mode="r", allow_pickle=False), rows)


def _is_full_slice(key) -> bool:
    return isinstance(key, slice) and key == slice(None)


def _mapping(array) -> mmap.mmap | None:
    """The mmap object behind a numpy memory map (or a view of one), else None."""
    mm = getattr(array, "_mmap", None)
    return mm if isinstance(mm, mmap.mmap) and hasattr(mm, "madvise") else None


def release_pages(array) -> None:
    """Drop the pages of `array`'s memory map from the process (no-op for in-memory arrays).

    The file's data stays in the page cache; the next read maps it again.
    """
    mm = _mapping(array)
    if mm is not None and hasattr(mmap, "MADV_DONTNEED"):
        try:
            mm.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):  # a closed or unsupported mapping: nothing held
            pass


def _whole_file(array) -> bool:
    """Whether `array` is a whole C-ordered memory map of its file (not a view into one)."""
    mm = _mapping(array)
    if mm is None or not getattr(array, "filename", None) or not array.flags.c_contiguous:
        return False
    start = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    skip = int(array.offset) % mmap.ALLOCATIONGRANULARITY
    return array.ctypes.data == start + skip and array.nbytes + skip == len(mm)


def _pread_rows(array, out: np.ndarray, start: int, rows: np.ndarray) -> None:
    """Fill `out` (n, m) with columns ``start:start + m`` of `rows`, read from the file with ``pread``.

    Nothing of the file is mapped: each row's few bytes are read straight
    into `out`, so the process holds only the block.
    """
    row_bytes = array.strides[0]
    first = int(array.offset) + start * array.itemsize
    fd = os.open(array.filename, os.O_RDONLY)
    try:
        for i, r in enumerate((rows % array.shape[0]).tolist()):
            want = out[i].nbytes
            if os.preadv(fd, [out[i]], first + r * row_bytes) != want:
                raise AudioDissectError(f"{array.filename} is shorter than its array header says")
    finally:
        os.close(fd)


def _release_after(array, read):
    try:
        return np.asarray(read())
    finally:
        release_pages(array)


def read_columns(array, start: int, stop: int, *, rows: np.ndarray | None = None) -> np.ndarray:
    """Columns ``start:stop`` of `array` (optionally only `rows`), as an in-memory copy.

    Parameters
    ----------
    array : np.ndarray, np.memmap or RowSubset, shape (N, U)
    start, stop : int
        Column range, ``0 <= start <= stop <= U``.
    rows : np.ndarray of int, shape (n,), optional
        Rows to read, in order (default all).

    Returns
    -------
    np.ndarray, shape (n or N, stop - start)
        C-contiguous, in the array's dtype. A whole memory-mapped file is
        read with ``pread`` row by row (nothing mapped); a view into one is
        copied in groups of rows of about :data:`RELEASE_BYTES` in all, each
        group's pages released after it is copied. Either way the process
        holds little more than the block.
    """
    if isinstance(array, RowSubset):
        sub = array.rows if rows is None else array.rows[np.asarray(rows, dtype=np.int64)]
        return read_columns(array.base, start, stop, rows=sub)
    if _mapping(array) is None:
        block = array[:, start:stop] if rows is None else array[rows, start:stop]
        return np.ascontiguousarray(block)
    n = array.shape[0] if rows is None else len(rows)
    out = np.empty((n, stop - start), dtype=array.dtype)
    if _whole_file(array) and stop > start:
        _pread_rows(array, out, start, np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64))
        return out
    group = max(1, RELEASE_BYTES // max(1, array.shape[1] * array.dtype.itemsize))
    for lo in range(0, n, group):
        hi = min(lo + group, n)
        out[lo:hi] = array[lo:hi, start:stop] if rows is None else array[rows[lo:hi], start:stop]
        release_pages(array)
    return out


def block_size(n_rows: int, *, per_row: int = 1, block_units: int | None = None) -> int:
    """Units per block: `block_units`, else as many as fit :data:`BLOCK_ELEMENTS` for `n_rows` rows."""
    if block_units is not None:
        if isinstance(block_units, bool) or not isinstance(block_units, (int, np.integer)) or block_units < 1:
            raise AudioDissectError(f"block_units must be an integer >= 1, got {block_units!r}")
        return int(block_units)
    return max(1, BLOCK_ELEMENTS // max(1, n_rows * per_row))


def in_memory(array, *, limit: int = 4 * BLOCK_ELEMENTS):
    """`array` read into memory once when it holds at most `limit` elements (256 MiB of float32), else as it is.

    A stage that reads a layer several times (several similarity functions,
    several evidence sources) reads it once this way; a layer too large for
    that stays a memory map or :class:`RowSubset`, read a block at a time by each.

    Parameters
    ----------
    array : np.ndarray, np.memmap or RowSubset, shape (N, U)

    Returns
    -------
    np.ndarray (C-contiguous, in memory) or `array` itself
    """
    if isinstance(array, np.ndarray) and _mapping(array) is None:
        return array
    n, u = array.shape
    if n * u > limit:
        return array
    return read_columns(array, 0, int(u))


def column_blocks(array, *, block_units: int | None = None,
                  rows: np.ndarray | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """Consecutive column blocks of an (N, U) array, each read into memory.

    Parameters
    ----------
    array : np.ndarray, np.memmap or RowSubset, shape (N, U)
    block_units : int, optional
        Columns per block (default: :func:`block_size` for the rows read).
    rows : np.ndarray of int, optional
        Rows to read (default all).

    Yields
    ------
    units : slice
        The block's column range.
    block : np.ndarray, shape (n, units.stop - units.start)
    """
    n = array.shape[0] if rows is None else len(rows)
    u = int(array.shape[1])
    size = block_size(n, block_units=block_units)
    for start in range(0, u, size):
        stop = min(start + size, u)
        yield slice(start, stop), read_columns(array, start, stop, rows=rows)
