"""Correlations of one layer's explanations, a block of units at a time.

The distinct explanation texts of all layers are predicted once
(:class:`PredictionTable`). The pairs (explanation text, unit) of a layer are sorted by unit; each block
of units is read once (held-out rows only, from a memory map if that is
what the layer is), ranked and standardised once, and correlated with the
predictions for the distinct texts of its pairs, for every predictor, as
batched column dot products. Memory is bounded by one block of activations
and the prediction table (or, past its budget, one block's predictions).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..arrays import block_size, read_columns
from ..errors import AudioDissectError
from ..executor import LocalExecutor, shared_state
from .simulate import paired_dot, rank_columns, standardize_columns

#: Float64 copies of a block held at once (activations, ranks and their standardised forms).
_BLOCK_COPIES = 4
#: Largest (clips x texts x predictors) table of predictions kept for all texts at once (1 GiB of float64).
TABLE_ELEMENTS = 2**27
#: Texts given to a predictor in one call when the table is built.
TEXTS_PER_CALL = 4096


def predict(predictor: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str], *, n: int,
            name: str) -> np.ndarray:
    """The predictor's (n, len(texts)) predictions as float64, or an error naming a wrong shape."""
    pred = np.asarray(predictor(list(texts)), dtype=np.float64)
    if pred.shape != (n, len(texts)):
        raise AudioDissectError(f"predictor {name!r} gave shape {pred.shape}, expected {(n, len(texts))}")
    return pred


class PredictionTable:
    """Every predictor's predictions for every distinct text, computed once when they fit in memory.

    The texts of all layers are predicted in chunks of :data:`TEXTS_PER_CALL`
    texts (so an embedder sees long, length-sorted batches) and kept as
    float64 columns, when ``n * T * predictors`` stays within
    :data:`TABLE_ELEMENTS`; otherwise :meth:`columns` asks the predictor for
    the wanted texts each time (memory then bounded by one block's texts).

    With an executor, the chunks are predicted by its workers, each holding
    a copy of the predictors (sent once per worker); the first chunk of each
    predictor is predicted here first, so whatever a predictor computes once
    (a clip side, a loaded model) is computed before the copies are made.
    The chunks are the same either way, so the table is too.

    Parameters
    ----------
    predictors : mapping of name to ``f(texts) -> (n, len(texts))``
    texts : sequence of str, length T
        Distinct texts.
    n : int
        Rows (scoring clips) of every prediction.
    executor : Executor, optional
        Where the chunks are predicted (default: in this process).
    """

    def __init__(self, predictors: Mapping[str, Callable[[Sequence[str]], np.ndarray]], texts: Sequence[str],
                 *, n: int, executor: Any = None):
        self.predictors = dict(predictors)
        self.names = list(self.predictors)
        self.texts = list(texts)
        self.n = n
        self.tables: dict[str, np.ndarray] = {}
        if n * len(self.texts) * max(1, len(self.predictors)) > TABLE_ELEMENTS:
            return
        order = sorted(range(len(self.texts)), key=lambda i: len(self.texts[i]))
        chunks = [order[lo:lo + TEXTS_PER_CALL] for lo in range(0, len(order), TEXTS_PER_CALL)]
        self.tables = {name: np.empty((n, len(self.texts)), dtype=np.float64) for name in self.names}
        if not chunks:
            return
        work = functools.partial(_predict_chunk, texts=self.texts, n=n)
        for name in self.names:
            self.tables[name][:, chunks[0]] = work(self.predictors, (name, chunks[0]))
        rest = [(name, ids) for name in self.names for ids in chunks[1:]]
        if rest:
            runner = executor if executor is not None else LocalExecutor()
            for (name, ids), pred in zip(rest, runner.map(work, rest, setup=shared_state(self.predictors))):
                self.tables[name][:, ids] = pred

    @property
    def complete(self) -> bool:
        """Whether every predictor's predictions are in the table (then :meth:`columns` only reads)."""
        return all(name in self.tables for name in self.names)

    def __getstate__(self) -> dict[str, Any]:
        """A complete table travels without its predictors (workers only read columns)."""
        state = dict(self.__dict__)
        if self.complete:
            state["predictors"] = {}
        return state

    def columns(self, name: str, text_ids: np.ndarray) -> np.ndarray:
        """Predictions of predictor `name` for the texts `text_ids`, shape (n, len(text_ids)), float64."""
        if name in self.tables:
            return self.tables[name][:, text_ids]
        return predict(self.predictors[name], [self.texts[i] for i in text_ids], n=self.n, name=name)


def _predict_chunk(predictors: Mapping[str, Callable], item: tuple[str, list[int]], *, texts: Sequence[str],
                   n: int) -> np.ndarray:
    """Predictor ``item[0]``'s (n, len(item[1])) predictions for the texts at indices ``item[1]``."""
    name, ids = item
    return predict(predictors[name], [texts[i] for i in ids], n=n, name=name)


#: The measures :func:`layer_correlations` gives every (unit, text) pair.
MEASURES = ("spearman", "pearson", "spearman_low", "spearman_high", "detection_auprc", "detection_bacc",
            "detection_auprc_hard", "detection_bacc_hard")


def layer_correlations(activations, units: np.ndarray, text_ids: np.ndarray, predictions: PredictionTable, *,
                       block_units: int | None = None, resamples: np.ndarray | None = None,
                       embedding: np.ndarray | None = None, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Correlations, bootstrap intervals and detection scores of every (unit, text) pair of one layer.

    Parameters
    ----------
    activations : np.ndarray, np.memmap or RowSubset, shape (n, U)
        The layer's activations on the scoring clips (read a block of units at a time).
    units : np.ndarray of int, shape (m,)
        The unit of each pair.
    text_ids : np.ndarray of int, shape (m,)
        The text of each pair, an index into ``predictions.texts``.
    predictions : PredictionTable
        The predictors and the distinct explanation texts.
    block_units : int, optional
        Units read at once (default: about 64 MiB of float64 working copies).
    resamples : np.ndarray of int, shape (B, n), optional
        Bootstrap samples of the clips for the Spearman intervals (none: Bonett and Wright's interval).
    embedding : np.ndarray, shape (n, d), optional
        The clips' audio embeddings (unit rows) for the hard negatives (none: no hard detection).

    Returns
    -------
    dict of predictor name to dict of measure to np.ndarray, shape (m,)
        The :data:`MEASURES`, in pair order, NaN where undefined (a constant column, n < 2, no
        intervals or no embedding asked for).
    """
    from .detection import bootstrap_spearman, detection_sets, pair_detection, positive_count, spearman_interval

    n, n_units = int(activations.shape[0]), int(activations.shape[1])
    units = np.asarray(units, dtype=np.int64)
    text_ids = np.asarray(text_ids, dtype=np.int64)
    m = len(units)
    out = {name: {measure: np.full(m, np.nan) for measure in MEASURES} for name in predictions.names}
    if m == 0:
        return out
    k = positive_count(n)
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
        block = np.asarray(read_columns(activations, start, stop), dtype=np.float64)  # (n, w)
        if n < 2:
            continue
        plain = standardize_columns(block)
        ranked = standardize_columns(rank_columns(block))
        sets = detection_sets(block, k, embedding=embedding) if k >= 1 else None
        constant = (np.ptp(block, axis=0) == 0)[local_unit]  # (pairs,): a unit without top clips to detect
        for name in predictions.names:
            pred = predictions.columns(name, block_texts)  # (n, t)
            measures = out[name]
            measures["pearson"][pairs] = np.clip(paired_dot(standardize_columns(pred), local_text, plain,
                                                            local_unit), -1, 1)
            measures["spearman"][pairs] = np.clip(paired_dot(standardize_columns(rank_columns(pred)), local_text,
                                                             ranked, local_unit), -1, 1)
            if sets is not None:
                positives, others, hard = sets
                measures["detection_auprc"][pairs], measures["detection_bacc"][pairs] = pair_detection(
                    pred, local_text, local_unit, positives, others)
                if hard is not None:
                    measures["detection_auprc_hard"][pairs], measures["detection_bacc_hard"][pairs] = \
                        pair_detection(pred, local_text, local_unit, positives, hard)
                for measure in ("detection_auprc", "detection_bacc", "detection_auprc_hard", "detection_bacc_hard"):
                    measures[measure][pairs[constant]] = np.nan
            if resamples is not None:
                measures["spearman_low"][pairs], measures["spearman_high"][pairs] = bootstrap_spearman(
                    block, pred, local_text, local_unit, resamples=resamples)
            else:
                measures["spearman_low"][pairs], measures["spearman_high"][pairs] = spearman_interval(
                    measures["spearman"][pairs], n)
        del block
    return out
