"""Simulation and correlation: the pure arithmetic of explanation scoring.

An explanation is scored by how well a prediction made from its text alone
follows the unit's real activations on held-out clips. The prediction is a
similarity between the explanation text and each clip (the clip's
description embedding, or the audio-text evidence for the text); the score is
the Spearman (and Pearson) correlation of prediction and activation.

Constant columns
----------------
A correlation with a constant column (a dead unit, or a prediction that is
the same for every clip) is undefined. :func:`correlate` returns NaN for it,
as :func:`scipy.stats.pearsonr` does; the run summary
(:mod:`audiodissect.scoring.score`) counts those NaNs separately and scores
them 0 ("predicts nothing") in its means, so an explanation kind cannot gain
by producing undefined scores.
"""

from __future__ import annotations

import numpy as np

#: Columns whose standard deviation is below this (relative to their scale) count as constant.
_CONSTANT_RTOL = 1e-6
#: Paired columns correlated per block, to bound memory on very many explanations.
DEFAULT_CHUNK = 4096


def simulate(explanation_vectors: np.ndarray, clip_vectors: np.ndarray) -> np.ndarray:
    """Predicted activations: cosine between each clip and each explanation.

    Parameters
    ----------
    explanation_vectors : np.ndarray, shape (m, d)
        One embedding per explanation text.
    clip_vectors : np.ndarray, shape (n, d)
        One embedding per clip (e.g. of its description), in the same space.

    Returns
    -------
    np.ndarray, shape (n, m), float32
        ``cos(clip_i, explanation_j)``; a zero vector gives 0.
    """
    e = np.asarray(explanation_vectors, dtype=np.float64)
    c = np.asarray(clip_vectors, dtype=np.float64)
    if e.ndim != 2 or c.ndim != 2 or e.shape[1] != c.shape[1]:
        raise ValueError(f"need (m, d) and (n, d) arrays, got {e.shape} and {c.shape}")
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    return (c @ e.T).astype(np.float32)


def rank_columns(x: np.ndarray) -> np.ndarray:
    """Rank every column (1 = smallest), ties sharing their average rank.

    Parameters
    ----------
    x : np.ndarray, shape (n, m)

    Returns
    -------
    np.ndarray, shape (n, m), float64
    """
    from scipy.stats import rankdata

    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] == 0:
        return x.copy()
    return rankdata(x, axis=0, method="average")


def standardize_columns(x: np.ndarray) -> np.ndarray:
    """Centre every column and divide by its norm; constant columns become NaN.

    The correlation of two columns is then the dot product of their
    standardised forms.

    Parameters
    ----------
    x : np.ndarray, shape (n, m)

    Returns
    -------
    np.ndarray, shape (n, m), float64
    """
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0, keepdims=True)
    norm = np.linalg.norm(centred, axis=0)
    scale = np.abs(x).max(axis=0) if x.shape[0] else np.zeros(x.shape[1])
    constant = norm <= _CONSTANT_RTOL * np.maximum(scale, 1e-30) * np.sqrt(max(x.shape[0], 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = centred / norm
    out[:, constant] = np.nan
    return out


def paired_dot(a: np.ndarray, a_index: np.ndarray, b: np.ndarray, b_index: np.ndarray, *,
               chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Dot products of column pairs ``(a[:, a_index[j]], b[:, b_index[j]])``.

    Parameters
    ----------
    a : np.ndarray, shape (n, p)
    a_index : np.ndarray, shape (m,), int
    b : np.ndarray, shape (n, q)
    b_index : np.ndarray, shape (m,), int
    chunk : int
        Pairs gathered per block.

    Returns
    -------
    np.ndarray, shape (m,), float64
    """
    a_index = np.asarray(a_index, dtype=np.int64)
    b_index = np.asarray(b_index, dtype=np.int64)
    out = np.empty(len(a_index), dtype=np.float64)
    for start in range(0, len(a_index), chunk):
        sl = slice(start, start + chunk)
        out[sl] = np.einsum("ij,ij->j", a[:, a_index[sl]], b[:, b_index[sl]])
    return out


def correlate(pred: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman and Pearson correlation of paired columns.

    Parameters
    ----------
    pred : np.ndarray, shape (n, m)
        Predicted activations, one column per explanation.
    actual : np.ndarray, shape (n, m)
        Real activations, column j paired with ``pred[:, j]``.

    Returns
    -------
    spearman : np.ndarray, shape (m,)
    pearson : np.ndarray, shape (m,)
        NaN where either column is constant (see the module docstring) or n < 2.
    """
    pred = np.asarray(pred, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if pred.shape != actual.shape or pred.ndim != 2:
        raise ValueError(f"pred and actual must be (n, m) arrays of one shape, got {pred.shape} and {actual.shape}")
    index = np.arange(pred.shape[1])
    return (paired_correlation(rank_columns(pred), index, rank_columns(actual), index),
            paired_correlation(pred, index, actual, index))


def paired_correlation(a: np.ndarray, a_index: np.ndarray, b: np.ndarray, b_index: np.ndarray, *,
                       chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Pearson correlation of the column pairs ``(a[:, a_index[j]], b[:, b_index[j]])``.

    Each of `a` and `b` is standardised once, so a column shared by many
    pairs (an explanation text used by many units, a unit with many
    explanations) costs one standardisation. Pass ranked columns
    (:func:`rank_columns`) for Spearman correlation.

    Parameters
    ----------
    a : np.ndarray, shape (n, p)
    a_index : np.ndarray, shape (m,), int
    b : np.ndarray, shape (n, q)
    b_index : np.ndarray, shape (m,), int

    Returns
    -------
    np.ndarray, shape (m,), float64
        In [-1, 1]; NaN where a column is constant or n < 2.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b need the same rows, got {a.shape[0]} and {b.shape[0]}")
    if a.shape[0] < 2:
        return np.full(len(np.asarray(a_index)), np.nan)
    r = paired_dot(standardize_columns(a), a_index, standardize_columns(b), b_index, chunk=chunk)
    return np.clip(r, -1.0, 1.0)
