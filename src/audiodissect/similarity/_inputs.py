"""Input checks and unit chunking shared by the similarity functions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ..arrays import RowSubset, block_size, read_columns
from ..errors import AudioDissectError

#: Elements of the largest per-chunk temporary tensor when ``chunk_size`` is not
#: given. Each function holds a few tensors of this size at once, so the
#: working memory of one chunk stays around 100 MB whatever the number of units.
CHUNK_ELEMENTS = 2**22

#: Floor for norms and denominators that may be exactly zero (a dead unit).
TINY = 1e-12


def _as_tensor(x, what: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        t = torch.from_numpy(np.ascontiguousarray(_as_numeric_array(x, what)))
    if t.is_complex():
        raise AudioDissectError(f"{what} must be real, not {t.dtype}")
    if t.ndim != 2:
        raise AudioDissectError(
            f"{what} must be a 2-D array, got shape {tuple(t.shape)}",
            hint="evidence is (clips, concepts), activations is (clips, units)",
        )
    return t


def _as_numeric_array(x, what: str):
    """`x` as a numpy-like array of numbers; a memory map or :class:`RowSubset` is kept as it is (not read)."""
    if isinstance(x, (np.ndarray, RowSubset)):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # noqa: BLE001 - anything numpy refuses
            raise AudioDissectError(f"{what} is not an array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise AudioDissectError(f"{what} must hold numbers, not {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise AudioDissectError(f"{what} must be real, not {arr.dtype}")
    return arr


def check_finite(t: torch.Tensor, what: str) -> None:
    # min and max propagate NaN and reach an infinity: one fast pass
    # instead of a full boolean mask (counted only on failure).
    lo, hi = torch.aminmax(t)
    if not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))):
        bad = int((~torch.isfinite(t)).sum())
        raise AudioDissectError(f"{what} holds {bad} NaN or infinite value(s)",
                                hint="check the recording or evidence stage that produced it")


class ActivationColumns:
    """(N, U) activations handed out a block of units at a time, as tensors.

    A tensor is converted once; a numpy array, a memory map or a
    :class:`~audiodissect.arrays.RowSubset` is read block by block
    (:func:`~audiodissect.arrays.read_columns`), so a memory-mapped layer
    larger than memory is never read whole. Every block is checked for NaN
    and infinite values as it is read.

    ``cols[:, units]`` (a slice of units) gives a tensor of shape
    (N, units) in the working dtype, on :attr:`device`.
    """

    def __init__(self, source, *, dtype: torch.dtype, device: torch.device):
        self.source = source
        self.dtype = dtype
        self.device = device
        self.shape = (int(source.shape[0]), int(source.shape[1]))
        self._held: tuple[int, np.ndarray] | None = None  # (first unit, block read ahead)

    def _read(self, start: int, stop: int) -> np.ndarray:
        """Columns ``start:stop`` of a numpy source, read ahead in blocks of :func:`block_size` units.

        Reading a few columns of a row-major memory map costs about as much
        as reading a few pages of every row, so consecutive small chunks are
        served from one larger block read ahead. An in-memory array is
        sliced as it is.
        """
        src = self.source
        if not isinstance(src, RowSubset) and getattr(src, "_mmap", None) is None:  # in memory: a view
            view = src[:, start:stop]
            return view if view.flags.writeable else np.ascontiguousarray(view)
        if self._held is not None:
            first, block = self._held
            if first <= start and stop <= first + block.shape[1]:
                return block[:, start - first:stop - first]
        ahead = min(self.shape[1], start + max(stop - start, block_size(self.shape[0])))
        block = read_columns(self.source, start, ahead)
        self._held = (start, block)
        return block[:, :stop - start]

    def __getitem__(self, key) -> torch.Tensor:
        rows, units = key
        if rows != slice(None) or not isinstance(units, slice):
            raise TypeError("activation columns are read as [:, start:stop]")
        start, stop, _ = units.indices(self.shape[1])
        stop = max(start, stop)
        if isinstance(self.source, torch.Tensor):
            block = self.source[:, start:stop]
        else:
            block = torch.from_numpy(self._read(start, stop))
        block = block.to(device=self.device, dtype=self.dtype)
        check_finite(block, "activations")
        return block


def prepare(evidence, activations) -> tuple[torch.Tensor, ActivationColumns]:
    """Check and convert the two inputs of a similarity function.

    Parameters
    ----------
    evidence : array_like or torch.Tensor, shape (N, C)
        Per-clip evidence for each concept.
    activations : array_like, np.memmap, RowSubset or torch.Tensor, shape (N, U)
        One number per clip for each unit.

    Returns
    -------
    evidence : torch.Tensor, shape (N, C)
    activations : ActivationColumns, shape (N, U)
        On one device (the activations' if they are a tensor, else the
        evidence's, else the CPU), in float64 if either input is float64 and in
        float32 otherwise. The activations are read (and checked) a block of
        units at a time.

    Raises
    ------
    AudioDissectError
        For a shape that is not 2-D, an empty axis, a clip count that differs
        between the two, or a value that is NaN or infinite (in the
        activations: found when its block is read).
    """
    ev = _as_tensor(evidence, "evidence")
    act = activations.detach() if isinstance(activations, torch.Tensor) else \
        _as_numeric_array(activations, "activations")
    if isinstance(act, torch.Tensor) and act.is_complex():
        raise AudioDissectError(f"activations must be real, not {act.dtype}")
    if act.ndim != 2:
        raise AudioDissectError(
            f"activations must be a 2-D array, got shape {tuple(act.shape)}",
            hint="evidence is (clips, concepts), activations is (clips, units)",
        )
    if ev.shape[0] != act.shape[0]:
        raise AudioDissectError(
            f"evidence has {ev.shape[0]} clips but activations have {act.shape[0]}",
            hint="both must have one row per clip of the same probing set, in the same order",
        )
    if 0 in ev.shape or 0 in act.shape:
        raise AudioDissectError(
            f"empty input: evidence {tuple(ev.shape)}, activations {tuple(act.shape)}",
            hint="need at least one clip, one concept and one unit",
        )
    if isinstance(activations, torch.Tensor):
        device = act.device
    elif isinstance(evidence, torch.Tensor):
        device = ev.device
    else:
        device = torch.device("cpu")
    act_f64 = act.dtype == torch.float64 if isinstance(act, torch.Tensor) else act.dtype == np.float64
    dtype = torch.float64 if (ev.dtype == torch.float64 or act_f64) else torch.float32
    ev = ev.to(device=device, dtype=dtype)
    check_finite(ev, "evidence")
    return ev, ActivationColumns(act, dtype=dtype, device=device)


def column_groups(evidence: torch.Tensor, groups: Sequence[int] | None) -> list[torch.Tensor]:
    """`evidence` (N, C) cut into its groups of columns, each a contiguous (N, C_g) tensor.

    A function whose concepts compete (a softmax over them) scores several
    evidence sources side by side, each source's concepts a group: every group
    is scored as if alone, and the units' side (their top clips) is found once.

    Parameters
    ----------
    evidence : torch.Tensor, shape (N, C)
    groups : sequence of int, or None
        Consecutive column counts that sum to C; None: one group of every column.

    Raises
    ------
    AudioDissectError
        When the counts are not positive integers summing to C.
    """
    if groups is None:
        return [evidence]
    counts = [check_int(g, "a column group's size") for g in groups]
    if sum(counts) != evidence.shape[1]:
        raise AudioDissectError(f"the column groups {counts} cover {sum(counts)} columns, the evidence has "
                                f"{evidence.shape[1]}", hint="give each evidence source's concept count, in order")
    return [part.contiguous() for part in evidence.split(counts, dim=1)]


def column_products(a: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``a.T @ p`` accumulated in float64, shape (M, C) float64, from `a` (N, M) and `p` (N, C).

    A float32 product's rounding depends on the kernel's blocking, which depends on the matrices' widths and
    the machine's vector units: one concept's score would change in its last bits with the concepts scored
    beside it (every evidence source side by side, :data:`~audiodissect.identify.naming.COLUMNWISE`) and from
    one machine to another. Summed in float64, the scores rounded to float32 are the same either way.
    """
    return a.T.to(torch.float64) @ p.to(torch.float64)


def check_int(value, what: str, *, low: int = 1) -> int:
    """`value` as an int, or an error if it is not an integer >= `low`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise AudioDissectError(f"{what} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_number(value, what: str, *, positive: bool = False, nonnegative: bool = False) -> float:
    """`value` as a finite float, or an error."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise AudioDissectError(f"{what} must be a number, got {value!r}") from None
    if not np.isfinite(x) or (positive and x <= 0) or (nonnegative and x < 0):
        need = "a positive" if positive else "a non-negative" if nonnegative else "a finite"
        raise AudioDissectError(f"{what} must be {need} number, got {value!r}")
    return x


def unit_chunks(n_units: int, chunk_size: int | None, *, per_unit: int) -> Iterator[slice]:
    """Slices of at most `chunk_size` consecutive units covering ``range(n_units)``.

    Parameters
    ----------
    n_units : int
        U, the number of units.
    chunk_size : int or None
        Units per chunk; None picks ``CHUNK_ELEMENTS // per_unit`` (at least 1).
    per_unit : int
        Elements one unit adds to the largest temporary tensor of the function.
    """
    if chunk_size is None:
        size = max(1, CHUNK_ELEMENTS // max(1, per_unit))
    else:
        size = check_int(chunk_size, "chunk_size")
    for start in range(0, n_units, size):
        yield slice(start, min(start + size, n_units))
