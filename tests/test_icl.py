"""ICL concept choice: prompts, answer parsing and mapping answers to concepts."""

from __future__ import annotations

import numpy as np
import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.summarize.prompts import concept_choice_prompt, read_concept_choice_prompt
from audiodissect.progress import silent
from audiodissect.summarize import ICLSettings, choose_concepts, map_to_concepts
from audiodissect.summarize.icl import is_copied_list

CONCEPTS = ["dog", "trumpet", "rain", "church bells", "clock tick"]


@pytest.fixture(scope="module")
def embedder():
    from audiodissect.text_embedder import load_text_embedder

    return load_text_embedder("minilm")


def test_free_answer_maps_to_nearest_concept(embedder):
    matched, cosine = map_to_concepts(["brass trumpet sound", "heavy rainfall", "bells ringing", "Dog"],
                                      CONCEPTS, embedder=embedder)
    assert matched == ["trumpet", "rain", "church bells", "dog"]
    assert cosine[3] == 1.0  # exact match, any case
    assert np.all(cosine[:3] > 0.75) and np.all(cosine[:3] < 1.0)


def test_min_cosine_rejects_far_answers(embedder):
    matched, cosine = map_to_concepts(["I cannot tell", "canine barking"], CONCEPTS, embedder=embedder,
                                      min_cosine=0.75)
    assert matched == [None, "dog"]
    assert cosine[0] < 0.75 <= cosine[1]
    matched, _ = map_to_concepts(["I cannot tell"], CONCEPTS, embedder=embedder, min_cosine=-1)
    assert matched[0] in CONCEPTS


class StubEmbedder:
    """Embeds by the first listed keyword contained in the text."""

    keys = ["dog", "trumpet", "rain"]

    def encode(self, texts):
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for i, t in enumerate(texts):
            j = next((k for k, key in enumerate(self.keys) if key in t), 3)
            out[i, j] = 1.0
        return out


def test_map_uses_template_and_checks_concepts():
    seen = []

    class Recorder(StubEmbedder):
        def encode(self, texts):
            seen.extend(texts)
            return super().encode(texts)

    matched, _ = map_to_concepts(["a rainy day"], ["dog", "rain"], embedder=Recorder())
    assert matched == ["rain"]
    assert seen == ["This is an audio about a rainy day", "This is an audio about dog",
                    "This is an audio about rain"]
    with pytest.raises(AudioDissectError):
        map_to_concepts(["x"], [], embedder=StubEmbedder())


class ChoiceLLM:
    """Answers concept-choice prompts from a table keyed by the summary."""

    name = "choice"

    def __init__(self, table):
        self.table = table
        self.prompts = []

    def complete(self, prompts, **params):
        self.prompts += list(prompts)
        out = []
        for p in prompts:
            summary, concepts, k = read_concept_choice_prompt(p)
            out.append(self.table[(summary, k)])
        return out


def test_choose_concepts_records_answers():
    table = {("Loud trumpets play.", 1): "Answer: brass trumpet sound",
             ("Loud trumpets play.", 3): "1. trumpet\n2. dogs barking\n3. trumpet",
             ("Nothing clear.", 1): "",
             ("Nothing clear.", 3): "None of the above"}
    llm = ChoiceLLM(table)
    records = choose_concepts(["Loud trumpets play.", "Nothing clear.", "Loud trumpets play."],
                              ["dog", "trumpet", "rain"], llm=llm, embedder=StubEmbedder(),
                              settings=ICLSettings(k=3), hook=silent)
    assert len(llm.prompts) == 4  # repeated summary asked once per k
    assert llm.prompts[0] == concept_choice_prompt("Loud trumpets play.", ["dog", "trumpet", "rain"], k=1)
    r0, r1, r2 = records
    assert r0 == r2
    assert r0["icl_top1"] == "trumpet" and r0["icl_status"] == "matched"
    assert r0["icl_parsed"] == ["brass trumpet sound"]
    assert r0["icl_topk"] == ["trumpet", "dog"]
    assert r0["icl_answer_topk"] == "1. trumpet\n2. dogs barking\n3. trumpet"
    assert r1["icl_top1"] is None and r1["icl_top1_cosine"] is None
    assert r1["icl_status"] == "unparsed" and r1["icl_answer"] == "" and r1["icl_parsed"] == []
    assert r1["icl_topk"] == []
    assert r0["icl_status_topk"] == "matched" and r1["icl_status_topk"] == "none"  # "None of the above"


def test_two_shot_icl_asks_with_worked_examples_and_answers_for_the_unit():
    from audiodissect.summarize.extractive import ExtractiveLLM

    concepts = ["dog", "trumpet", "rain", "church bells", "clock tick", "wind"]
    llm = ChoiceLLM({("Loud trumpets play.", 1): "trumpet", ("Loud trumpets play.", 2): "trumpet\ndog"})
    records = choose_concepts(["Loud trumpets play."], concepts, llm=llm, embedder=StubEmbedder(),
                              settings=ICLSettings(k=2, shots=2), hook=silent)
    assert llm.prompts == [concept_choice_prompt("Loud trumpets play.", concepts, k=1, shots=2),
                           concept_choice_prompt("Loud trumpets play.", concepts, k=2, shots=2)]
    assert "Example summary: All of the clips contain the sound of rain." in llm.prompts[0]
    assert "Example summary: Every clip features clock tick," in llm.prompts[0]
    assert records[0]["icl_top1"] == "trumpet" and records[0]["icl_topk"] == ["trumpet", "dog"]
    # the extractive backend answers the unit's summary, not the examples' (rain, clock tick)
    extractive = choose_concepts(["Most of the clips feature a barking dog."], concepts, llm=ExtractiveLLM(),
                                 embedder=StubEmbedder(), settings=ICLSettings(k=2, shots=2), hook=silent)
    assert extractive[0]["icl_top1"] == "dog" and extractive[0]["icl_status"] == "matched"
    assert ICLSettings().shots == 0
    for bad in (3, -1, 1.5, True):
        with pytest.raises(AudioDissectError, match="shots"):
            ICLSettings(shots=bad)


CANDIDATES = ["dog", "trumpet", "rain", "church bells", "crying baby", "wind"]


@pytest.mark.parametrize("names, copied", [
    (["dog", "trumpet", "rain"], True),
    ([" Dog", "TRUMPET ", "rain", "church bells", "crying baby"], True),
    (CANDIDATES, True),
    (["dog", "trumpet"], False),                     # too short to tell from a real answer
    (["trumpet", "rain", "church bells"], False),    # not the start of the list
    (["dog", "rain", "trumpet"], False),             # not in the list's order
    (["dog", "trumpet", "rain", "thunder"], False),  # a name of its own
    (CANDIDATES + ["dog"], False),
    ([], False),
])
def test_is_copied_list(names, copied):
    assert is_copied_list(names, CANDIDATES) is copied


def test_copied_candidate_list_gets_its_own_status():
    summary = "Most of the clips feature trumpet."
    table = {(summary, 1): "1. dog\n2. trumpet\n3. rain",               # the top-1 answer copies the list too
             (summary, 5): "dog, trumpet, rain, church bells, crying baby",
             ("Rain falls.", 1): "rain",
             ("Rain falls.", 5): "1. rain\n2. wind\n3. dog",
             ("Dogs bark.", 1): "dog",
             ("Dogs bark.", 5): "dog\ntrumpet"}
    records = choose_concepts([summary, "Rain falls.", "Dogs bark."], CANDIDATES, llm=ChoiceLLM(table),
                              embedder=StubEmbedder(), settings=ICLSettings(k=5), hook=silent)
    copied, real, short = records
    assert copied["icl_status"] == "copied_list" and copied["icl_status_topk"] == "copied_list"
    # the mapped concepts are kept, so the answer can still be inspected
    assert copied["icl_top1"] == "dog" and copied["icl_parsed"] == ["dog"]
    assert copied["icl_topk"] == ["dog", "trumpet", "rain", "church bells", "crying baby"]
    assert real["icl_status"] == "matched" and real["icl_status_topk"] == "matched"
    assert real["icl_topk"] == ["rain", "wind", "dog"]
    assert short["icl_status"] == "matched" and short["icl_status_topk"] == "matched"


def test_choose_concepts_k1_only_asks_once():
    llm = ChoiceLLM({("Rain falls.", 1): "rain"})
    records = choose_concepts(["Rain falls."], ["dog", "rain"], llm=llm, embedder=StubEmbedder(),
                              settings=ICLSettings(k=1), hook=silent)
    assert len(llm.prompts) == 1
    assert records[0]["icl_top1"] == "rain" and records[0]["icl_topk"] == ["rain"]
    none = choose_concepts(["Rain falls."], ["dog", "rain"], llm=llm, embedder=StubEmbedder(),
                           settings=ICLSettings(k=0), hook=silent)
    assert "icl_topk" not in none[0]
    with pytest.raises(AudioDissectError):
        ICLSettings(template="no placeholder")


@pytest.mark.parametrize("answer, declines", [
    ("none", True), ("None of the above.", True), ("Answer: N/A", True), ("**None**", True),
    ("", False), ("I cannot tell", False), ("dog", False), ("none of the dogs", False),
])
def test_says_none(answer, declines):
    from audiodissect.summarize.prompts import says_none

    assert says_none(answer) is declines
