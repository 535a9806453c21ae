"""The stability and causal checks of unit names, with exact values on hand-set data and the hand-weighted model."""

import numpy as np
import pytest

from audiodissect.identify import stability
from audiodissect.identify.naming import NamingSettings, name_units
from audiodissect.identify.stability import flip_shares, name_stability, noisy_waveforms
from audiodissect.prune.causal import causal_effects, causal_summary, concept_clips, specificity
from audiodissect.records import UnitName
from audiodissect.similarity import _inputs as inputs
from audiodissect.similarity import cos_robust

CONCEPTS = ["dog", "rain", "piano"]


def test_noise_is_scaled_to_each_waveform_and_seeded():
    waves = [np.ones(20000, np.float32) * np.tile([1, -1], 10000), 10 * np.sin(np.arange(20000, dtype=np.float32))]
    a, b = noisy_waveforms(waves, noise=0.02, seed=3), noisy_waveforms(waves, noise=0.02, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    for w, n in zip(waves, a):
        assert (n - w).std() == pytest.approx(0.02 * w.std(), rel=0.03)


def test_stable_names_survive_and_a_changed_unit_flips():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    evidence = np.eye(3, dtype=np.float32)[labels] + 0.2 * rng.normal(size=(300, 3)).astype(np.float32)
    acts = rng.normal(size=(300, 2)).astype(np.float32) * 0.3
    acts[:, 0] += 2 * (labels == 0)
    acts[:, 1] += 2 * (labels == 1)
    names = name_units({"tab": evidence}, {"L": acts}, CONCEPTS, settings=NamingSettings())
    assert [r.name for r in names] == ["dog", "rain"]
    noisy = acts.copy()
    noisy[:, 1] = 2.0 * (labels == 2) + 0.3 * rng.normal(size=300)  # after the noise, unit 1 answers piano
    records = name_stability(names, {"tab": evidence}, {"L": acts}, {"L": noisy}, CONCEPTS, resamples=10)
    assert [r.bootstrap_survival for r in records] == [1.0, 1.0]
    assert [(r.noise_name, r.noise_flipped) for r in records] == [("dog", False), ("piano", True)]
    [row] = flip_shares(records)
    assert (row["units"], row["flipped"], row["share_flipped"]) == (2, 1, 0.5)
    unexplained = UnitName(unit="L#1", layer="L", index=1, name=None, status="unexplained", similarity="cos")
    assert len(name_stability([names[0], unexplained], {"tab": evidence}, {"L": acts}, {"L": acts},
                              CONCEPTS, resamples=2)) == 1  # a unit without a name has nothing to keep


def test_resampled_winners_of_the_robust_cos_are_those_of_its_float64_scores(monkeypatch):
    """The bootstrap's float32 route picks each unit's best concept exactly as the float64 robust cos does:
    units whose two best concepts are within float32's error are multiplied again in float64."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(200, 6)).astype(np.float32)
    evidence = np.concatenate([base, base[:, :2],                                   # exact ties
                               base[:, 2:4] + np.float32(1e-6) * rng.normal(size=(200, 2)).astype(np.float32),
                               np.ones((200, 1), np.float32)], axis=1)               # near ties, a constant
    acts = (evidence[:, rng.integers(0, 10, 400)] + 0.01 * rng.normal(size=(200, 400))).astype(np.float32)
    acts[:, :3] = 1.5                                                               # dead units
    keep = np.ones(evidence.shape[1], bool)
    keep[7] = False
    recomputed = []  # units the float32 route multiplied again in float64
    real = inputs.column_products
    monkeypatch.setattr(inputs, "column_products", lambda a, p: recomputed.append(a.shape[1]) or real(a, p))
    rows = rng.integers(0, 200, (5, 200))                                           # five resamples at once
    fast = stability._best_robust_cos(evidence[rows], acts[rows], keep)
    for k in range(5):
        ev, ac = np.ascontiguousarray(evidence[rows[k]]), np.ascontiguousarray(acts[rows[k]])
        assert np.array_equal(fast[k], stability._best(cos_robust, ev, ac, keep))  # cos_robust keeps its own import
    assert 0 < sum(recomputed) < 5 * 400  # the close units, and only those, took the float64 route
    assert not np.isin(fast, [7]).any()  # a concept without evidence never wins


def test_resampled_winners_of_units_far_from_zero_are_those_of_the_float64_scores(monkeypatch):
    """The float32 route multiplies the floored columns neither centred nor scaled: for units whose values sit
    far from zero (an offset 10^4 times their spread) its error grows with the column's norm, and the units
    within that error of a tie are multiplied again in float64."""
    rng = np.random.default_rng(8)
    base = rng.normal(size=(150, 5)).astype(np.float32)
    evidence = np.concatenate([base, base[:, :1] + np.float32(1e-3) * rng.normal(size=(150, 1)).astype(np.float32)],
                              axis=1)
    mix = evidence[:, rng.integers(0, 6, 300)] + 0.05 * rng.normal(size=(150, 300))
    acts = (mix * rng.uniform(0.5, 2.0, 300) + 1e4 * rng.uniform(1.0, 3.0, 300)).astype(np.float32)
    keep = np.ones(evidence.shape[1], bool)
    recomputed = []
    real = stability._unit_columns_of
    monkeypatch.setattr(stability, "_unit_columns_of", lambda h, close: recomputed.append(int(close.sum()))
                        or real(h, close))
    rows = rng.integers(0, 150, (4, 150))
    fast = stability._best_robust_cos(evidence[rows], acts[rows], keep)
    for k in range(4):
        ev, ac = np.ascontiguousarray(evidence[rows[k]]), np.ascontiguousarray(acts[rows[k]])
        assert np.array_equal(fast[k], stability._best(cos_robust, ev, ac, keep))
    assert 0 < sum(recomputed) < 4 * 300


def test_one_column_of_a_block_is_normalised_as_in_the_block():
    """A single column alone would be reduced by another kernel, whose norm differs in its last bits."""
    import torch

    from audiodissect.similarity._ranks import unit_columns

    rng = np.random.default_rng(4)
    h = torch.from_numpy(np.abs(rng.normal(size=(300, 40)) * rng.lognormal(0, 2, 40)).astype(np.float32))
    whole = unit_columns(h)
    for j in range(40):
        close = torch.zeros(40, dtype=torch.bool)
        close[j] = True
        assert torch.equal(stability._unit_columns_of(h, close), whole[:, j:j + 1])
    assert torch.equal(stability._unit_columns_of(h[:, :1], torch.ones(1, dtype=torch.bool)), unit_columns(h[:, :1]))


def test_concept_clips_and_specificity():
    assert concept_clips(np.array([0, 1, 0, 1.0])).tolist() == [False, True, False, True]
    assert concept_clips(np.arange(10.0)).tolist() == [False] * 8 + [True] * 2  # the strongest fifth
    assert specificity(np.array([2.0, 4.0, 0.0, 0.0]), np.array([True, True, False, False])) == 2.0
    assert specificity(np.zeros(4), np.array([True, False, False, False])) == 0.0


def test_causal_effects_of_the_hand_weighted_model(tmp_path):
    """hidden#0 carries trumpet: zeroing it changes the trumpet clips' logits by 2 h0 and nothing else."""
    from audiodissect.prune.runner import PruningContext
    from prune_fixtures import make_run

    run, target, probe = make_run(tmp_path)
    pruning = PruningContext(run, target, probe)
    labels = np.array([[1.0 if probe.clips[r].label == c else 0.0 for c in ("trumpet", "organ")]
                       for r in pruning.audio.rows])
    names = [UnitName(unit="hidden#0", layer="hidden", index=0, name="trumpet", status="named", method="labels",
                      similarity="cos")]
    [effect] = causal_effects(pruning, names, {"labels": labels}, ["trumpet", "organ"], units_per_layer=1,
                              random_units=3, amplify=2.0, seed=0)
    # held-out trumpet clips have h0 = 1 and 2: the change is 2 and 4 there, 0 on the organ clips
    assert (effect.clips_with, effect.clips_without) == (2, 2)
    assert (effect.ablate_with, effect.ablate_without) == pytest.approx((3.0, 0.0))
    assert (effect.amplify_with, effect.amplify_without) == pytest.approx((3.0, 0.0))
    assert effect.specificity == pytest.approx(2.0)
    # the layer's three units as random ones: specificities 2 (itself), -2 (organ's) and 0 (shared)
    assert effect.random_mean == pytest.approx(0.0) and effect.random_sd == pytest.approx(2.0)
    assert effect.z == pytest.approx(1.0)
    [row] = causal_summary([effect])
    assert (row["layer"], row["units"], row["beats_random"]) == ("hidden", 1, 0)


def test_resampled_winners_with_one_concept_or_none_to_choose():
    rng = np.random.default_rng(2)
    evidence, acts = rng.normal(size=(50, 3)).astype(np.float32), rng.normal(size=(50, 4)).astype(np.float32)
    for keep in (np.array([False, True, False]), np.zeros(3, bool)):
        assert np.array_equal(stability._best_robust_cos(evidence[None], acts[None], keep)[0],
                              stability._best(cos_robust, evidence, acts, keep))


def test_resampled_winners_take_the_float64_route_when_float32_products_may_be_less_exact(monkeypatch):
    """With torch's float32 products allowed a lower precision, the float32 route's bound does not hold:
    every unit is scored by the robust cos itself."""
    import torch

    rng = np.random.default_rng(3)
    evidence, acts = rng.normal(size=(60, 4)).astype(np.float32), rng.normal(size=(60, 5)).astype(np.float32)
    keep = np.ones(4, bool)
    routes = []
    monkeypatch.setattr(stability, "_best", lambda fn, *a: routes.append(fn) or np.zeros(5, np.int64))
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        stability._best_robust_cos(evidence[None], acts[None], keep)
    finally:
        torch.set_float32_matmul_precision(before)
    assert routes == [cos_robust]
    stability._best_robust_cos(evidence[None], acts[None], keep)
    assert routes == [cos_robust]  # at the highest precision the float32 route runs
