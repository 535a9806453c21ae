"""One name per unit: the permutation test, Benjamini-Hochberg, abstention, and where the names flow."""

import math

import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.identify.naming import (NamingSettings, benjamini_hochberg, name_units, null_permutations,
                                          unexplained_share)
from audiodissect.records import UnitName
from audiodissect.results import Identification

CONCEPTS = ["dog", "rain", "piano", "engine"]


def planted(seed=0, n=300):
    """Evidence with one noisy indicator per concept; units 0-3 tuned to concept u, 4-7 pure noise,
    8 tuned to both dog and rain (a tie), 9 tuned weakly to piano."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    onehot = np.eye(4)[labels]
    evidence = onehot + 0.4 * rng.normal(size=onehot.shape)
    acts = rng.normal(size=(n, 10))
    acts[:, :4] += 2.0 * onehot
    acts[:, 8] += 2.0 * (onehot[:, 0] + onehot[:, 1])
    acts[:, 9] += 0.25 * onehot[:, 2]
    return evidence.astype(np.float32), acts.astype(np.float32)


def test_benjamini_hochberg_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan])
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, 0.06, 0.0533, 0.5 -> running min from the top
    assert benjamini_hochberg(p)[:4] == pytest.approx([0.04, 0.05333333, 0.05333333, 0.5])
    assert math.isnan(benjamini_hochberg(p)[4])


def shuffled_copies(evidence, permutations, seed):
    """The evidence's rows in the order of each of the null's permutations, side by side (N, C * permutations)."""
    return np.concatenate([evidence[rows] for rows in null_permutations(len(evidence), permutations, seed)], axis=1)


def test_the_null_copies_share_one_permutation_per_block():
    from audiodissect.identify.naming import NamingSources

    ev = np.arange(12, dtype=np.float32).reshape(6, 2)
    out = NamingSources.of({"s": (ev, np.ones(2, bool))}, null_permutations(6, 3, seed=1)).copies(1, 4)
    assert out.shape == (6, 6)
    for b in range(3):
        block = out[:, 2 * b:2 * b + 2]
        assert sorted(block[:, 0].tolist()) == ev[:, 0].tolist()
        assert (block[:, 1] - block[:, 0] == 1).all()  # both columns moved with the same permutation


def test_a_null_too_large_to_hold_is_scored_a_few_copies_at_a_time_with_the_same_names(monkeypatch):
    """Above NULL_BYTES the evidence's shuffled copies are made a chunk at a time for each block of units (here
    3 copies per chunk of 50, the last one shorter): the names are those of the null made whole."""
    from audiodissect.identify import naming

    evidence, acts = planted()
    rng = np.random.default_rng(1)
    second = (evidence[:, ::-1] + 0.3 * rng.normal(size=evidence.shape)).astype(np.float32)
    sources = {"tab": evidence, "db": second}
    settings = NamingSettings(permutations=49)
    whole = naming.naming_sources(sources, CONCEPTS, settings=settings, exclude={"db": ["piano"]})
    assert whole.joint is not None
    assert np.array_equal(whole.copies(1, 50)[:, :4 * 49], shuffled_copies(evidence, 49, settings.seed))
    expected = name_units(sources, {"L": acts}, CONCEPTS, settings=settings, exclude={"db": ["piano"]})
    monkeypatch.setattr(naming, "NULL_BYTES", 0)
    chunked = naming.naming_sources(sources, CONCEPTS, settings=settings, exclude={"db": ["piano"]})
    assert chunked.joint is None and chunked.copies_per_chunk(3 * chunked.column_bytes) == 3
    made = []
    copies = naming.NamingSources.copies
    monkeypatch.setattr(naming.NamingSources, "copies", lambda self, a, b: made.append((a, b)) or copies(self, a, b))
    monkeypatch.setattr(naming, "NULL_CHUNK_BYTES", 3 * chunked.column_bytes)
    assert name_units(sources, {"L": acts}, CONCEPTS, settings=settings, exclude={"db": ["piano"]}) == expected
    assert made == [(a, min(a + 3, 50)) for a in range(0, 50, 3)]  # one block of units, 17 chunks
    assert sum(r.status == "named" for r in expected) >= 4


def test_tuned_units_are_named_noise_units_unexplained_and_ties_ambiguous():
    evidence, acts = planted()
    names = name_units({"tab": evidence}, {"L": acts}, CONCEPTS, settings=NamingSettings(permutations=99))
    assert [r.unit for r in names] == [f"L#{u}" for u in range(10)]
    for u in range(4):
        assert names[u].name == CONCEPTS[u] and names[u].status == "named" and names[u].confident
        assert names[u].q_value <= 0.05 and names[u].z > 3 and names[u].margin > 1
    for u in range(4, 8):
        assert names[u].status == "unexplained" and names[u].name is None and names[u].method is None
    tie = names[8]
    assert tie.name in ("dog", "rain") and tie.status == "ambiguous" and tie.runner_up in ("dog", "rain")
    assert names[9].status in ("ambiguous", "unexplained")  # a weak effect is never a confident name


def test_a_concept_without_evidence_is_never_the_name_and_sources_compete_by_z():
    evidence, acts = planted()
    names = name_units({"tab": evidence}, {"L": acts}, CONCEPTS, exclude={"tab": ["dog"]})
    assert names[0].name != "dog"
    # a second source that knows the concepts better names the units
    sharp = np.eye(4, dtype=np.float32)[np.argmax(evidence - 0.0, axis=1)]
    labels = np.eye(4, dtype=np.float32)[np.argmax(acts[:, :4] - acts[:, :4].mean(0), axis=1)]
    names = name_units({"tab": evidence, "labels": labels}, {"L": acts}, CONCEPTS, exclude={"tab": ["dog"]})
    assert names[0].name == "dog" and names[0].method == "labels" and set(names[0].candidates) == {"tab", "labels"}
    assert sharp.shape == labels.shape
    with pytest.raises(AudioDissectError, match="permutations"):
        NamingSettings(permutations=0)


def test_unexplained_share_and_its_wilson_interval():
    rows = unexplained_share([UnitName(unit=f"L#{i}", layer="L", index=i, name=None if i < 3 else "x",
                                       status="unexplained" if i < 3 else "named", similarity="cos")
                              for i in range(10)])
    [row] = rows
    assert (row["units"], row["named"], row["unexplained"], row["share_unexplained"]) == (10, 7, 3, 0.3)
    # Wilson 95 % for 3 of 10: 0.1078 to 0.6032
    assert row["ci_low"] == pytest.approx(0.1078, abs=1e-4) and row["ci_high"] == pytest.approx(0.6032, abs=1e-4)


def test_identification_tables_put_the_name_first():
    from audiodissect.records import ConceptRanking

    rankings = [ConceptRanking(unit="L#0", layer="L", index=0, method="tab", similarity="cos", concepts=["dog"],
                               scores=[0.9]),
                ConceptRanking(unit="L#1", layer="L", index=1, method="tab", similarity="cos", concepts=["rain"],
                               scores=[0.1])]
    names = [UnitName(unit="L#0", layer="L", index=0, name="dog", status="named", method="tab", similarity="cos",
                      z=9.0),
             UnitName(unit="L#1", layer="L", index=1, name=None, status="unexplained", similarity="cos")]
    result = Identification("identify", rankings, names=names)
    frame = result.to_pandas()
    assert list(frame.columns[:3]) == ["unit", "name", "status"]
    assert frame["name"].iloc[0] == "dog" and frame["name"].isna().tolist() == [False, True]
    assert frame["status"].tolist() == ["named", "unexplained"]
    assert result.names_frame()["name"].isna().tolist() == [False, True]
    assert result.name_of("L#1").status == "unexplained"
    with pytest.raises(AudioDissectError, match="closest"):
        result.name_of("L#7")


def test_pruning_skips_units_no_evidence_explains(tmp_path):
    from audiodissect.config import PruneConfig
    from audiodissect.prune.runner import PruningContext, select_for_concept
    from prune_fixtures import make_run

    run, target, probe = make_run(tmp_path)
    run.write_units("names", [UnitName(unit="hidden#0", layer="hidden", index=0, name=None, status="unexplained",
                                       similarity="cos")])
    ctx = PruningContext(run, target, probe)
    kept = select_for_concept(ctx, "trumpet", strategies=["tab"], config=PruneConfig(skip_unexplained=False))
    skipped = select_for_concept(ctx, "trumpet", strategies=["tab"], config=PruneConfig())
    assert "hidden#0" in kept[0].units and "hidden#0" not in skipped[0].units
    assert set(skipped[0].units) == set(kept[0].units) - {"hidden#0"}


def test_sources_that_disagree_make_a_name_ambiguous():
    evidence, acts = planted()
    # a second source that puts concept 0's evidence under concept 1's name: it names unit 0 "rain"
    swapped = evidence[:, [1, 0, 2, 3]]
    names = name_units({"tab": evidence, "db": swapped}, {"L": acts}, CONCEPTS)
    unit = names[0]
    assert unit.status == "ambiguous" and {unit.name, unit.runner_up} == {"dog", "rain"}
    assert set(unit.candidates) == {"tab", "db"}
    assert names[2].status == "named" and names[2].name == "piano"  # both sources agree on unit 2


def test_a_source_without_evidence_for_the_name_does_not_contradict_it():
    evidence, acts = planted()
    other = evidence[:, [1, 0, 2, 3]]  # would name unit 0 "rain" ...
    names = name_units({"tab": evidence, "db": other}, {"L": acts}, CONCEPTS, exclude={"db": ["dog"]})
    assert names[0].name == "dog" and names[0].status == "named"  # ... but knows nothing of "dog"


def test_prefers_is_williams_t_or_the_null_gap_per_unit_and_0_without_an_opinion():
    from audiodissect.identify.naming import SourceTest, williams_t

    scores = np.array([[0.5, 0.1, -np.inf], [0.2, 0.4, 0.3], [np.nan, 0.1, 0.0]], dtype=np.float32)
    pearson = np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.0]])
    nothing = np.zeros(3)
    test = SourceTest(best=np.array([0, 1, 1]), runner_up=np.array([1, 2, 2]), score=nothing, z=nothing,
                      margin=nothing, p_value=nothing, q_value=nothing, scores=scores,
                      null_sd=np.array([0.1, 0.2, 0.5]),
                      pearson=pearson, clips=100)
    better, worse = np.array([0, 1, 1]), np.array([1, 2, -1])
    t = test.prefers(better, worse)
    expected = williams_t(np.array([0.5, 0.4], np.float32), np.array([0.1, 0.3], np.float32),
                          np.array([0.3, 0.2]), 100)
    np.testing.assert_allclose(t[:2], expected, rtol=0, atol=0)  # the same statistic, unit by unit
    assert t[0] > 0 and t[2] == 0.0  # index -1: no opinion
    assert test.prefers(np.array([0]), np.array([2]))[0] == 0.0  # no evidence for concept 2 (-inf)
    gap = SourceTest(**{**test.__dict__, "pearson": None}).prefers(better, np.array([1, 0, 1]))
    np.testing.assert_allclose(gap, [(0.5 - 0.1) / 0.1, (0.4 - 0.2) / 0.2, 0.0], rtol=1e-6)  # NaN score: 0


def test_the_naming_scores_are_cos_robust_s_to_the_bit_on_any_number_of_threads():
    """The permutation test's scores are the robust cos's (products summed in float64): a float32 product's
    last bits change with the threads that computed it, and so did the names' z-scores."""
    from audiodissect.identify.naming import _correlation_of_upper_half
    from audiodissect.similarity import cos_robust
    from audiodissect.threads import torch_threads

    evidence, acts = planted()
    shuffled = np.concatenate([evidence, shuffled_copies(evidence, 50, 0)], axis=1)
    wide = np.concatenate([acts] * 40, axis=1) * np.linspace(0.5, 2, 40 * acts.shape[1], dtype=np.float32)
    expected = cos_robust(shuffled, wide)
    names = []
    for threads in (1, 2):
        with torch_threads(threads):
            assert torch.equal(_correlation_of_upper_half(shuffled, wide), expected)
            names.append(name_units({"tab": evidence}, {"L": wide}, CONCEPTS))
    assert names[0] == names[1]
