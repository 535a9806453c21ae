"""Module A records and the last-layer accuracy table."""

import numpy as np
import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.identify.units import identify_units, topk_clip_evidence
from audiodissect.rundir import guess_output_layer
from audiodissect.scoring.last_layer import icl_records, last_layer_table


def planted_case(seed=0, n=400, c=4):
    """Evidence with one noisy column per concept and units that copy concept columns 2, 0, 3."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, size=n)
    evidence = np.eye(c)[labels] + 0.05 * rng.random((n, c))
    acts = np.stack([evidence[:, 2], evidence[:, 0], evidence[:, 3]], axis=1) + 0.01 * rng.random((n, 3))
    return evidence.astype(np.float32), acts.astype(np.float32)


@pytest.mark.parametrize("similarity", ["cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi"])
def test_units_copying_a_concept_get_that_concept(similarity):
    evidence, acts = planted_case()
    concepts = ["dog", "rain", "piano", "siren"]
    records = identify_units({"tab": evidence}, {"fc": acts}, concepts, similarities=[similarity])
    assert [r["unit"] for r in records] == ["fc#0", "fc#1", "fc#2"]
    assert [r["concepts"][0] for r in records] == ["piano", "dog", "siren"]
    assert all(len(r["concepts"]) == 4 and r["scores"] == sorted(r["scores"], reverse=True) for r in records)
    assert {r["method"] for r in records} == {"tab"} and {r["similarity"] for r in records} == {similarity}


def test_topk_clip_evidence_is_the_mean_over_the_top_clips():
    evidence = np.array([[1, 0], [0, 1], [0.5, 0.5], [0, 1]], dtype=np.float32)
    acts = np.array([[3, 0], [2, 9], [1, 8], [0, 1]], dtype=np.float32)
    scores = topk_clip_evidence(evidence, acts, k=2)
    np.testing.assert_allclose(scores, [[0.5, 0.5], [0.25, 0.75]])


def test_db_topk_scope_applies_to_hidden_layers_only():
    evidence, acts = planted_case()
    records = identify_units({"db": evidence}, {"hidden": acts, "out": acts}, ["a", "b", "c", "d"],
                             similarities=["cos3"], db_scope="topk", db_topk=5, output_layer="out")
    assert {r["similarity"] for r in records if r["layer"] == "hidden"} == {"top5"}
    assert {r["similarity"] for r in records if r["layer"] == "out"} == {"cos3"}
    assert [r["concepts"][0] for r in records if r["layer"] == "hidden"] == ["c", "a", "d"]


def test_last_layer_table_counts_hits_and_leaves_out_unknown_classes():
    records = [
        {"layer": "out", "index": 0, "method": "tab", "similarity": "cos3", "concepts": ["Dog", "rain"]},
        {"layer": "out", "index": 1, "method": "tab", "similarity": "cos3", "concepts": ["dog", "rain"]},
        {"layer": "out", "index": 2, "method": "tab", "similarity": "cos3", "concepts": ["x", "y"]},
        {"layer": "hidden", "index": 0, "method": "tab", "similarity": "cos3", "concepts": ["rain"]},
    ]
    rows = last_layer_table(records, layer="out", class_names=["dog", "rain", "helicopter"],
                            concepts=["dog", "rain", "x", "y"])
    assert rows == [{"method": "tab", "similarity": "cos3", "top1": 50.0, "top5": 100.0, "top1_classes": 50.0,
                     "top5_classes": 100.0, "units": 2, "left_out": 1}]


def test_last_layer_table_ranks_the_class_names_apart_from_other_concepts():
    """A class unit named "low-pitched" first is a top-1 miss, but a hit among the class names."""
    records = [
        {"layer": "out", "index": 0, "method": "tab", "similarity": "cos", "concepts": ["low-pitched", "dog", "rain"]},
        {"layer": "out", "index": 1, "method": "tab", "similarity": "cos", "concepts": ["rain", "noisy", "dog"]},
        {"layer": "out", "index": 2, "method": "tab", "similarity": "cos", "concepts": ["noisy", "dog", "bright"]},
    ]
    rows = last_layer_table(records, layer="out", class_names=["dog", "rain", "wind"],
                            concepts=["dog", "rain", "wind", "low-pitched", "noisy", "bright"])
    assert rows == [{"method": "tab", "similarity": "cos", "top1": round(100 / 3, 1), "top5": round(200 / 3, 1),
                     "top1_classes": round(200 / 3, 1), "top5_classes": round(200 / 3, 1), "units": 3,
                     "left_out": 0}]


def test_output_layer_is_the_last_with_one_unit_per_class():
    assert guess_output_layer({"a": 3, "b": 5, "c": 3, "d": 8}, ["x", "y", "z"]) == "c"
    assert guess_output_layer({"a": 4}, ["x"]) is None
    assert guess_output_layer({"a": 4}, None) is None


def test_no_output_records_is_an_error():
    with pytest.raises(AudioDissectError):
        last_layer_table([], layer="out", class_names=["a"], concepts=["a"])


def test_last_layer_table_names_classes_by_synonym():
    """AudioSet-style class names ("Violin, fiddle") are named by a concept matching one synonym."""
    records = [
        {"layer": "out", "index": 0, "method": "db", "similarity": "cos", "concepts": ["violin", "piano"]},
        {"layer": "out", "index": 1, "method": "db", "similarity": "cos", "concepts": ["violin", "piano"]},
        {"layer": "out", "index": 2, "method": "db", "similarity": "cos", "concepts": ["marimba", "piano"]},
        {"layer": "out", "index": 3, "method": "db", "similarity": "cos", "concepts": ["Music", "piano"]},
    ]
    rows = last_layer_table(records, layer="out", class_names=["Violin, fiddle", "Piano", "Marimba, xylophone",
                                                               "Music"],
                            concepts=["violin", "piano", "marimba"])
    assert rows == [{"method": "db", "similarity": "cos", "top1": round(100 * 2 / 3, 1), "top5": 100.0,
                     "top1_classes": round(100 * 2 / 3, 1), "top5_classes": 100.0, "units": 3, "left_out": 1}]


def test_icl_records_put_the_top1_answer_first_and_drop_copied_lists():
    summaries = [
        {"layer": "out", "index": 0, "icl_top1": "rain", "icl_status": "matched",
         "icl_topk": ["dog", "rain", "wind"], "icl_status_topk": "matched"},
        {"layer": "out", "index": 1, "icl_top1": "dog", "icl_status": "copied_list",
         "icl_topk": ["dog", "rain", "wind"], "icl_status_topk": "copied_list"},
        {"layer": "out", "index": 2, "icl_top1": None, "icl_status": "unparsed",
         "icl_topk": ["wind"], "icl_status_topk": "matched"},
    ]
    assert [r["concepts"] for r in icl_records(summaries)] == [["rain", "dog", "wind"], ["(none)"], ["wind"]]
    assert {(r["method"], r["similarity"]) for r in icl_records(summaries)} == {("icl", None)}


def test_format_table_shows_a_dash_for_icl_similarity():
    from audiodissect.scoring.last_layer import format_table

    rows = [{"method": "icl", "similarity": None, "top1": 58.8, "top5": 64.7, "top1_classes": 64.7,
             "top5_classes": 70.6, "cosine": 0.672, "units": 17}]
    assert format_table(rows).splitlines()[-2].split() == ["icl", "-", "58.8", "64.7", "64.7", "70.6", "0.672", "17"]


def test_excluded_concepts_are_never_chosen_and_robust_is_the_default():
    evidence, acts = planted_case()
    evidence[:, 1] = 0.0                                   # "rain": no evidence at all
    concepts = ["dog", "rain", "piano", "siren"]
    records = identify_units({"tab": evidence}, {"fc": acts}, concepts, similarities=["rank_reorder", "soft_wpmi"],
                             exclude={"tab": ["rain"]})
    assert all("rain" not in r["concepts"] and len(r["concepts"]) == 3 for r in records)
    assert [r["concepts"][0] for r in records if r["similarity"] == "soft_wpmi"] == ["piano", "dog", "siren"]
    with pytest.raises(AudioDissectError, match="no concept left"):
        identify_units({"tab": evidence}, {"fc": acts}, concepts, similarities=["cos"], exclude={"tab": concepts})
    paper = identify_units({"tab": evidence}, {"fc": acts}, concepts, similarities=["cos3"], variant="paper")
    robust = identify_units({"tab": evidence}, {"fc": acts}, concepts, similarities=["cos3"])
    assert [r["scores"] for r in robust] != [r["scores"] for r in paper]
    with pytest.raises(AudioDissectError, match="unknown similarity variant 'pape'"):
        identify_units({"tab": evidence}, {"fc": acts}, concepts, similarities=["cos3"], variant="pape")


@pytest.mark.parametrize("variant", ["robust", "paper"])
def test_scoring_methods_together_gives_each_method_its_own_records(variant):
    """One pass over a layer for every method gives the records each method alone gives, exclusions included."""
    rng = np.random.default_rng(3)
    n, c = 120, 9
    concepts = [f"c{i}" for i in range(c)]
    evidence = {"tab": rng.random((n, c)).astype(np.float32),
                "db": (rng.random((n, c)) ** 3).astype(np.float32),
                "labels": (rng.random((n, c)) < 0.2).astype(np.float32)}
    acts = {"conv": np.maximum(rng.standard_normal((n, 11)), 0).astype(np.float32),
            "out": rng.standard_normal((n, 5)).astype(np.float32)}
    exclude = {"tab": ["c1"], "labels": ["c4", "c5"]}
    kw = dict(similarities=["cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi"], db_scope="topk",
              output_layer="out", variant=variant)
    together = identify_units(evidence, acts, concepts, exclude=exclude, **kw)
    alone = [r for method, ev in evidence.items()
             for r in identify_units({method: ev}, acts, concepts, exclude=exclude, **kw)]
    assert together == alone
    assert {r["similarity"] for r in together if r["method"] == "db" and r["layer"] == "conv"} == {"top5"}


def test_a_layer_is_scored_once_per_similarity_for_every_method(monkeypatch):
    """The methods' evidence is scored side by side: one call per similarity function and layer, the grouped
    functions (wpmi, soft_wpmi) told each method's concept count."""
    import audiodissect.identify.units as units

    calls = []
    score = units.score_units
    monkeypatch.setattr(units, "score_units", lambda ev, acts, **kw: calls.append((kw["similarity"], kw.get("groups")))
                        or score(ev, acts, **kw))
    rng = np.random.default_rng(4)
    evidence = {"tab": rng.random((80, 6)).astype(np.float32), "labels": (rng.random((80, 6)) < 0.3).astype(np.float32)}
    identify_units(evidence, {"fc": rng.standard_normal((80, 4)).astype(np.float32)}, [f"c{i}" for i in range(6)],
                   similarities=["cos", "wpmi", "soft_wpmi"], exclude={"labels": ["c0"]})
    assert calls == [("cos", None), ("wpmi", [6, 5]), ("soft_wpmi", [6, 5])]
