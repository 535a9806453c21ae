"""cos: cosine similarity between a unit's activations and a concept's evidence."""

from __future__ import annotations

import torch

from ._inputs import TINY, prepare, unit_chunks


def cos(evidence, activations, *, chunk_size: int | None = None) -> torch.Tensor:
    """Cosine similarity over clips of every (unit, concept) pair.

    Each column is divided by its L2 norm over clips (a column of zeros stays
    zero and scores 0); the score is the dot product of the two columns.

    Parameters
    ----------
    evidence : array_like or torch.Tensor, shape (N, C)
        Evidence of each concept in each clip.
    activations : array_like or torch.Tensor, shape (N, U)
        Activation of each unit on each clip.
    chunk_size : int, optional
        Units processed at once (default: bounded by memory, see
        :data:`CHUNK_ELEMENTS`).

    Returns
    -------
    torch.Tensor, shape (U, C), float32
        Scores in [-1, 1]; higher means a better match.
    """
    ev, act = prepare(evidence, activations)
    n, c = ev.shape
    p = ev / ev.norm(dim=0, keepdim=True).clamp_min(TINY)
    out = torch.empty((act.shape[1], c), dtype=torch.float32, device=act.device)
    for sl in unit_chunks(act.shape[1], chunk_size, per_unit=n + c):
        a = act[:, sl]
        norm = torch.linalg.vector_norm(a, dim=0).clamp_min_(TINY)  # (m,)
        out[sl] = ((a.T @ p) / norm.unsqueeze(1)).to(torch.float32)
    return out
