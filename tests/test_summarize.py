"""Top/bottom clips, summary prompts, batched LLM calls and the whole summarise stage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.summarize.prompts import read_concept_choice_prompt, read_summary_prompt, summary_prompt
from audiodissect.progress import silent
from audiodissect.summarize import (
    SummarizeSettings,
    SummarySettings,
    complete_unique,
    summarize_clip_sets,
    summarize_units,
    summary_prompts,
    top_bottom_clips,
)


def test_top_bottom_matches_argsort_reference():
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(40, 13)).astype(np.float32)
    top, bottom = top_bottom_clips(acts, k=5, chunk_units=4)
    assert top.shape == bottom.shape == (13, 5)
    for u in range(13):
        order = np.argsort(acts[:, u])
        np.testing.assert_array_equal(top[u], order[::-1][:5])
        np.testing.assert_array_equal(bottom[u], order[:5])


def test_top_bottom_hand_values_and_ties():
    acts = np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 0.0], [3.0, 1.0]])
    top, bottom = top_bottom_clips(acts, k=2)
    # ties go to the lower row index on both sides
    assert top.tolist() == [[1, 3], [0, 1]]
    assert bottom.tolist() == [[0, 2], [2, 3]]


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((3, 2, 2))])
def test_top_bottom_rejects_bad_shapes(bad):
    with pytest.raises(AudioDissectError):
        top_bottom_clips(bad, k=1)


def test_top_bottom_rejects_k_and_nan():
    with pytest.raises(AudioDissectError, match="k must be"):
        top_bottom_clips(np.zeros((3, 2)), k=4)
    with pytest.raises(AudioDissectError, match="NaN"):
        top_bottom_clips(np.array([[np.nan], [1.0]]), k=1)


def test_summary_prompts_list_the_right_descriptions():
    descriptions = ["dog barks", "cat meows", "rain falls", "car horn"]
    top = np.array([[0, 1], [2, 3]])
    bottom = np.array([[3, 2], [0, 1]])
    high, low = summary_prompts(top, bottom, descriptions)
    assert high[0] == summary_prompt(["dog barks", "cat meows"])
    assert read_summary_prompt(high[1]) == ["rain falls", "car horn"]
    # clip order by default: the same set gives the same prompt
    assert read_summary_prompt(low[0]) == ["rain falls", "car horn"] and low[0] == high[1]
    assert low[1] == high[0]
    _, ranked = summary_prompts(top, bottom, descriptions, share_sets=False)
    assert read_summary_prompt(ranked[0]) == ["car horn", "rain falls"]
    with pytest.raises(AudioDissectError, match="out of range"):
        summary_prompts(np.array([[4]]), np.array([[0]]), descriptions)


class CountingLLM:
    """Echoes each prompt's first description list and counts the prompts it saw."""

    name = "counting"

    def __init__(self):
        self.seen: list[str] = []
        self.params: list[dict] = []

    def complete(self, prompts, **params):
        self.seen += list(prompts)
        self.params.append(params)
        return ["answer " + "|".join(read_summary_prompt(p) or [p]) for p in prompts]


def test_complete_unique_asks_each_prompt_once_in_batches():
    llm = CountingLLM()
    events = []
    hook = lambda stage, artefact=None, *, completed, total: events.append((stage, completed, total))
    answers = complete_unique(llm, ["a", "bb", "a", "ccc", "bb"], params={"temperature": 0.0},
                              batch_size=2, hook=hook, stage="x")
    assert answers == ["answer a", "answer bb", "answer a", "answer ccc", "answer bb"]
    assert llm.seen == ["a", "bb", "ccc"]
    assert llm.params == [{"temperature": 0.0}, {"temperature": 0.0}]
    assert events == [("x", 0, 3), ("x", 2, 3), ("x", 3, 3)]


def test_complete_unique_checks_answer_count():
    class Short:
        name = "short"

        def complete(self, prompts, **params):
            return ["x"]

    with pytest.raises(AudioDissectError, match="returned 1 answers for 2"):
        complete_unique(Short(), ["a", "b"], hook=silent)


def test_summarize_clip_sets_shares_prompts_between_units():
    llm = CountingLLM()
    top = np.array([[0, 1], [1, 0], [0, 2]])
    bottom = np.array([[2, 3], [3, 2], [3, 1]])
    high, low = summarize_clip_sets(top, bottom, ["a", "b", "c", "d"], llm=llm,
                                    settings=SummarySettings(k=2), hook=silent)
    assert len(llm.seen) == 4  # sets {0,1}, {0,2}, {2,3}, {1,3}
    assert high == ["answer a|b", "answer a|b", "answer a|c"]
    assert low == ["answer c|d", "answer c|d", "answer b|d"]
    assert llm.params[0] == {"system": None, "temperature": 0.0, "max_tokens": 256, "seed": 0}


class ScriptedLLM:
    """A tiny fake LLM: summaries by keyword, concept choice from the summary, yes/no from a set."""

    name = "scripted"

    def __init__(self):
        self.prompts: list[str] = []

    def complete(self, prompts, **params):
        self.prompts += list(prompts)
        out = []
        for p in prompts:
            descriptions = read_summary_prompt(p)
            if descriptions is not None:
                text = " ".join(descriptions)
                if "trumpet" in text:
                    out.append("Sure, here are the shared features. The clips feature loud, high-pitched "
                               "brass trumpets playing bright fanfares. The sounds are recorded in a "
                               "large hall with some echo.")
                else:
                    out.append("The clips contain quiet rain falling softly on a roof outside. The sounds "
                               "are recorded in a large hall with some echo.")
            elif p.startswith("Can the word"):
                out.append("Yes." if any(w in p for w in ('"loud"', '"high-pitched"', '"bright"')) else "No.")
            elif "trumpet" in p.split("Unit summary:")[1].split("\n")[0]:
                out.append("Answer: brass trumpet sound" if read_concept_choice_prompt(p)[2] == 1
                           else "1. trumpet\n2. rain\n3. trumpet")
            else:
                out.append("I cannot tell.")
        return out


@pytest.fixture(scope="module")
def embedder():
    from audiodissect.text_embedder import load_text_embedder

    return load_text_embedder("minilm")


def test_summarize_units_end_to_end(embedder):
    descriptions = ["a trumpet plays a fanfare", "a trumpet solo", "brass trumpet in a hall",
                    "rain on a roof", "light rain outside", "rain drops falling"]
    acts = np.array([[9.0, 0.0], [8.0, 0.1], [7.0, 0.2], [1.0, 7.0], [0.5, 8.0], [0.0, 9.0]])
    llm = ScriptedLLM()
    settings = SummarizeSettings(summary=SummarySettings(k=3), acoustic_filter="llm")
    records = summarize_units({"blocks.0.fc": acts}, descriptions, llm=llm, embedder=embedder,
                              concepts=["rain", "trumpet", "dog"], settings=settings, hook=silent)
    assert [r["unit"] for r in records] == ["blocks.0.fc#0", "blocks.0.fc#1"]
    r0, r1 = records
    assert r0["top_clips"] == [0, 1, 2] and r0["bottom_clips"] == [5, 4, 3]
    assert r1["top_clips"] == [5, 4, 3] and r1["bottom_clips"] == [0, 1, 2]
    # unit 0: the boilerplate opening and the sentence shared with S_low go
    assert r0["calibrated_summary"] == ("The clips feature loud, high-pitched brass trumpets playing "
                                        "bright fanfares.")
    reasons = {d["sentence"]: d["reason"] for d in r0["removed_sentences"]}
    assert reasons == {"Sure, here are the shared features.": "boilerplate",
                       "The sounds are recorded in a large hall with some echo.": "similar"}
    assert r0["adjectives"] == ["loud", "high-pitched", "bright"]
    assert r0["acoustic_adjectives"] == ["loud", "high-pitched", "bright"]
    assert r0["nouns"] == ["brass", "trumpet", "fanfare"]
    assert r0["verbs"] == ["feature", "play"]
    assert r0["summary_length"] == 10
    assert r0["icl_top1"] == "trumpet" and r0["icl_answer"] == "Answer: brass trumpet sound"
    assert r0["icl_topk"] == ["trumpet", "rain"]
    assert r0["icl_summary_source"] == "calibrated"
    # unit 1: "quiet" is an adjective this fake LLM calls non-acoustic; its ICL answer is a refusal
    assert r1["calibrated_summary"] == "The clips contain quiet rain falling softly on a roof outside."
    assert r1["adjectives"] == ["quiet"] and r1["acoustic_adjectives"] == []
    assert r1["nouns"] == ["rain", "roof"] and r1["prepositions"] == ["on"]
    assert r1["icl_top1"] is None and r1["icl_status"] == "unmatched"
    assert r1["icl_answer"] == "I cannot tell." and r1["icl_topk"] == []
    assert json.loads(json.dumps([r.to_json() for r in records]))[0]["s_high"] == r0["s_high"]  # plain data
    # each distinct adjective asked once
    assert sum(p.startswith("Can the word") for p in llm.prompts) == 4


def test_summarize_units_with_extractive_llm_and_shard(embedder):
    from audiodissect.summarize.extractive import ExtractiveLLM

    descriptions = ["a loud dog barking", "a dog barking loudly outside", "an angry dog barking",
                    "a quiet clock ticking", "a clock ticking softly", "a slow clock ticking"]
    acts = np.array([[5.0, 0.0, 1.0], [4.0, 0.0, 1.0], [3.0, 1.0, 1.0],
                     [0.0, 5.0, 1.0], [0.0, 4.0, 1.0], [0.0, 3.0, 1.0]])
    records = summarize_units({"head": acts}, descriptions, llm=ExtractiveLLM(), embedder=embedder,
                              concepts=["clock tick", "dog bark"], units={"head": [1, 0]},
                              settings=SummarizeSettings(summary=SummarySettings(k=3)), hook=silent)
    assert [r["unit"] for r in records] == ["head#1", "head#0"]
    by_unit = {r["unit"]: r for r in records}
    assert by_unit["head#0"]["icl_top1"] == "dog bark"
    assert by_unit["head#1"]["icl_top1"] == "clock tick"
    assert "dog" in by_unit["head#0"]["nouns"]
    assert "clock" in by_unit["head#1"]["nouns"]
    named = summarize_units({"head": acts}, descriptions, llm=ExtractiveLLM(), embedder=embedder,
                            units={"head": [1, 0]}, settings=SummarizeSettings(summary=SummarySettings(k=3)),
                            hook=silent, clip_ids=[f"clip{i}" for i in range(6)])
    assert named[1]["top_clips"] == ["clip0", "clip1", "clip2"] == [f"clip{i}" for i in records[1]["top_clips"]]
    assert named[0]["bottom_clips"] == [f"clip{i}" for i in records[0]["bottom_clips"]]
    assert named[0]["s_high"] == records[0]["s_high"]


def test_summarize_units_checks_shapes(embedder):
    with pytest.raises(AudioDissectError, match="expected \\(2, units\\)"):
        summarize_units({"l": np.zeros((3, 2))}, ["a", "b"], llm=CountingLLM(), embedder=embedder, hook=silent)
    with pytest.raises(AudioDissectError, match="out of range"):
        summarize_units({"l": np.zeros((2, 2))}, ["a", "b"], llm=CountingLLM(), embedder=embedder,
                        units={"l": [2]}, settings=SummarizeSettings(summary=SummarySettings(k=1)), hook=silent)
    with pytest.raises(AudioDissectError, match="3 clip ids for 2 descriptions"):
        summarize_units({"l": np.zeros((2, 2))}, ["a", "b"], llm=CountingLLM(), embedder=embedder,
                        clip_ids=["x", "y", "z"], hook=silent)
    with pytest.raises(AudioDissectError, match="acoustic filter"):
        SummarizeSettings(acoustic_filter="lexcon")


def test_make_settings_and_cache_key():
    from audiodissect.summarize import make_summarize_settings, summarize_cache_key

    s = make_summarize_settings(k=3, threshold=0.5, adjective_filter="llm", max_tokens=400, icl_k=0)
    assert s.summary.k == 3 and s.summary.max_tokens == 400
    assert s.calibration.threshold == 0.5 and s.acoustic_filter == "llm"
    assert s.icl.k == 0 and s.icl.max_tokens == 100
    acts = np.array([[3.0, 0.0], [2.0, 1.0], [1.0, 2.0], [0.0, 3.0]])
    key = lambda a, **kw: summarize_cache_key({"l": a}, ["a", "b", "c", "d"], llm_name="x",
                                              embedder_name="minilm", settings=s, **kw)
    base = key(acts)
    assert key(acts * 2 + 1) == base  # same top/bottom clips -> same key
    assert key(acts[:, ::-1]) != base
    assert key(acts, units={"l": [0]}) != base
    assert summarize_cache_key({"l": acts}, ["a", "b", "c", "d"], llm_name="y", embedder_name="minilm",
                               settings=s) != base


def test_cache_key_changes_with_the_prompt_wording(monkeypatch):
    from audiodissect.summarize import prompts
    from audiodissect.summarize import summarize_cache_key

    acts = np.array([[3.0, 0.0], [2.0, 1.0], [1.0, 2.0], [0.0, 3.0]])
    key = lambda: summarize_cache_key({"l": acts}, ["a", "b", "c", "d"], llm_name="x", embedder_name="minilm",
                                      concepts=["dog"])
    base = key()
    monkeypatch.setattr(prompts, "_CHOICE_ONE", "Name the concept.")
    assert key() != base
