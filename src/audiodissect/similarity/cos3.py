"""cos3: cosine similarity of centred, cubed columns (CLIP-Dissect's "cos^3"), published and robust."""

from __future__ import annotations

import torch

from ._inputs import TINY, check_number, column_products, prepare, unit_chunks
from ._ranks import unit_columns, upper_half


def _centre_cube(x: torch.Tensor, norm_floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Columns of `x` (N, M) centred over clips and cubed, and their norms floored, shape (M,)."""
    y = x - x.mean(dim=0, keepdim=True)
    y.mul_(y.square())
    return y, torch.linalg.vector_norm(y, dim=0).clamp_min_(norm_floor)


def cos3(evidence, activations, *, norm_floor: float = 1e-3,
         chunk_size: int | None = None) -> torch.Tensor:
    """Cosine similarity of centred and cubed columns.

    Each column (a unit's activations, a concept's evidence) has its mean over
    clips subtracted, is cubed element-wise, and is divided by its L2 norm
    floored at `norm_floor`; the score is the dot product of the two columns.
    Cubing lets the clips far from the mean (a unit's strongest responses)
    dominate the score.

    Parameters
    ----------
    evidence : array_like or torch.Tensor, shape (N, C)
        Evidence of each concept in each clip.
    activations : array_like or torch.Tensor, shape (N, U)
        Activation of each unit on each clip.
    norm_floor : float, default 1e-3
        Smallest norm a column is divided by (the published setting).
    chunk_size : int, optional
        Units processed at once (default: bounded by memory).

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores, at most 1 (higher means a better match).
    """
    floor = check_number(norm_floor, "norm_floor", positive=True)
    ev, act = prepare(evidence, activations)
    n, c = ev.shape
    p, p_norm = _centre_cube(ev, floor)
    p = p / p_norm
    out = torch.empty((act.shape[1], c), dtype=torch.float32, device=act.device)
    for sl in unit_chunks(act.shape[1], chunk_size, per_unit=n + c):
        a, a_norm = _centre_cube(act[:, sl], floor)
        out[sl] = (column_products(a, p) / a_norm.unsqueeze(1)).to(torch.float32)
    return out


def _cubed_unit_columns(x: torch.Tensor) -> torch.Tensor:
    """Columns of `x` (N, M) centred, cubed and scaled to unit norm (a constant column gives zeros).

    Each centred column is scaled to unit norm before it is cubed, so that the
    cube of a column with a tiny spread does not underflow; that does not
    change the result, which is scaled to unit norm again.
    """
    y = unit_columns(x)
    y.mul_(y.square())
    return y / torch.linalg.vector_norm(y, dim=0, keepdim=True).clamp_min(TINY)


def cos3_robust(evidence, activations, *, chunk_size: int | None = None) -> torch.Tensor:
    """Cosine of centred, cubed columns without a norm floor or a bottom tail: the robust :func:`cos3`.

    A unit's activations are floored at their median (its upper half,
    :func:`~audiodissect.similarity._ranks.upper_half`). Each column (the
    unit's, the concept's evidence) is centred (a constant column becomes
    zeros), cubed element-wise and scaled to unit norm; the score is the dot
    product. Cubing still lets the clips far from the mean (a unit's
    strongest responses) dominate, as published.

    What it changes and why:

    * **no absolute norm floor.** The published floor (1e-3) is absolute: a
      column whose centred cube has a smaller norm (evidence with a spread
      under about 0.03 on a probe of 145 clips: CLAP cosines, DB softmax
      columns of rare words) is divided by the floor instead of its norm, so
      among such columns the one with the largest spread wins for every unit.
      Every non-constant column is now scaled to unit norm (a constant column
      scores 0);
    * **the unit's upper half.** Cubing raw values lets a unit's farthest tail
      decide its concept; for logits that tail is the bottom one (YAMNet's
      output units fall below -300 on a few clips, mostly the same ones, while
      their top clips sit near 0), so every unit was named after what it responds to *least*: on
      the soundbank, TAB named 99 % of YAMNet's 521 output units "marimba".
      Flooring at the median keeps the published emphasis on the strongest
      responses and drops that tail.

    Invariant to ``a_c p_c + b_c`` (``a_c > 0``) of a concept's evidence and
    to ``a_u x + b_u`` (``a_u > 0``) of a unit's activations. The price: only
    the unit's upper half is compared, so evidence that copies a unit's whole
    column is not sure to win over evidence that matches its upper half as
    well (a unit whose upper half resembles another unit's may be named after
    that one).

    Parameters
    ----------
    evidence : array_like or torch.Tensor, shape (N, C)
        Evidence of each concept in each clip.
    activations : array_like or torch.Tensor, shape (N, U)
        Activation of each unit on each clip.
    chunk_size : int, optional
        Units processed at once (default: bounded by memory).

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores in [-1, 1]; higher means a better match.
    """
    ev, act = prepare(evidence, activations)
    n, c = ev.shape
    p = _cubed_unit_columns(ev)
    out = torch.empty((act.shape[1], c), dtype=torch.float32, device=act.device)
    for sl in unit_chunks(act.shape[1], chunk_size, per_unit=3 * n + c):
        out[sl] = column_products(_cubed_unit_columns(upper_half(act[:, sl])), p).to(torch.float32)
    return out
