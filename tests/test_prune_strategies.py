"""Unit selection: TAB/DB top-3, OCP lemma and embedding matching, random draws, given units, saving."""

import numpy as np
import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.class_names import normalize_concept
from audiodissect.prune.matching import concept_keys, lemma, match_nouns
from audiodissect.prune.strategies import (Selection, concept_slug, eligible_layers, load_selection,
                                           save_selection, select_closed_set, select_given, select_ocp,
                                           select_random)
from prune_fixtures import IDENTIFY, SUMMARIZE, fake_encoder

LAYERS = {"hidden": 3, "classifier": 2}
ELIGIBLE = {"hidden": 3}


def test_eligible_layers_leave_out_the_output_layer():
    assert eligible_layers(LAYERS, "classifier") == ELIGIBLE
    assert eligible_layers(LAYERS, "classifier", include_output_layer=True) == LAYERS
    assert eligible_layers(LAYERS, None) == LAYERS  # a model without an output layer among the recorded ones


def test_tab_selects_top3_with_soft_wpmi_and_explains_ranks():
    sel = select_closed_set(IDENTIFY, "trumpet", method="tab", similarity="soft_wpmi", layers=ELIGIBLE)
    # hidden#1 has trumpet at rank 4; hidden#0's "cos" record must not count; classifier is excluded
    assert sel.units == ["hidden#0", "hidden#2"]
    assert sel.reasons == {"hidden#0": "tab/soft_wpmi rank 1", "hidden#2": "tab/soft_wpmi rank 3"}
    with_output = select_closed_set(IDENTIFY, "trumpet", method="tab", similarity="soft_wpmi", layers=LAYERS)
    assert with_output.units == ["hidden#0", "hidden#2", "classifier#0", "classifier#1"]
    assert select_closed_set(IDENTIFY, "trumpet", method="tab", similarity="soft_wpmi", layers=ELIGIBLE,
                             top=1).units == ["hidden#0"]


def test_db_uses_cos3_and_normalised_names():
    sel = select_closed_set(IDENTIFY, "TRUMPET", method="db", similarity="cos3", layers=ELIGIBLE)
    assert sel.units == ["hidden#1"] and sel.reasons == {"hidden#1": "db/cos3 rank 1"}
    assert sel.strategy == "db"


def test_missing_method_similarity_is_a_clear_error():
    with pytest.raises(AudioDissectError) as err:
        select_closed_set(IDENTIFY, "trumpet", method="db", similarity="wpmi", layers=ELIGIBLE)
    assert "db/cos3" in str(err.value) and "tab/soft_wpmi" in str(err.value)


def test_lemmas_and_concept_keys():
    assert lemma("trumpets") == "trumpet"
    assert lemma("geese") == "goose"
    assert lemma("glass") == "glass"
    assert concept_keys("trumpet") == {"trumpet"}
    assert {"baby", "crying"} <= concept_keys("crying baby")
    assert {"church", "bell"} <= concept_keys("church_bells")
    assert "of" not in concept_keys("sound of rain")
    assert normalize_concept("Crying_Baby ") == "crying baby"


def test_lemma_matching_not_substrings():
    assert match_nouns(["trumpets", "trumpeter", "piano"], "trumpet") == [("trumpets", "lemma", None)]
    assert match_nouns(["organist", "piano", "organs"], "organ") == [("organs", "lemma", None)]
    assert match_nouns(["bells"], "church bells") == [("bells", "lemma", None)]
    assert match_nouns(["babies", "baby"], "crying baby") == [("babies", "lemma", None), ("baby", "lemma", None)]


def test_embedding_matching_uses_the_threshold():
    encode = fake_encoder({"trumpet": [1, 0, 0], "trumpeter": [0.8, 0.6, 0], "piano": [0.5, 0, 0.866],
                           "trumpets": [1, 0, 0]})
    found = match_nouns(["piano", "trumpeter", "trumpets"], "trumpet", encode=encode, threshold=0.7)
    assert [(n, h) for n, h, _ in found] == [("trumpets", "lemma"), ("trumpeter", "embedding")]
    assert found[1][2] == pytest.approx(0.8)
    assert match_nouns(["trumpeter"], "trumpet", encode=encode, threshold=0.85) == []
    assert match_nouns(["trumpeter"], "trumpet", encode=encode, threshold=None) == []


def test_real_embedder_matches_trumpeter_and_not_piano_for_organ():
    from audiodissect.text_embedder import load_text_embedder

    encode = load_text_embedder("minilm").encode
    trumpet = match_nouns(["trumpeter", "dog"], "trumpet", encode=encode, threshold=0.7)
    assert [(n, h) for n, h, _ in trumpet] == [("trumpeter", "embedding")] and trumpet[0][2] > 0.75
    assert match_nouns(["piano", "keys"], "organ", encode=encode, threshold=0.7) == []


def test_ocp_selection_and_reasons():
    sel = select_ocp(SUMMARIZE, "trumpet", layers=ELIGIBLE, threshold=None)
    assert sel.units == ["hidden#0"]
    assert sel.reasons == {"hidden#0": "noun 'trumpets' ~ 'trumpet' (lemma)"}
    assert select_ocp(SUMMARIZE, "organ", layers=ELIGIBLE, threshold=None).units == ["hidden#1"]
    assert select_ocp(SUMMARIZE, "organ", layers=LAYERS, threshold=None).units == ["hidden#1", "classifier#1"]
    encode = fake_encoder({"trumpet": [1, 0], "trumpets": [1, 0], "brass": [0.9, 0.436], "organs": [0, 1],
                           "keys": [0, 1], "church": [0, 1], "wind": [0.75, 0.661]})
    sel = select_ocp(SUMMARIZE, "trumpet", layers=ELIGIBLE, encode=encode, threshold=0.7)
    assert sel.units == ["hidden#0", "hidden#2"]
    assert sel.reasons["hidden#0"] == "noun 'trumpets' ~ 'trumpet' (lemma)"   # lemma wins over brass (0.90)
    assert sel.reasons["hidden#2"] == "noun 'wind' ~ 'trumpet' (embedding 0.75)"


def test_random_draws_are_seeded_and_spread_over_layers():
    layers = {"a": 3, "b": 5, "c": 2}
    one = select_random(layers, 4, seed=7, concept="x")
    assert one.units == select_random(layers, 4, seed=7, concept="x").units
    flat = np.sort(np.random.default_rng(7).choice(10, size=4, replace=False))
    names = ["a#0", "a#1", "a#2", *(f"b#{i}" for i in range(5)), "c#0", "c#1"]
    assert one.units == [names[i] for i in flat]
    draws = {tuple(select_random(layers, 4, seed=s).units) for s in range(5)}
    assert len(draws) > 1
    assert one.label == "random-seed7" and one.seed == 7
    assert len(set(select_random(layers, 10, seed=0).units)) == 10
    with pytest.raises(AudioDissectError):
        select_random(layers, 11, seed=0)


def test_given_units_are_checked_against_recorded_layers():
    sel = select_given(["classifier#1", "hidden#2", "hidden#0"], layers=LAYERS, concept="organ")
    assert sel.units == ["hidden#0", "hidden#2", "classifier#1"]
    with pytest.raises(AudioDissectError, match="hidden"):
        select_given(["hiden#0"], layers=LAYERS)
    with pytest.raises(AudioDissectError, match="has 3 units"):
        select_given(["hidden#3"], layers=LAYERS)
    with pytest.raises(AudioDissectError, match="bad unit id"):
        select_given(["hidden"], layers=LAYERS)


def test_selections_round_trip_on_disk(tmp_path):
    sel = Selection(strategy="random", concept="Crying Baby", units=["a#1"], reasons={"a#1": "random draw (seed 2)"},
                    seed=2, reference="ocp")
    from audiodissect.rundir import RunDir

    path = save_selection(RunDir(tmp_path), sel)
    assert path == tmp_path / "pruning" / "crying_baby" / "selection-random-ocp-seed2.json"
    assert load_selection(path) == sel
    assert concept_slug("dog / bark!") == "dog_bark"
