"""cos: cosine similarity between a unit's activations and a concept's evidence (published and robust)."""

from __future__ import annotations

import torch

from ._inputs import TINY, column_products, prepare, unit_chunks
from ._ranks import unit_columns, upper_half


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
        out[sl] = (column_products(a, p) / norm.unsqueeze(1)).to(torch.float32)
    return out


def cos_robust(evidence, activations, *, chunk_size: int | None = None) -> torch.Tensor:
    """Correlation of a concept's evidence with a unit's upper half: the robust variant of :func:`cos`.

    A unit's activations are floored at their median
    (:func:`~audiodissect.similarity._ranks.upper_half`). Both columns are
    centred (a constant column becomes zeros,
    :func:`~audiodissect.similarity._ranks.centred_columns`) and scaled to
    unit norm; the score is their dot product, the Pearson correlation, in
    [-1, 1] (0 for a constant column).

    What it changes and why:

    * **centring.** The published :func:`cos` is uncentred: a concept whose
      evidence has a large common level (``p_c + b_c``) points towards the
      all-ones direction and wins for every unit whose activations share a
      common positive level (post-ReLU units) or loses for every unit below
      zero (logits): on YAMNet's 521 output units over the soundbank, DB
      evidence named 99 % of them "bright". A correlation does not change
      with a concept's offset or scale;
    * **the unit's upper half.** Centred raw activations let the unit's
      farthest tail decide; for logits that is the bottom tail, on clips
      every unit shares (YAMNet's output units fall below -300 on a few
      clips while their top clips sit near 0), so every unit would be named after
      what it responds to *least*. Flooring at the median keeps what the unit
      responds to, at the scale of its responses.

    Invariant to ``a_c p_c + b_c`` (``a_c > 0``) of a concept's evidence and
    to ``a_u x + b_u`` (``a_u > 0``) of a unit's activations.

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
    p = unit_columns(ev)
    out = torch.empty((act.shape[1], c), dtype=torch.float32, device=act.device)
    for sl in unit_chunks(act.shape[1], chunk_size, per_unit=3 * n + c):
        a = unit_columns(upper_half(act[:, sl]))
        out[sl] = column_products(a, p).to(torch.float32)
    return out
