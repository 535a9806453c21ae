"""Sanity tests every reported explanation score must pass (after NeuronEval, Oikarinen, Yan and Weng, ICML 2025).

An explanation metric compares a unit's activations with a concept's vector
over clips. Two tests tell metrics that measure agreement from those that
measure only one side of it:

* **missing labels**: the concept vector loses some of its positives (the
  explanation misses part of what the unit responds to). A sound metric
  scores it lower than the complete vector; precision-like metrics do not
  notice;
* **extra labels**: the concept vector gains false positives (the
  explanation is too broad). A sound metric scores it lower; recall-like
  metrics do not notice.

:func:`sanity_checks` runs both on seeded synthetic units (a unit that fires
on a concept's clips, with noise), over several draws, for any metric of
the form ``metric(prediction (n,), activation (n,)) -> float``.
:data:`METRICS` are the scores the score stage reports, each in that form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .detection import average_precision, balanced_accuracy, detection_sets, positive_count
from .simulate import rank_columns, standardize_columns

Metric = Callable[[np.ndarray, np.ndarray], float]


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    value = float((standardize_columns(x[:, None]) * standardize_columns(y[:, None])).sum())
    return value if np.isfinite(value) else 0.0


def spearman(prediction: np.ndarray, activation: np.ndarray) -> float:
    """Spearman correlation (the simulation score)."""
    return _correlation(rank_columns(prediction[:, None])[:, 0], rank_columns(activation[:, None])[:, 0])


def pearson(prediction: np.ndarray, activation: np.ndarray) -> float:
    """Pearson correlation."""
    return _correlation(prediction, activation)


def _detection_scores(prediction: np.ndarray, activation: np.ndarray,
                      hard: int | None = None) -> tuple[np.ndarray, int]:
    """The prediction on the unit's positives (its top clips), then on the other clips (with `hard`: on the
    `hard` clips whose activations are nearest the positives', the stand-in for an audio embedding)."""
    positives, others, _ = detection_sets(activation[:, None], positive_count(len(activation)))
    positives, others = positives[:, 0], others[:, 0]
    if hard is not None:
        nearest = np.argsort(np.abs(activation[others] - activation[positives].min()), kind="stable")[:hard]
        others = others[nearest]
    return prediction[np.concatenate([positives, others])][None, :], len(positives)


def detection_auprc(prediction: np.ndarray, activation: np.ndarray) -> float:
    """Average precision of the prediction for the unit's top clips among all clips (detection)."""
    scores, k = _detection_scores(prediction, activation)
    return float(average_precision(scores, k)[0])


def detection_balanced_accuracy(prediction: np.ndarray, activation: np.ndarray) -> float:
    """Balanced accuracy of calling the prediction's best clips the unit's top clips, among all clips."""
    scores, k = _detection_scores(prediction, activation)
    return float(balanced_accuracy(scores, k)[0])


def hard_detection_auprc(prediction: np.ndarray, activation: np.ndarray) -> float:
    """Average precision against as many near-miss clips as positives (the hard negatives' diagnostic)."""
    k = positive_count(len(activation))
    scores, k = _detection_scores(prediction, activation, hard=k)
    return float(average_precision(scores, k)[0])


def top_recall(prediction: np.ndarray, activation: np.ndarray) -> float:
    """Share of the unit's top clips the concept marks: recall-like, blind to extra labels (a control)."""
    k = positive_count(len(activation))
    top = np.argsort(-activation, kind="stable")[:k]
    return float((prediction[top] > 0).mean())


def top_precision(prediction: np.ndarray, activation: np.ndarray) -> float:
    """Mean activation rank of the clips the concept marks: precision-like, blind to missing labels (a control)."""
    marked = prediction > 0
    if not marked.any():
        return 0.0
    return float(rank_columns(activation[:, None])[marked, 0].mean() / len(activation))


#: The scores the score stage reports, as ``metric(prediction, activation)``.
METRICS: dict[str, Metric] = {"spearman": spearman, "pearson": pearson, "detection_auprc": detection_auprc,
                              "detection_bacc": detection_balanced_accuracy}
#: Metrics known to fail one test each (they show the tests can fail); the hard-negative detection, which
#: only sees the clips nearest the unit's top clips, is a diagnostic and fails the extra-label test too.
CONTROLS: dict[str, Metric] = {"top_recall": top_recall, "top_precision": top_precision,
                               "hard_detection_auprc": hard_detection_auprc}


def sanity_checks(metrics: Mapping[str, Metric], *, draws: int = 20, n: int = 400, share: float = 0.15,
                  changed: float = 0.4, noise: float = 0.3, seed: int = 0) -> dict[str, dict[str, bool]]:
    """Run the missing-label and extra-label tests on every metric.

    Each draw makes a concept (a random `share` of `n` clips), a unit that
    fires on its clips plus Gaussian `noise`, and three concept vectors: the
    complete one, one that misses a `changed` share of the positives, one
    that adds as many false positives. A metric passes a test when it scores
    the complete vector higher than the changed one in every draw.

    Returns
    -------
    dict of metric name to {"missing_label": bool, "extra_label": bool}
    """
    rng = np.random.default_rng(seed)
    wins = {name: {"missing_label": 0, "extra_label": 0} for name in metrics}
    for _ in range(draws):
        concept = np.zeros(n)
        positives = rng.choice(n, size=int(share * n), replace=False)
        concept[positives] = 1.0
        activation = concept + noise * rng.normal(size=n)
        changed_count = int(changed * len(positives))
        missing = concept.copy()
        missing[rng.choice(positives, size=changed_count, replace=False)] = 0.0
        extra = concept.copy()
        extra[rng.choice(np.flatnonzero(concept == 0), size=changed_count, replace=False)] = 1.0
        for name, metric in metrics.items():
            complete = metric(concept, activation)
            wins[name]["missing_label"] += complete > metric(missing, activation)
            wins[name]["extra_label"] += complete > metric(extra, activation)
    return {name: {test: count == draws for test, count in tests.items()} for name, tests in wins.items()}
