"""The robust similarity functions: references from their formulas, invariance, and the traps they avoid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import ndtri
from scipy.stats import rankdata

from audiodissect import similarity as S
from audiodissect.errors import AudioDissectError
from audiodissect.similarity._ranks import mid_quantiles, normal_scores, unit_columns, upper_half
from audiodissect.similarity.rank_reorder import random_orderings, top_count

NAMES = ["cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi"]


# ---------------------------------------------------------------- references (numpy, float64, one unit at a time)

def ref_normal_scores(x):
    return ndtri((rankdata(x, method="average", axis=0) - 0.5) / x.shape[0])


def ref_upper_half(a):
    lower_median = np.sort(a)[(len(a) - 1) // 2]  # torch.median's median: the lower of the middle two
    return np.maximum(a, lower_median)


def _unit(x, cube=False):
    if np.ptp(x) == 0:
        return np.zeros_like(x)
    y = x - x.mean()
    if cube:
        y = y ** 3
    return y / np.linalg.norm(y)


def ref_cos_robust(P, A, cube=False):
    out = np.zeros((A.shape[1], P.shape[1]))
    for u in range(A.shape[1]):
        a = _unit(ref_upper_half(A[:, u]), cube)
        for c in range(P.shape[1]):
            out[u, c] = a @ _unit(P[:, c], cube)
    return out


def ref_rank_reorder_robust(P, A, p=3.0, top_fraction=0.05, scale=0.5, seed=0):
    N, C = P.shape
    n = top_count(N, top_fraction)
    perms = random_orderings(n, n_orderings=S.N_ORDERINGS, seed=seed).numpy()
    Z = ref_normal_scores(P)
    out = np.zeros((A.shape[1], C))
    for u in range(A.shape[1]):
        a = A[:, u]
        top = np.argsort(-a, kind="stable")[:n]
        s = a[top]
        rand = np.mean([np.mean(np.abs(s - s[perm]) ** p) for perm in perms])
        for c in range(C):
            r = s[np.argsort(-P[top, c], kind="stable")]
            err = np.mean(np.abs(s - r) ** p)
            ratio = (err / rand if rand > 1e-12 else 1.0) + 1e-6
            height = Z[top, c].mean()
            out[u, c] = -ratio / max(height ** scale, 1e-12) if height > 0 else -1e12
    return out


def _softmax_rows(x):
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def ref_wpmi_robust(P, A, a=2.0, k=28, lam=0.6):
    Q = _softmax_rows(a * ref_normal_scores(P))
    k = min(k, P.shape[0])
    cond = np.zeros((A.shape[1], P.shape[1]))
    for u in range(A.shape[1]):
        top = np.argsort(-A[:, u], kind="stable")[:k]
        cond[u] = np.log(Q[top] + 1e-7).sum(axis=0)
    log_pc = np.array([np.logaddexp.reduce(cond[:, c]) for c in range(cond.shape[1])]) - np.log(A.shape[1])
    return cond - lam * log_pc


def ref_soft_wpmi_robust(P, A, a=10.0, k=100, lam=1.0):
    Q = _softmax_rows(a * ref_normal_scores(P))
    k = min(k, P.shape[0])
    w = [0.998 - 0.028 * i / k for i in range(k)]
    prior = sum(np.log(1 + w[i] * (Q - 1) + 1e-7).mean(axis=0) for i in range(k))
    out = np.zeros((A.shape[1], P.shape[1]))
    for u in range(A.shape[1]):
        top = np.argsort(-A[:, u], kind="stable")[:k]
        for i, clip in enumerate(top):
            out[u] += np.log(1 + w[i] * (Q[clip] - 1) + 1e-7)
        out[u] -= lam * prior
    return out


REFERENCES = {
    "cos": ref_cos_robust,
    "cos3": lambda P, A: ref_cos_robust(P, A, cube=True),
    "rank_reorder": ref_rank_reorder_robust,
    "wpmi": ref_wpmi_robust,
    "soft_wpmi": ref_soft_wpmi_robust,
}


def _data(N, C, U, seed):
    rng = np.random.default_rng(seed)
    return rng.random((N, C)), rng.normal(size=(N, U)) * rng.uniform(0.5, 2.0, size=U)


# ---------------------------------------------------------------- transforms by hand

def test_mid_quantiles_and_normal_scores_share_tied_ranks():
    x = torch.tensor([[0.0, 5.0], [0.0, 5.0], [1.0, 5.0], [2.0, 5.0]], dtype=torch.float64)
    torch.testing.assert_close(mid_quantiles(x)[:, 0], torch.tensor([0.25, 0.25, 0.625, 0.875], dtype=torch.float64))
    assert mid_quantiles(x)[:, 1].tolist() == [0.5] * 4          # a constant column sits in the middle
    assert normal_scores(x)[:, 1].tolist() == [0.0] * 4
    np.testing.assert_allclose(normal_scores(x)[:, 0].numpy(), ndtri([0.25, 0.25, 0.625, 0.875]))


def test_upper_half_floors_each_column_at_its_lower_median():
    x = torch.tensor([[-300.0, 1.0], [-2.0, 0.0], [-1.0, 0.0], [4.0, 0.0]])
    assert upper_half(x).tolist() == [[-2.0, 1.0], [-2.0, 0.0], [-1.0, 0.0], [4.0, 0.0]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_cpu_rank_and_median_paths_equal_torchs_search_and_selection(dtype):
    # on the CPU, mid_quantiles and upper_half select with numpy; they must give torch's integers and medians
    rng = np.random.default_rng(3)
    for n, m in [(1, 1), (2, 3), (7, 5), (408, 23), (510, 300)]:
        values = rng.normal(size=(n, m))
        for x in (values, np.round(values), np.maximum(values, 0.0), np.where(values > 0, 0.0, -0.0)):
            t = torch.from_numpy(x).to(dtype).T.contiguous().T  # column-major: not a contiguous block
            ordered = torch.sort(t.T.contiguous(), dim=1).values
            bounds = (torch.searchsorted(ordered, t.T.contiguous()) +
                      torch.searchsorted(ordered, t.T.contiguous(), right=True))
            assert torch.equal(mid_quantiles(t), (bounds.to(dtype) / (2 * n)).T)
            median = torch.kthvalue(t, (n + 1) // 2, dim=0, keepdim=True).values
            assert torch.equal(upper_half(t), torch.maximum(t, median))


def test_a_float32_constant_column_is_exactly_zero_not_rounding_noise():
    x = torch.full((7, 2), 0.3, dtype=torch.float32)
    x[:, 1] = torch.arange(7, dtype=torch.float32)
    y = unit_columns(x)
    assert y[:, 0].tolist() == [0.0] * 7
    torch.testing.assert_close(float(y[:, 1].norm()), 1.0)
    evidence = np.c_[np.full(7, 0.3, dtype=np.float32), np.arange(7, dtype=np.float32)]
    for fn in (S.cos_robust, S.cos3_robust):
        assert fn(evidence, np.arange(7.0)[:, None])[0, 0].item() == 0.0


# ---------------------------------------------------------------- references agree

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("N,C,U,chunk", [(60, 5, 11, 4), (40, 1, 7, None), (3, 4, 5, 2), (130, 7, 3, 1)])
def test_matches_per_unit_reference(name, N, C, U, chunk):
    P, A = _data(N, C, U, seed=N * 100 + U)
    got = S.ROBUST_FUNCTIONS[name](P, A, chunk_size=chunk)
    assert got.shape == (U, C) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), REFERENCES[name](P, A), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("name", NAMES)
def test_rescaling_each_concept_or_unit_changes_no_score(name):
    P, A = _data(200, 6, 9, seed=3)
    rng = np.random.default_rng(4)
    rescaled = P * rng.uniform(0.001, 1000.0, size=6) + rng.uniform(-100.0, 100.0, size=6)
    base = S.ROBUST_FUNCTIONS[name](P, A)
    torch.testing.assert_close(S.ROBUST_FUNCTIONS[name](rescaled, A), base, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(S.ROBUST_FUNCTIONS[name](P, 3.0 * A - 7.0), base, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- the traps, on eight clips by hand

def _trap():
    """Concepts [constant, offset, true] and one unit whose top three clips are the true concept's.

    * "constant": 0.3 on every clip (no evidence at all);
    * "offset": 50 + a pattern that shares only the unit's top clip, so its
      common level is large and its spread is moderate;
    * "true": 0.001 on the unit's top three clips, 0 elsewhere (a tiny spread);
    * the unit: 109, 108, 107, 103, ... (logit-like: a large common level).
    """
    evidence = np.stack([np.full(8, 0.3),
                         np.array([5, 2, 3, 2.5, 1, 2, 3.5, 2]) + 50.0,
                         np.array([1, 1, 1, 0, 0, 0, 0, 0]) * 0.001], axis=1)
    unit = (np.array([9, 8, 7, 3, 2, 1, 0.5, 0]) + 100.0)[:, None]
    return evidence, unit


SETTINGS = {"rank_reorder": {"top_fraction": 0.5}, "wpmi": {"k": 3}, "soft_wpmi": {"k": 3}}


@pytest.mark.parametrize("name", NAMES)
def test_robust_functions_name_the_true_concept_whatever_the_others_levels(name):
    evidence, unit = _trap()
    scores = S.ROBUST_FUNCTIONS[name](evidence, unit, **SETTINGS.get(name, {}))
    assert int(scores.argmax()) == 2


@pytest.mark.parametrize("name,wrong", [("cos", 1), ("cos3", 1), ("rank_reorder", 0), ("wpmi", 1)])
def test_published_functions_fall_for_the_trap(name, wrong):
    # cos: uncentred, the offset column points along the unit's common level; cos3: the true
    # column's cube is below the 1e-3 norm floor; rank_reorder: a constant column keeps the
    # activation order, error 0, the best score (first among equals); wpmi: the offset wins the softmax
    evidence, unit = _trap()
    scores = S.FUNCTIONS[name](evidence, unit, **SETTINGS.get(name, {}))
    assert int(scores.argmax()) == wrong


def test_robust_rank_reorder_gives_a_constant_column_no_strength():
    evidence, unit = _trap()
    scores = S.rank_reorder_robust(evidence, unit, top_fraction=0.5)
    assert float(scores[0, 0]) == pytest.approx(-1e12)
    assert float(scores[0, 0]) < float(scores[0, 1]) < float(scores[0, 2]) < 0


def test_robust_rank_reorder_ranks_concepts_tied_on_the_top_clips_by_strength():
    # 40 clips, top 4 (clips 0-3). "absent": 0 on the top clips (tied, error 0, but no strength);
    # "label": 1 on the top clips only; "wider": 1 on the top clips and 16 more (tied, less rare)
    a = np.arange(40, dtype=np.float64)[::-1].copy()[:, None]
    absent = np.r_[np.zeros(4), np.ones(36)]
    label = np.r_[np.ones(4), np.zeros(36)]
    wider = np.r_[np.ones(20), np.zeros(20)]
    evidence = np.stack([absent, wider, label], axis=1)
    paper = S.rank_reorder(evidence, a, top_fraction=0.1)
    robust = S.rank_reorder_robust(evidence, a, top_fraction=0.1)
    assert paper[0].tolist() == [0.0, 0.0, 0.0]                   # published: all perfect, the first one wins
    assert float(robust[0, 0]) == pytest.approx(-1e12)
    assert -1e-5 < float(robust[0, 1]) < float(robust[0, 2]) < 0     # both perfect: the rarer label is stronger


def test_robust_soft_wpmi_of_a_unit_with_random_top_clips_is_near_zero_for_every_concept():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 4000)
    evidence = np.eye(4)[labels] + 0.1 * rng.random((4000, 4))
    per_clip = S.soft_wpmi_robust(evidence, rng.random((4000, 1))).numpy() / 100
    assert np.abs(per_clip).max() < 0.5


def test_robust_soft_wpmi_does_not_depend_on_the_other_units_and_wpmi_keeps_the_layer_prior():
    P, A = _data(80, 5, 6, seed=9)
    torch.testing.assert_close(S.soft_wpmi_robust(P, A)[:2], S.soft_wpmi_robust(P, A[:, :2]))
    cond = S.wpmi_log_likelihood(normal_scores(torch.as_tensor(P)), A)
    torch.testing.assert_close(S.wpmi_robust(P, A), S.pmi_combine(cond, lam=0.6))


def test_a_concept_no_unit_stands_out_on_names_no_unit_under_robust_soft_wpmi():
    # 300 clips of 3 labels; 30 units, each a copy of one label with noise growing from unit to unit;
    # concept "none" is random, below the labels everywhere: no clip's softmax favours it, no unit stands out on it
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 300)
    evidence = np.c_[np.eye(3)[labels] + 0.2 * rng.random((300, 3)), rng.random(300)]
    units = np.eye(3)[labels][:, np.arange(30) % 3] + np.linspace(0.2, 3.0, 30) * rng.random((300, 30))
    paper = S.soft_wpmi(evidence, units).numpy().argmax(axis=1)
    robust = S.soft_wpmi_robust(evidence, units).numpy().argmax(axis=1)
    assert (paper == 3).mean() > 0.5                      # published: "none" names most units
    assert robust.tolist() == (np.arange(30) % 3).tolist()


# ---------------------------------------------------------------- registry

def test_get_finds_both_variants_and_the_default_is_robust():
    assert S.DEFAULT_VARIANT == "robust"
    assert S.get("cos3") is S.cos3_robust
    assert S.get("Soft-WPMI", variant="robust") is S.soft_wpmi_robust
    assert S.get("rank-reorder", variant="paper") is S.rank_reorder
    assert list(S.ROBUST_FUNCTIONS) == NAMES and list(S.VARIANTS) == ["robust", "paper"]


def test_unknown_variant_lists_closest():
    with pytest.raises(AudioDissectError) as info:
        S.get("cos", variant="papers")
    assert info.value.message == "unknown similarity variant 'papers'"
    assert info.value.hint.startswith("closest: paper")


@pytest.mark.parametrize("name", NAMES)
def test_non_finite_and_mismatched_inputs_are_errors(name):
    fn = S.ROBUST_FUNCTIONS[name]
    with pytest.raises(AudioDissectError, match="evidence has 10 clips but activations have 9"):
        fn(np.ones((10, 2)), np.ones((9, 3)))
    P, A = _data(20, 3, 4, seed=1)
    P[3, 1] = np.nan
    with pytest.raises(AudioDissectError, match="NaN or infinite"):
        fn(P, A)
