"""Detection scores, intervals, and the sanity tests every reported score must pass."""

import numpy as np
import pytest
from scipy import stats

from audiodissect.scoring.detection import (average_precision, balanced_accuracy, bootstrap_spearman, detection_sets,
                                            pair_detection, positive_count, spearman_interval)
from audiodissect.scoring.sanity import CONTROLS, METRICS, sanity_checks


def test_every_reported_score_passes_both_tests_and_the_controls_show_the_tests_can_fail():
    results = sanity_checks({**METRICS, **CONTROLS})
    for name in METRICS:
        assert results[name] == {"missing_label": True, "extra_label": True}, name
    assert results["top_recall"] == {"missing_label": True, "extra_label": False}
    assert results["top_precision"] == {"missing_label": False, "extra_label": True}
    assert results["hard_detection_auprc"]["extra_label"] is False  # a diagnostic, not a score


def test_average_precision_and_balanced_accuracy_by_hand():
    scores = np.array([[0.9, 0.4, 0.8, 0.1],    # positives first (k = 2): ranks 1, 3 -> AP (1 + 2/3) / 2
                       [1.0, 1.0, 0.0, 0.0],    # perfect, ties inside the positives do not matter
                       [1.0, 0.0, 1.0, 0.0],    # a tie between a positive and a negative: one threshold
                       [0.0, 0.0, 0.0, 0.0]])   # constant: chance
    assert average_precision(scores, 2) == pytest.approx([(1 + 2 / 3) / 2, 1.0, 0.5, 0.5])
    # best threshold: row 0 at 0.8 -> TPR 1/2, TNR 1 -> 0.75, or at 0.4 -> TPR 1, TNR 1/2 -> 0.75
    assert balanced_accuracy(scores, 2) == pytest.approx([0.75, 1.0, 0.5, 0.5])


def test_detection_sets_and_pair_detection():
    block = np.array([[5.0, 0.0], [4.0, 1.0], [0.0, 9.0], [1.0, 8.0], [2.0, 7.0], [3.0, 0.5]])
    embedding = np.eye(6)[[0, 0, 1, 1, 0, 1]].astype(float)  # clips 0, 1, 4 alike; 2, 3, 5 alike
    positives, others, hard = detection_sets(block, 2, embedding=embedding)
    assert positives[:, 0].tolist() == [0, 1] and positives[:, 1].tolist() == [2, 3]
    assert others[:, 0].tolist() == [2, 3, 4, 5] and others[:, 1].tolist() == [0, 1, 4, 5]
    assert hard.shape == (2, 2) and 4 in hard[:, 0] and 5 in hard[:, 1]  # the other clip like each unit's top clips
    assert not set(hard[:, 0]) & {0, 1} and not set(hard[:, 1]) & {2, 3}  # never a positive
    pred = block.copy()  # a predictor that is the unit itself detects perfectly
    auprc, bacc = pair_detection(pred, np.array([0, 1]), np.array([0, 1]), positives, others)
    assert auprc == pytest.approx([1, 1]) and bacc == pytest.approx([1, 1])
    assert positive_count(400) == 40 and positive_count(10) == 3 and positive_count(4) == 2


def test_intervals_cover_and_agree():
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=n)
    y = 0.5 * x + rng.normal(size=n)
    rho = stats.spearmanr(x, y).statistic
    low, high = spearman_interval(np.array([rho]), n)
    assert low[0] < rho < high[0] and high[0] - low[0] == pytest.approx(0.24, abs=0.04)
    resamples = rng.integers(0, n, size=(300, n))
    b_low, b_high = bootstrap_spearman(y[:, None], x[:, None], np.array([0]), np.array([0]), resamples=resamples)
    assert b_low[0] == pytest.approx(low[0], abs=0.05) and b_high[0] == pytest.approx(high[0], abs=0.05)
    assert np.isnan(spearman_interval(np.array([0.3]), 3)[0]).all()


def test_a_constant_unit_has_no_detection_score():
    """A dead unit has no top clips: its detection scores are undefined, like its correlations."""
    from audiodissect.scoring.blocks import PredictionTable, layer_correlations

    rng = np.random.default_rng(0)
    acts = np.stack([rng.normal(size=40), np.zeros(40)], axis=1)  # unit 1 is dead
    table = PredictionTable({"p": lambda texts: np.stack([acts[:, 0]] * len(texts), axis=1)}, ["x"], n=40)
    out = layer_correlations(acts, np.array([0, 1]), np.array([0, 0]), table)["p"]
    assert out["detection_auprc"][0] == pytest.approx(1.0) and out["detection_bacc"][0] == pytest.approx(1.0)
    assert np.isnan(out["detection_auprc"][1]) and np.isnan(out["detection_bacc"][1])
    assert np.isnan(out["spearman"][1])
