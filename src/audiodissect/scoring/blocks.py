"""Correlations of one layer's explanations, a block of units at a time.

The pairs (explanation text, unit) of a layer are sorted by unit; each block
of units is read once (held-out rows only, from a memory map if that is
what the layer is), ranked and standardised once, and correlated with the
predictions for the distinct texts of its pairs, for every predictor, as
batched column dot products. Memory is bounded by one block of activations
and the predictions for one block's distinct texts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..arrays import block_size, read_columns
from ..errors import AudioDissectError
from .simulate import paired_dot, rank_columns, standardize_columns

#: Float64 copies of a block held at once (activations, ranks and their standardised forms).
_BLOCK_COPIES = 4


def predict(predictor: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str], *, n: int,
            name: str) -> np.ndarray:
    """The predictor's (n, len(texts)) predictions as float64, or an error naming a wrong shape."""
    pred = np.asarray(predictor(list(texts)), dtype=np.float64)
    if pred.shape != (n, len(texts)):
        raise AudioDissectError(f"predictor {name!r} gave shape {pred.shape}, expected {(n, len(texts))}")
    return pred


def layer_correlations(activations, units: np.ndarray, text_ids: np.ndarray, texts: Sequence[str],
                       predictors: Mapping[str, Callable[[Sequence[str]], np.ndarray]], *,
                       block_units: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Spearman and Pearson correlation of every (unit, text) pair of one layer, for every predictor.

    Parameters
    ----------
    activations : np.ndarray, np.memmap or RowSubset, shape (n, U)
        The layer's activations on the scoring clips (read a block of units at a time).
    units : np.ndarray of int, shape (m,)
        The unit of each pair.
    text_ids : np.ndarray of int, shape (m,)
        The text of each pair, an index into `texts`.
    texts : sequence of str, length T
        Distinct explanation texts.
    predictors : mapping of name to ``f(texts) -> (n, len(texts))``
    block_units : int, optional
        Units read at once (default: about 64 MiB of float64 working copies).

    Returns
    -------
    dict of predictor name to (spearman, pearson)
        Two float64 arrays of shape (m,) in pair order, in [-1, 1], NaN where
        a column is constant or n < 2.
    """
    n, n_units = int(activations.shape[0]), int(activations.shape[1])
    units = np.asarray(units, dtype=np.int64)
    text_ids = np.asarray(text_ids, dtype=np.int64)
    m = len(units)
    out = {name: (np.full(m, np.nan), np.full(m, np.nan)) for name in predictors}
    if m == 0:
        return out
    if units.min() < 0 or units.max() >= n_units:
        raise AudioDissectError(f"a unit index is outside the layer's {n_units} units")
    order = np.argsort(units, kind="stable")
    sorted_units = units[order]
    size = block_size(n, per_row=_BLOCK_COPIES * 2, block_units=block_units)
    first = int(sorted_units[0]) - int(sorted_units[0]) % size
    for start in range(first, n_units, size):
        stop = min(start + size, n_units)
        lo, hi = np.searchsorted(sorted_units, [start, stop])
        if lo == hi:
            continue
        pairs = order[lo:hi]
        block_texts, local_text = np.unique(text_ids[pairs], return_inverse=True)
        local_unit = units[pairs] - start
        names = [texts[i] for i in block_texts]
        block = np.asarray(read_columns(activations, start, stop), dtype=np.float64)  # (n, w)
        if n < 2:
            continue
        plain = standardize_columns(block)
        ranked = standardize_columns(rank_columns(block))
        del block
        for name, predictor in predictors.items():
            pred = predict(predictor, names, n=n, name=name)  # (n, t)
            spearman, pearson = out[name]
            pearson[pairs] = np.clip(paired_dot(standardize_columns(pred), local_text, plain, local_unit), -1, 1)
            spearman[pairs] = np.clip(paired_dot(standardize_columns(rank_columns(pred)), local_text,
                                                 ranked, local_unit), -1, 1)
    return out
