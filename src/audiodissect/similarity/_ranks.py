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

import torch

from ._inputs import TINY


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
    cols = x.T.contiguous()                                     # (M, N): searchsorted works along rows
    ordered = torch.sort(cols, dim=1).values
    lo = torch.searchsorted(ordered, cols, right=False)
    hi = torch.searchsorted(ordered, cols, right=True)
    return ((lo + hi).to(x.dtype) / (2 * n)).T


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


def upper_half(x: torch.Tensor) -> torch.Tensor:
    """Every column floored at its median, shape of `x` (N, M).

    Unchanged by a positive scale or an offset of a column up to the same
    transform of the result, so the cosine of centred results is invariant to
    ``a_u x + b_u`` with ``a_u > 0``.
    """
    # the lower median (torch.median's), found by selection rather than torch.median's slower path
    median = torch.kthvalue(x, (x.shape[0] + 1) // 2, dim=0, keepdim=True).values
    return torch.maximum(x, median)


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
    lo, hi = torch.aminmax(x, dim=0, keepdim=True)
    eps = torch.finfo(x.dtype).eps
    constant = (hi - lo) <= CONSTANT_EPS * eps * torch.maximum(hi.abs(), lo.abs())
    return torch.where(constant, torch.zeros_like(x), x - mean)


def unit_columns(x: torch.Tensor) -> torch.Tensor:
    """Columns centred over rows (:func:`centred_columns`) and scaled to unit L2 norm (constant: zero), shape of `x`."""
    y = centred_columns(x)
    return y / torch.linalg.vector_norm(y, dim=0, keepdim=True).clamp_min(TINY)
