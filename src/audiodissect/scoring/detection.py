"""Detection scores and bootstrap intervals of explanations, for a block of units at a time.

Detection (after Delphi's detection scoring): a unit's *positives* are its
top-quantile held-out clips; its *negatives* are every other held-out clip
(the plain scores), or as many other clips as positives taken nearest to the
positives in an audio embedding (``hard``: the clips most easily confused
with them). The explanation's predictor scores every clip; the detection
scores say how well those scores pick the positives out: the average
precision (AUPRC; chance is the positives' share, 0.1 against every clip and
0.5 against the hard negatives) and the balanced accuracy at the best
threshold on the scores (the mean of the true-positive and true-negative
rates; 0.5 is chance).

Against every other clip both pass the missing- and extra-label sanity tests
(:mod:`~audiodissect.scoring.sanity`); against the hard negatives they see
only the clips near the positives, so labels wrongly added elsewhere go
unnoticed: the hard scores measure specificity among confusable clips, a
diagnostic beside the scores rather than a score of their own. Tied scores are one
threshold, so a predictor that gives many clips the same score (a concept's
0/1 labels) is never credited for an order it does not give.

Intervals: by default Bonett and Wright's (2000) interval of a Spearman
correlation, ``tanh(atanh(r) +- 1.96 sqrt((1 + r^2 / 2) / (n - 3)))``; with
bootstrap resamples of the held-out clips (the same resamples for every
pair), the 2.5 and 97.5 percentiles of the recomputed correlations instead.

Every function is vectorised over units and pairs; shapes are given per
function.
"""

from __future__ import annotations

import numpy as np

from .simulate import paired_dot, rank_columns, standardize_columns

#: Share of a unit's held-out clips that are its positives.
POSITIVE_SHARE = 0.1
#: Fewest positives per unit.
MIN_POSITIVES = 3


def positive_count(n: int, share: float = POSITIVE_SHARE) -> int:
    """Positives per unit among `n` clips: `share` of them, at least :data:`MIN_POSITIVES`, at most half."""
    return int(min(max(MIN_POSITIVES, round(share * n)), n // 2))


def detection_sets(block: np.ndarray, k: int, *,
                   embedding: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Each unit's positives, every other clip, and its hard negatives.

    Parameters
    ----------
    block : np.ndarray, shape (n, w)
        Activations of `w` units on `n` clips.
    k : int
        Positives (and hard negatives) per unit.
    embedding : np.ndarray, shape (n, d), optional
        The clips' audio embeddings (rows of unit norm) for the hard negatives.

    Returns
    -------
    positives : np.ndarray of int, shape (k, w)
        Clip indices, the unit's top `k` clips (ties: the earlier clip).
    others : np.ndarray of int, shape (n - k, w)
        Every other clip, in clip order.
    hard : np.ndarray of int, shape (k, w) or None
        The other clips nearest to the positives' centroid; None without an embedding.
    """
    n, w = block.shape
    positives = np.argsort(-block, axis=0, kind="stable")[:k]                    # (k, w)
    is_positive = np.zeros((n, w), dtype=bool)
    np.put_along_axis(is_positive, positives, True, axis=0)
    others = np.argsort(is_positive, axis=0, kind="stable")[:n - k]              # the non-positives, in order
    hard = None
    if embedding is not None:
        centroids = embedding[positives].mean(axis=0)                             # (w, d)
        closeness = embedding @ centroids.T                                       # (n, w)
        closeness[is_positive] = -np.inf
        hard = np.argpartition(-closeness, k - 1, axis=0)[:k]
    return positives, others, hard


def average_precision(scores: np.ndarray, k: int) -> np.ndarray:
    """Average precision of each row's first `k` entries (positives) against the rest (negatives).

    Each distinct score is one threshold: the precision of a block of tied
    scores is that of the whole block (as scikit-learn computes it).

    Parameters
    ----------
    scores : np.ndarray, shape (m, T)
        Positives in columns ``[0, k)``, negatives after.

    Returns
    -------
    np.ndarray, shape (m,)
    """
    return _average_precision(*_ranked(scores, k), k)


def balanced_accuracy(scores: np.ndarray, k: int) -> np.ndarray:
    """Best balanced accuracy over thresholds on each row's scores, shape (m,).

    Calling the clips scored at or above a threshold positive gives a
    true-positive rate and a true-negative rate; the balanced accuracy is
    their mean, taken at the best threshold between distinct scores (0.5:
    calling everything, or nothing, positive).

    Parameters
    ----------
    scores : np.ndarray, shape (m, T)
        Positives in columns ``[0, k)``, negatives after.
    """
    return _balanced_accuracy(*_ranked(scores, k), k)


def _ranked(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's scores sorted high to low (ties in column order) and whether each is a positive (one of the
    row's first `k` columns): two (m, T) arrays, the first of the scores' dtype, the second bool."""
    labels = np.zeros(scores.shape[1], dtype=bool)
    labels[:k] = True
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(scores, order, axis=1), labels[order]


def _tie_ends(ranked: np.ndarray) -> np.ndarray:
    """Whether each position of sorted rows (m, T) is the last of its block of tied scores, (m, T) bool."""
    ends = np.ones(ranked.shape, dtype=bool)
    ends[:, :-1] = ranked[:, :-1] != ranked[:, 1:]
    return ends


def _average_precision(ranked: np.ndarray, hits: np.ndarray, k: int) -> np.ndarray:
    m, total = ranked.shape
    precision = np.cumsum(hits, axis=1) / np.arange(1, total + 1)
    block_end = np.where(_tie_ends(ranked), np.arange(total), total)[:, ::-1]
    block_end = np.minimum.accumulate(block_end, axis=1)[:, ::-1]                 # each position's block end
    return (hits * np.take_along_axis(precision, block_end, axis=1)).sum(axis=1) / k


def _balanced_accuracy(ranked: np.ndarray, hits: np.ndarray, k: int) -> np.ndarray:
    total = ranked.shape[1]
    tpr = np.cumsum(hits, axis=1) / k
    tnr = 1 - np.cumsum(~hits, axis=1) / max(total - k, 1)
    # thresholds between distinct scores only
    return np.maximum(np.where(_tie_ends(ranked), (tpr + tnr) / 2, 0.0).max(axis=1), 0.5)


def pair_detection(pred: np.ndarray, text: np.ndarray, unit: np.ndarray, positives: np.ndarray,
                   negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUPRC and balanced accuracy of every (text, unit) pair (each pair's scores sorted once for both).

    Parameters
    ----------
    pred : np.ndarray, shape (n, t)
        Each text's predictions.
    text, unit : np.ndarray of int, shape (m,)
        Column of `pred` and of the sets, per pair.
    positives : np.ndarray of int, shape (k, w)
    negatives : np.ndarray of int, shape (j, w)

    Returns
    -------
    auprc, balanced : np.ndarray, shape (m,)
    """
    k = positives.shape[0]
    clips = np.concatenate([positives, negatives])[:, unit]                       # (k + j, m)
    scores = pred[clips, text[None, :]].T                                         # (m, k + j)
    ranked, hits = _ranked(scores, k)
    return _average_precision(ranked, hits, k), _balanced_accuracy(ranked, hits, k)


def spearman_interval(rho: np.ndarray, n: int, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Bonett and Wright's (2000) interval of Spearman correlations `rho` (m,) over `n` clips, shape (m,) each.

    NaN where `rho` is NaN or ``n <= 3``.
    """
    from scipy.stats import norm

    rho = np.clip(np.asarray(rho, dtype=np.float64), -0.999999, 0.999999)
    if n <= 3:
        return np.full(rho.shape, np.nan), np.full(rho.shape, np.nan)
    half = norm.ppf(0.5 + level / 2) * np.sqrt((1 + rho ** 2 / 2) / (n - 3))
    return np.tanh(np.arctanh(rho) - half), np.tanh(np.arctanh(rho) + half)


def bootstrap_spearman(block: np.ndarray, pred: np.ndarray, text: np.ndarray, unit: np.ndarray, *,
                       resamples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of each pair's Spearman correlation.

    Parameters
    ----------
    block : np.ndarray, shape (n, w)
    pred : np.ndarray, shape (n, t)
    text, unit : np.ndarray of int, shape (m,)
    resamples : np.ndarray of int, shape (B, n)
        Clip indices of each bootstrap sample (the same for every pair).
    level : float

    Returns
    -------
    low, high : np.ndarray, shape (m,)
        NaN where every resample's correlation is undefined.
    """
    values = np.full((len(resamples), len(text)), np.nan)
    for b, idx in enumerate(resamples):
        ranked_units = standardize_columns(rank_columns(block[idx]))
        ranked_texts = standardize_columns(rank_columns(pred[idx]))
        values[b] = paired_dot(ranked_texts, text, ranked_units, unit)
    tail = (1 - level) / 2 * 100
    with np.errstate(all="ignore"):
        if np.isnan(values).all(axis=0).any():
            low = np.full(len(text), np.nan)
            high = np.full(len(text), np.nan)
            ok = ~np.isnan(values).all(axis=0)
            low[ok], high[ok] = np.nanpercentile(values[:, ok], [tail, 100 - tail], axis=0)
            return np.clip(low, -1, 1), np.clip(high, -1, 1)
        low, high = np.nanpercentile(values, [tail, 100 - tail], axis=0)
    return np.clip(low, -1, 1), np.clip(high, -1, 1)
