"""DB evidence: how well each clip's description matches each concept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import AudioDissectError


def description_evidence(descriptions: Sequence[str], concepts: Sequence[str], embedder: Any, *,
                         temperature: float = 100.0) -> np.ndarray:
    """Softmax over concepts of the scaled cosine between descriptions and concepts.

    P_db[i, c] = softmax_c(temperature * cos(e(description_i), e(concept_c))).

    Parameters
    ----------
    descriptions : sequence of str, length N
        One description per clip.
    concepts : sequence of str, length C
    embedder : object with ``encode(texts) -> (n, d)`` unit-norm rows
    temperature : float
        The paper's 100.

    Returns
    -------
    np.ndarray, shape (N, C), float32
        Rows sum to 1.
    """
    if len(descriptions) == 0 or len(concepts) == 0:
        raise AudioDissectError("description evidence needs at least one description and one concept")
    d = np.asarray(embedder.encode(list(descriptions)), dtype=np.float64)
    c = np.asarray(embedder.encode(list(concepts)), dtype=np.float64)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    logits = temperature * (d @ c.T)
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def top_k_clips(activations: np.ndarray, k: int) -> np.ndarray:
    """Each unit's `k` most-activating clips, for scoring a unit on those clips only.

    The original DB method scores hidden units on their top 5 clips.

    Parameters
    ----------
    activations : np.ndarray, shape (N, U)
    k : int
        Clipped to N.

    Returns
    -------
    np.ndarray, shape (U, k), int64
        Clip indices per unit, highest activation first (ties: lower index first).
    """
    a = np.asarray(activations)
    if a.ndim != 2 or a.shape[0] == 0:
        raise AudioDissectError(f"activations must be (N, U) with N >= 1, got shape {a.shape}")
    if k < 1:
        raise AudioDissectError(f"k must be at least 1, got {k}")
    k = min(int(k), a.shape[0])
    return np.argsort(-a, axis=0, kind="stable")[:k].T.astype(np.int64)
