"""cos3: cosine similarity of centred, cubed columns (CLIP-Dissect's "cos^3")."""

from __future__ import annotations

import torch

from ._inputs import check_number, prepare, unit_chunks


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
        out[sl] = ((a.T @ p) / a_norm.unsqueeze(1)).to(torch.float32)
    return out
