"""Column transforms shared by the robust similarity functions.

A column's *mid-rank quantile* of a value is ``(rank - 0.5) / N`` with tied
values sharing their mean rank; its *normal score* is the standard normal
quantile of that, ``Phi^-1((rank - 0.5) / N)`` (the transform the tag bridge
and the acoustic evidence already apply to their columns). Both depend on the
order of a column's values only, so they are unchanged by any increasing
transform of the column (``p -> a p + b`` with ``a > 0`` among them), and no
single clip can weigh more than the extreme quantile allows. A constant column
has quantile 0.5 everywhere and normal scores 0 everywhere.

:func:`centred_columns` centres columns and makes constant ones exactly zero,
:func:`unit_columns` scales them to unit norm too.

A unit's *upper half* is its activations floored at their median: what the
unit responds to, at the scale of its responses, without the clips it
responds to least (the bottom tail of a logit unit reaches far further from
the mean than its top clips, and on the same clips for every unit).
"""

from __future__ import annotations

import numpy as np
import torch

from ._inputs import TINY
from ._memo import evidence_terms


def mid_quantiles(x: torch.Tensor) -> torch.Tensor:
    """Mid-rank quantile of every value within its column.

    Parameters
    ----------
    x : torch.Tensor, shape (N, M)

    Returns
    -------
    torch.Tensor, shape (N, M), dtype of `x`
        ``(rank - 0.5) / N`` in (0, 1), ties sharing their mean rank: with
        ``lo`` values strictly below and ``hi`` values at most equal to a
        value, its quantile is ``(lo + hi) / (2 N)``.
    """
    n = x.shape[0]
    if x.device.type == "cpu":
        bounds = torch.from_numpy(_rank_bounds(np.ascontiguousarray(x.detach().T.numpy())))
    else:
        cols = x.T.contiguous()                                 # (M, N): searchsorted works along rows
        ordered = torch.sort(cols, dim=1).values
        bounds = torch.searchsorted(ordered, cols, right=False) + torch.searchsorted(ordered, cols, right=True)
    return (bounds.to(x.dtype) / (2 * n)).T


def _rank_bounds(rows: np.ndarray) -> np.ndarray:
    """``lo + hi`` of every value within its row: values strictly below it plus values at most equal to it.

    numpy's sort is many times faster on the CPU than torch's sort and two
    searchsorted passes, which give the same integers. A value's tie group in the
    sorted row spans positions ``lo`` to ``hi - 1``.

    Parameters
    ----------
    rows : np.ndarray, shape (M, N)

    Returns
    -------
    np.ndarray of int64, shape (M, N)
    """
    m, n = rows.shape
    order = np.argsort(rows, axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    starts = np.ones((m, n), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]                    # a tie group begins here
    ends = np.ones((m, n), dtype=bool)
    ends[:, :-1] = starts[:, 1:]                                         # ... or ends here
    position = np.arange(n)
    lo = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    hi = np.minimum.accumulate(np.where(ends, position + 1, n)[:, ::-1], axis=1)[:, ::-1]
    out = np.empty((m, n), dtype=np.int64)
    np.put_along_axis(out, order, lo + hi, axis=1)
    return out


def normal_scores(x: torch.Tensor) -> torch.Tensor:
    """Every column replaced by its normal scores, ``Phi^-1(mid-rank quantile)``.

    Parameters
    ----------
    x : torch.Tensor, shape (N, M)

    Returns
    -------
    torch.Tensor, shape (N, M), dtype of `x`
        Within (-Phi^-1(1 - 0.5/N), Phi^-1(1 - 0.5/N)) (about +-3.4 for 1,600
        clips); a constant column gives zeros.
    """
    return torch.special.ndtri(mid_quantiles(x))


def evidence_normal_scores(evidence: torch.Tensor) -> torch.Tensor:
    """:func:`normal_scores` of evidence (N, C), computed once for equal evidence
    (:data:`~audiodissect.similarity._memo.evidence_terms`); not to be changed by the caller."""
    return evidence_terms("normal scores", evidence, lambda: normal_scores(evidence))


def upper_half(x: torch.Tensor) -> torch.Tensor:
    """Every column floored at its median, shape of `x` (N, M).

    Unchanged by a positive scale or an offset of a column up to the same
    transform of the result, so the cosine of centred results is invariant to
    ``a_u x + b_u`` with ``a_u > 0``.
    """
    return torch.maximum(x, lower_medians(x))


def lower_medians(x: torch.Tensor) -> torch.Tensor:
    """Every column's lower median (torch.median's: the ``(N + 1) // 2``-th smallest value), shape (1, M).

    Found by selection: on the CPU by numpy's partition along each column made a
    contiguous row (over ten times faster than ``torch.kthvalue`` down the
    columns of a (N, M) block, and the same values), elsewhere by ``torch.kthvalue``.
    """
    if x.device.type != "cpu":
        return torch.kthvalue(x, (x.shape[0] + 1) // 2, dim=0, keepdim=True).values
    return torch.from_numpy(row_lower_medians(np.ascontiguousarray(x.detach().T.numpy()))).unsqueeze(0)


def row_lower_medians(rows: np.ndarray) -> np.ndarray:
    """The lower median of each row of `rows` (..., N) (the ``(N + 1) // 2``-th smallest value along the last
    axis, by numpy's partition), shape (...)."""
    k = (rows.shape[-1] + 1) // 2
    return np.partition(rows, k - 1, axis=-1)[..., k - 1]


#: A column is constant when its range is at most this many machine epsilons of its largest magnitude
#: (the rule of :func:`audiodissect.evidence.coverage.constant_columns`).
CONSTANT_EPS = 16


def centred_columns(x: torch.Tensor) -> torch.Tensor:
    """Columns minus their mean (taken in float64), constant columns exactly zero, shape and dtype of `x`.

    A column is constant when ``max - min <= 16 * eps * max |x|`` (``eps`` of
    the dtype): without the rule, a float32 column of equal values minus a
    mean off by one rounding step would be a column of rounding noise, which
    scaling to unit norm would blow up to full weight.
    """
    mean = x.to(torch.float64).mean(dim=0, keepdim=True).to(x.dtype)
    lo, hi = x.amin(dim=0, keepdim=True), x.amax(dim=0, keepdim=True)  # torch.aminmax down columns is ~6x slower
    constant = constant_range(lo, hi)[0]                                # (M,)
    out = x - mean
    if bool(constant.any()):
        out[:, constant] = 0
    return out


def constant_range(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Whether columns with these smallest and largest values (any shape, the same) are constant:
    ``hi - lo <= CONSTANT_EPS * eps * max(|hi|, |lo|)`` (``eps`` of their dtype), the rule of
    :func:`audiodissect.evidence.coverage.constant_columns`."""
    return (hi - lo) <= CONSTANT_EPS * torch.finfo(lo.dtype).eps * torch.maximum(hi.abs(), lo.abs())


def unit_columns(x: torch.Tensor) -> torch.Tensor:
    """Columns centred over rows (:func:`centred_columns`) and scaled to unit L2 norm (constant: zero), shape of `x`."""
    y = centred_columns(x)
    return y / torch.linalg.vector_norm(y, dim=0, keepdim=True).clamp_min(TINY)
