"""Tests of Module A's similarity functions against per-unit references written from the formulas."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect import similarity as S
from audiodissect.similarity.rank_reorder import random_orderings, top_count

NAMES = ["cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi"]


# ---------------------------------------------------------------- references
# Plain numpy, float64, one unit at a time, straight from METHOD.md Step 2.

def ref_cos(P, A):
    Pn = P / np.maximum(np.linalg.norm(P, axis=0), 1e-12)
    out = np.zeros((A.shape[1], P.shape[1]))
    for u in range(A.shape[1]):
        a = A[:, u]
        out[u] = (a / max(np.linalg.norm(a), 1e-12)) @ Pn
    return out


def _cube(x):
    y = (x - x.mean()) ** 3
    return y / max(np.linalg.norm(y), 1e-3)


def ref_cos3(P, A):
    out = np.zeros((A.shape[1], P.shape[1]))
    for u in range(A.shape[1]):
        a = _cube(A[:, u])
        for c in range(P.shape[1]):
            out[u, c] = a @ _cube(P[:, c])
    return out


def ref_rank_reorder(P, A, perms, p=3.0, top_fraction=0.05, scale=0.5):
    N, C = P.shape
    n = max(1, int(N * top_fraction))
    out = np.zeros((A.shape[1], C))
    for u in range(A.shape[1]):
        a = A[:, u]
        top = np.argsort(-a, kind="stable")[:n]
        s = a[top]
        rand = np.mean([np.mean(np.abs(s - s[perm]) ** p) for perm in perms])
        for c in range(C):
            e = P[top, c]
            r = s[np.argsort(-e, kind="stable")]
            err = np.mean(np.abs(s - r) ** p)
            strength = max(max(e.mean(), 0.0) ** scale, 1e-12)
            out[u, c] = -err / max(rand, 1e-12) / strength
    return out


def _softmax_rows(x):
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _combine(cond, lam):
    U = cond.shape[0]
    log_pc = np.array([np.logaddexp.reduce(cond[:, c]) for c in range(cond.shape[1])]) - math.log(U)
    return cond - lam * log_pc


def ref_wpmi(P, A, a=2.0, k=28, lam=0.6):
    Q = _softmax_rows(a * P)
    k = min(k, P.shape[0])
    cond = np.zeros((A.shape[1], P.shape[1]))
    for u in range(A.shape[1]):
        top = np.argsort(-A[:, u], kind="stable")[:k]
        cond[u] = np.log(Q[top] + 1e-7).sum(axis=0)
    return _combine(cond, lam)


def ref_soft_wpmi(P, A, a=10.0, k=100, lam=1.0):
    Q = _softmax_rows(a * P)
    k = min(k, P.shape[0])
    w = [0.998 - 0.028 * i / k for i in range(k)]
    cond = np.zeros((A.shape[1], P.shape[1]))
    for u in range(A.shape[1]):
        top = np.argsort(-A[:, u], kind="stable")[:k]
        for i, clip in enumerate(top):
            cond[u] += np.log(1 + w[i] * (Q[clip] - 1) + 1e-7)
    return _combine(cond, lam)


def reference(name, P, A):
    if name == "rank_reorder":
        n = top_count(P.shape[0], 0.05)
        return ref_rank_reorder(P, A, random_orderings(n, n_orderings=S.N_ORDERINGS, seed=0).numpy())
    return {"cos": ref_cos, "cos3": ref_cos3, "wpmi": ref_wpmi, "soft_wpmi": ref_soft_wpmi}[name](P, A)


def _data(N, C, U, seed):
    rng = np.random.default_rng(seed)
    P = rng.random((N, C))  # evidence in [0, 1), like similarities
    A = rng.normal(size=(N, U)) * rng.uniform(0.5, 2.0, size=U)
    return P, A


# ---------------------------------------------------------------- references agree

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("N,C,U,chunk", [
    (60, 5, 11, 4),     # U not a multiple of the chunk size
    (40, 1, 7, None),   # one concept
    (3, 4, 5, 2),       # fewer clips than k, top 5% rounds up to one clip
    (130, 7, 3, 1),     # one unit per chunk
])
def test_matches_per_unit_reference(name, N, C, U, chunk):
    P, A = _data(N, C, U, seed=N * 100 + U)
    got = S.FUNCTIONS[name](P, A, chunk_size=chunk)
    assert got.dtype == torch.float32 and got.device.type == "cpu"
    assert tuple(got.shape) == (U, C)
    np.testing.assert_allclose(got.numpy(), reference(name, P, A), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("name", NAMES)
def test_torch_float32_input_matches_numpy_float64(name):
    P, A = _data(80, 6, 9, seed=3)
    from_numpy = S.FUNCTIONS[name](P, A)
    from_torch = S.FUNCTIONS[name](torch.tensor(P, dtype=torch.float32),
                                   torch.tensor(A, dtype=torch.float32))
    assert from_torch.dtype == torch.float32
    np.testing.assert_allclose(from_torch.numpy(), from_numpy.numpy(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_chunk_size_does_not_change_scores(name):
    P, A = _data(100, 4, 13, seed=5)
    f = S.FUNCTIONS[name]
    whole = f(P, A, chunk_size=13)
    for chunk in (1, 5, None):
        torch.testing.assert_close(f(P, A, chunk_size=chunk), whole, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_unit_equal_to_a_concept_column_picks_that_concept(name):
    rng = np.random.default_rng(11)
    N, C = 300, 6
    P = rng.random((N, C))
    # Units 0..5 copy concept j's evidence; 10 more units are noise.
    A = np.concatenate([P, rng.normal(size=(N, 10))], axis=1)
    scores = S.FUNCTIONS[name](P, A)
    assert scores[:C].argmax(dim=1).tolist() == list(range(C))


# ---------------------------------------------------------------- hand-computed cases

def test_cos_on_three_clips_by_hand():
    P = np.array([[1.0], [0.0], [1.0]])
    A = np.array([[1.0, 2.0], [1.0, 0.0], [0.0, 2.0]])
    # unit 0: (1,1,0).(1,0,1) / (sqrt2 sqrt2) = 0.5; unit 1 is parallel to the concept: 1.
    np.testing.assert_allclose(S.cos(P, A).numpy(), [[0.5], [1.0]], rtol=1e-6)


def test_cos_of_a_zero_column_is_zero():
    P = np.array([[1.0], [2.0], [3.0]])
    A = np.zeros((3, 1))
    assert S.cos(P, A).item() == 0.0


def test_cos3_on_three_clips_by_hand():
    # unit (0,0,3): centred (-1,-1,2), cubed (-1,-1,8), norm sqrt(66)
    # concept (3,0,0): centred (2,-1,-1), cubed (8,-1,-1), norm sqrt(66)
    # dot = -8 + 1 - 8 = -15 -> -15/66
    P = np.array([[3.0], [0.0], [0.0]])
    A = np.array([[0.0], [0.0], [3.0]])
    np.testing.assert_allclose(S.cos3(P, A).item(), -15 / 66, rtol=1e-6)


def test_cos3_norm_floor_applies_to_a_nearly_constant_column():
    # centred (-0.01, 0.01) cubed (-1e-6, 1e-6): norm 1.41e-6 < 1e-3, so it is divided by 1e-3
    P = np.array([[0.0], [1.0]])
    A = np.array([[0.0], [0.02]])
    np.testing.assert_allclose(S.cos3(P, A).item(), (2e-6 / 1e-3) * (0.125 / math.sqrt(2 * 0.125**2)),
                               rtol=1e-5)


def test_wpmi_by_hand():
    # Q rows: clip 0 -> (1/4, 3/4), clip 1 -> (3/4, 1/4) with a = 1.
    P = np.array([[0.0, math.log(3)], [math.log(3), 0.0]])
    A = np.array([[1.0, 0.0], [0.0, 1.0]])  # unit 0's top clip is clip 0, unit 1's is clip 1
    got = S.wpmi(P, A, a=1.0, k=1, lam=1.0).numpy()
    eps = 1e-7
    log_pc = math.log(((0.25 + eps) + (0.75 + eps)) / 2)
    expected = [[math.log(0.25 + eps) - log_pc, math.log(0.75 + eps) - log_pc],
                [math.log(0.75 + eps) - log_pc, math.log(0.25 + eps) - log_pc]]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(got[0], [math.log(0.5), math.log(1.5)], atol=1e-6)


def test_soft_wpmi_rank_weights_are_the_published_schedule():
    from audiodissect.similarity.soft_wpmi import rank_weights

    w = rank_weights(100, dtype=torch.float64).numpy()
    np.testing.assert_allclose(w, [0.998 - 0.028 * i / 100 for i in range(100)], rtol=0, atol=1e-15)
    assert w[0] == 0.998 and abs(w[-1] - 0.97028) < 1e-12  # not 0.97
    np.testing.assert_allclose(rank_weights(4, dtype=torch.float64).numpy(), [0.998, 0.991, 0.984, 0.977],
                               rtol=0, atol=1e-15)
    assert rank_weights(1).tolist() == [pytest.approx(0.998)]
    with pytest.raises(AudioDissectError):
        rank_weights(0)


def test_soft_wpmi_by_hand():
    # k = 2 clips with the published weights 0.998 and 0.998 - 0.028/2 = 0.984; one unit, so
    # log p(c) = log p(c|u) and lam=0 keeps it.
    P = np.array([[0.0, math.log(3)], [math.log(3), 0.0]])
    A = np.array([[2.0], [1.0]])  # rank 1: clip 0, rank 2: clip 1
    got = S.soft_wpmi(P, A, a=1.0, k=2, lam=0.0).numpy()[0]
    eps = 1e-7
    c0 = math.log(1 + 0.998 * (0.25 - 1) + eps) + math.log(1 + 0.984 * (0.75 - 1) + eps)
    c1 = math.log(1 + 0.998 * (0.75 - 1) + eps) + math.log(1 + 0.984 * (0.25 - 1) + eps)
    np.testing.assert_allclose(got, [c0, c1], rtol=1e-6)
    # With lam = 1 and a single unit, the prior cancels the likelihood exactly.
    np.testing.assert_allclose(S.soft_wpmi(P, A, a=1.0, k=2, lam=1.0).numpy(), 0.0, atol=1e-6)
    # k above N: the weights are those of min(k, N) = 2 clips, as in the original code.
    np.testing.assert_allclose(S.soft_wpmi(P, A, a=1.0, k=100, lam=0.0).numpy()[0], [c0, c1], rtol=1e-6)


def test_rank_reorder_by_hand():
    # 20 clips, top 20% = 4 clips with activations 4,3,2,1 (clips 0..3).
    A = np.zeros((20, 1))
    A[:4, 0] = [4.0, 3.0, 2.0, 1.0]
    P = np.zeros((20, 2))
    P[:4, 0] = [0.1, 0.2, 0.3, 0.4]  # reverses the order: |4-1|,|3-2|,|2-3|,|1-4| -> mean 2 (p=1)
    P[:4, 1] = [0.4, 0.3, 0.2, 0.1]  # keeps the order: error 0
    perms = random_orderings(4, n_orderings=5, seed=7).numpy()
    s = np.array([4.0, 3.0, 2.0, 1.0])
    rand = np.mean([np.mean(np.abs(s - s[q])) for q in perms])
    got = S.rank_reorder(P, A, p=1.0, top_fraction=0.2, scale=0.5, n_orderings=5, seed=7).numpy()[0]
    np.testing.assert_allclose(got, [-2.0 / rand / math.sqrt(0.25), 0.0], rtol=1e-6)
    assert not np.signbit(got[1])  # no negative zero


def test_rank_reorder_random_error_approaches_its_expectation():
    # Under a uniformly random ordering, E|s_i - s_perm(i)|^p = mean over all pairs (i, j).
    s = torch.tensor([5.0, 3.0, 2.5, 1.0, 0.0], dtype=torch.float64)
    perms = random_orderings(5, n_orderings=4000, seed=1)
    assert sorted(perms[17].tolist()) == [0, 1, 2, 3, 4]
    sampled = (s.unsqueeze(0) - s[perms]).abs().pow(3).mean().item()
    exact = (s[:, None] - s[None, :]).abs().pow(3).mean().item()
    assert abs(sampled - exact) / exact < 0.03


def test_rank_reorder_is_deterministic_and_seeded():
    P, A = _data(200, 3, 5, seed=2)
    a = S.rank_reorder(P, A, seed=4)
    torch.testing.assert_close(S.rank_reorder(P, A, seed=4), a, rtol=0, atol=0)
    assert not torch.equal(S.rank_reorder(P, A, seed=5), a)
    torch.testing.assert_close(random_orderings(10, seed=3), random_orderings(10, seed=3), rtol=0, atol=0)


def test_rank_reorder_concept_without_positive_evidence_scores_very_low():
    P, A = _data(100, 2, 4, seed=8)
    P[:, 1] = -P[:, 1]  # all evidence negative: relu(mean) = 0, divided by the 1e-12 floor
    scores = S.rank_reorder(P, A)
    assert (scores[:, 1] < 1e6 * scores[:, 0].clamp(max=-1e-6)).all()
    assert (scores[:, 1] < -1e6).all()


def test_pmi_combine_is_the_sharded_merge():
    P, A = _data(90, 4, 12, seed=9)
    cond = torch.cat([S.wpmi_log_likelihood(P, A[:, :5]), S.wpmi_log_likelihood(P, A[:, 5:])])
    torch.testing.assert_close(S.pmi_combine(cond, lam=0.6), S.wpmi(P, A), rtol=1e-6, atol=1e-6)
    cond = torch.cat([S.soft_wpmi_log_likelihood(P, A[:, :7]), S.soft_wpmi_log_likelihood(P, A[:, 7:])])
    torch.testing.assert_close(S.pmi_combine(cond, lam=1.0), S.soft_wpmi(P, A), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- registry and errors

def test_registry_holds_the_five_functions():
    assert list(S.FUNCTIONS) == NAMES
    assert S.get("cos3", variant="paper") is S.cos3
    assert S.get("Soft-WPMI", variant="paper") is S.soft_wpmi
    assert S.get("rank-reorder", variant="paper") is S.rank_reorder
    with pytest.raises(TypeError):
        S.FUNCTIONS["mine"] = S.cos  # read-only


def test_the_package_names_stay_the_functions_whoever_imports_their_modules_first():
    """The package imports its functions on first use; a module imported first (``soft_wpmi`` imports ``wpmi``)
    still leaves the package's names for the functions of the same names, not for their modules."""
    code = ("import json, sys\n"
            "import audiodissect.similarity.soft_wpmi\n"
            "from audiodissect.similarity.registry import FUNCTIONS, ROBUST_FUNCTIONS, SIMILARITIES\n"
            "import audiodissect.similarity as S\n"
            "print(json.dumps({name: [S.FUNCTIONS[name] is getattr(S, name), FUNCTIONS[name] is getattr(S, name),\n"
            "                         ROBUST_FUNCTIONS[name] is getattr(S, name + '_robust'),\n"
            "                         callable(getattr(S, name))] for name in SIMILARITIES.names()}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {name: [True] * 4 for name in NAMES}
    assert S.wpmi is S.FUNCTIONS["wpmi"] and sorted(set(NAMES) - set(dir(S))) == []


def test_unknown_name_lists_closest():
    with pytest.raises(AudioDissectError) as info:
        S.get("wpmii")
    assert info.value.message == "unknown similarity function 'wpmii'"
    assert info.value.hint.startswith("closest: wpmi")


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_clip_count_is_an_error(name):
    with pytest.raises(AudioDissectError, match="evidence has 10 clips but activations have 9"):
        S.FUNCTIONS[name](np.ones((10, 2)), np.ones((9, 3)))


@pytest.mark.parametrize("name", NAMES)
def test_non_finite_input_is_an_error(name):
    P, A = _data(20, 2, 3, seed=1)
    A[4, 1] = np.nan
    with pytest.raises(AudioDissectError, match="activations holds 1 NaN or infinite value"):
        S.FUNCTIONS[name](P, A)
    P[0, 0] = np.inf
    with pytest.raises(AudioDissectError, match="evidence holds 1 NaN or infinite value"):
        S.FUNCTIONS[name](torch.tensor(P), A)


def test_bad_shapes_and_settings_are_errors():
    with pytest.raises(AudioDissectError, match="activations must be a 2-D array, got shape \\(5,\\)"):
        S.cos(np.ones((5, 2)), np.ones(5))
    with pytest.raises(AudioDissectError, match="empty input"):
        S.cos(np.ones((5, 0)), np.ones((5, 2)))
    with pytest.raises(AudioDissectError, match="evidence must hold numbers"):
        S.cos(np.array([["a"], ["b"]]), np.ones((2, 2)))
    with pytest.raises(AudioDissectError, match="k must be an integer >= 1, got 0"):
        S.wpmi(np.ones((5, 2)), np.ones((5, 2)), k=0)
    with pytest.raises(AudioDissectError, match="top_fraction must be in"):
        S.rank_reorder(np.ones((5, 2)), np.ones((5, 2)), top_fraction=1.5)
    with pytest.raises(AudioDissectError, match="chunk_size must be an integer >= 1"):
        S.cos3(np.ones((5, 2)), np.ones((5, 2)), chunk_size=0)


# ---------------------------------------------------------------- top concepts

def test_top_concepts_by_hand():
    scores = torch.tensor([[0.1, 0.9, 0.5], [0.7, 0.7, 0.2]])
    concepts = ["dog", "rain", "siren"]
    idx, vals = S.top_concepts(scores, concepts, k=2)
    assert idx.tolist() == [[1, 2], [0, 1]]  # tie in row 2 keeps list order
    np.testing.assert_allclose(vals.numpy(), [[0.9, 0.5], [0.7, 0.7]])
    assert S.concept_names(idx, concepts) == [["rain", "siren"], ["dog", "rain"]]
    assert S.top_concepts(scores, concepts, k=10).indices.shape == (2, 3)
    with pytest.raises(AudioDissectError, match="scores have 3 concept columns but 2 concept names"):
        S.top_concepts(scores, concepts[:2])


# ---------------------------------------------------------------- device

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_inputs_stay_on_cuda_and_agree(name):
    P, A = _data(120, 5, 17, seed=12)
    f = S.FUNCTIONS[name]
    got = f(torch.tensor(P, device="cuda"), torch.tensor(A, device="cuda"), chunk_size=6)
    assert got.device.type == "cuda" and got.dtype == torch.float32
    np.testing.assert_allclose(got.cpu().numpy(), f(P, A).numpy(), rtol=1e-5, atol=1e-5)


def test_soft_wpmi_without_the_log_table_gives_the_same_scores(monkeypatch):
    import sys

    module = sys.modules["audiodissect.similarity.soft_wpmi"]

    P, A = _data(150, 4, 9, seed=13)
    with_table = S.soft_wpmi(P, A, chunk_size=4)
    monkeypatch.setattr(module, "TABLE_ELEMENTS", 0)
    without = S.soft_wpmi(P, A, chunk_size=4)
    torch.testing.assert_close(without, with_table, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(without.numpy(), ref_soft_wpmi(P, A), rtol=2e-5, atol=2e-5)



def test_pmi_combine_keeps_the_small_terms_of_a_dominant_unit():
    """Unit 0 dominates both concepts; its scores differ only by the other units' e^-10..e^-15 terms.

    log p(c|u) near -1000 has a float32 spacing of 6e-5, coarser than those terms:
    the prior must be computed in float64 or both scores round to the same value.
    """
    cond = torch.tensor([[-1000.0, -1000.0], [-1010.0, -1011.0], [-1015.0, -1012.0]], dtype=torch.float32)
    scores = S.pmi_combine(cond, lam=1.0)
    expected = math.log(3) - np.log1p(np.exp([-10.0, -11.0]) + np.exp([-15.0, -12.0]))
    np.testing.assert_allclose(scores[0].numpy(), expected, rtol=0, atol=1e-6)
    assert scores[0, 1] > scores[0, 0]


@pytest.mark.parametrize("name", ["wpmi", "soft_wpmi"])
@pytest.mark.parametrize("variant", ["robust", "paper"])
def test_grouped_sources_score_as_one_call_per_source(name, variant):
    # three sources side by side, each concept competing within its own source: the same numbers, bit for bit
    fn = S.get(name, variant=variant)
    rng = np.random.default_rng(21)
    sources = [rng.random((120, c)).astype(np.float32) for c in (5, 3, 4)]
    A = np.maximum(rng.normal(size=(120, 30)), 0).astype(np.float32)  # ReLU zeros: ties among the top clips
    apart = torch.cat([fn(P, A, k=40) for P in sources], dim=1)
    together = fn(np.concatenate(sources, axis=1), A, k=40, groups=[5, 3, 4])
    assert torch.equal(together, apart)
    assert not torch.equal(fn(np.concatenate(sources, axis=1), A, k=40), apart)  # one softmax over all 12 differs


def test_column_groups_must_cover_the_evidence():
    P, A = _data(20, 5, 3, seed=2)
    for bad in ([2, 2], [2, 4], [5, 0], [2.5, 2.5]):
        with pytest.raises(AudioDissectError, match="column group"):
            S.wpmi(P, A, groups=bad)


def test_grouped_soft_wpmi_without_the_log_table_scores_as_one_call_per_source(monkeypatch):
    monkeypatch.setattr(sys.modules["audiodissect.similarity.soft_wpmi"], "TABLE_ELEMENTS", 0)
    rng = np.random.default_rng(5)
    sources = [rng.random((60, c)) for c in (2, 3)]
    A = rng.normal(size=(60, 7))
    for fn in (S.soft_wpmi, S.soft_wpmi_robust):
        apart = torch.cat([fn(P, A, k=10, chunk_size=3) for P in sources], dim=1)
        assert torch.equal(fn(np.concatenate(sources, axis=1), A, k=10, chunk_size=3, groups=[2, 3]), apart)
