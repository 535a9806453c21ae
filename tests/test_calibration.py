"""Sentence splitting, sentence filters and summary calibration (Module B)."""

from __future__ import annotations

import numpy as np
import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.summarize import (
    CalibrationSettings,
    calibrate_sentences,
    calibrate_summaries,
    calibrate_summary,
    content_sentences,
    split_sentences,
)
from audiodissect.sentences import boilerplate_phrase, is_short, words


def test_split_prose_lists_and_abbreviations():
    text = ("Sure! Here are the features:\n"
            "1. The clips feature dogs barking, e.g. loudly outside.\n"
            "- Cats meow. 2 birds sing? \"Quoted words here.\" Next one\n"
            "\n"
            "  * A bulleted   line with spaces  ")
    assert split_sentences(text) == [
        "Sure!",
        "Here are the features:",
        "The clips feature dogs barking, e.g. loudly outside.",
        "Cats meow.",
        "2 birds sing?",
        "\"Quoted words here.\"",
        "Next one",
        "A bulleted line with spaces",
    ]


def test_split_keeps_decimals_and_lowercase_continuations():
    assert split_sentences("It peaks near 2.5 kHz. then it fades. Then silence.") == [
        "It peaks near 2.5 kHz. then it fades.", "Then silence."]
    assert split_sentences("") == []


def test_words_and_short_rule():
    assert words("A high-pitched, dog's bark (loud).") == ["A", "high-pitched", "dog's", "bark", "loud"]
    assert is_short("One two three four five.")
    assert not is_short("One two three four five six.")
    assert is_short("one two three", max_words=2) is False


@pytest.mark.parametrize("sentence, phrase", [
    ("Sure, the clips are all loud and clear.", "sure"),
    ("Based on the descriptions, dogs bark loudly at night.", "based on"),
    ("In summary, the clips share a bright and harsh tone.", "in summary"),
    ("Here's what the recordings have in common with each other.", "here's"),
    ("CERTAINLY the sounds are all loud engines revving.", "certainly"),
    ("The pressure of the steam produces a loud hiss.", None),  # "sure" inside a word
    ("The clips feature many based sounds of engines.", None),
])
def test_boilerplate_phrase(sentence, phrase):
    assert boilerplate_phrase(sentence) == phrase


def test_content_sentences_records_reasons():
    kept, removed = content_sentences("Sure! Based on the descriptions, the clips are loud. "
                                      "The clips feature loud dogs barking at night.")
    assert kept == ["The clips feature loud dogs barking at night."]
    assert removed == [
        {"sentence": "Sure!", "reason": "short", "detail": "5 words or fewer", "low_sentence": None, "cosine": None},
        {"sentence": "Based on the descriptions, the clips are loud.", "reason": "boilerplate",
         "detail": "contains 'based on'", "low_sentence": None, "cosine": None},
    ]


def test_repeated_sentence_removed_once():
    kept, removed = content_sentences("The clips feature loud dogs barking at night. "
                                      "THE CLIPS FEATURE LOUD DOGS BARKING AT NIGHT.")
    assert kept == ["The clips feature loud dogs barking at night."]
    assert [(r["sentence"], r["reason"]) for r in removed] == [
        ("THE CLIPS FEATURE LOUD DOGS BARKING AT NIGHT.", "repeat")]


def test_calibrate_sentences_threshold_is_strict():
    high = ["h0", "h1", "h2"]
    low = ["l0", "l1"]
    he = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    le = np.array([[1.0, 0.0], [0.8, 0.6]])
    # cosines: h0: 1.0, 0.8; h1: 0.0, 0.6; h2: 0.6, 0.96
    kept, removed = calibrate_sentences(high, low, he, le, threshold=0.6)
    assert kept == ["h1"]
    assert [(r["sentence"], r["low_sentence"], r["cosine"]) for r in removed] == [
        ("h0", "l0", 1.0), ("h2", "l1", 0.96)]
    assert removed[1]["detail"] == "similar to 'l1' (cos 0.96)"
    kept, removed = calibrate_sentences(high, low, he, le, threshold=0.99)
    assert kept == ["h1", "h2"] and [r["sentence"] for r in removed] == ["h0"]
    assert calibrate_sentences(high, [], he, np.zeros((0, 2)))[0] == high


class TableEmbedder:
    """Returns fixed vectors per sentence and records what it was asked."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return np.array([self.table[t] for t in texts], dtype=np.float32).reshape(len(texts), 2)


def test_calibrate_summaries_embeds_each_sentence_once():
    a = "The clips feature dogs barking loudly outside."
    b = "The sounds are recorded outdoors with wind noise."
    c = "The clips contain soft rain falling on a roof."
    emb = TableEmbedder({a: [1, 0], b: [0, 1], c: [0.8, 0.6]})  # c.b = 0.6 < 0.75
    out = calibrate_summaries([f"{a} {b}", f"{c} {b}"], [b, b], embedder=emb)
    assert len(emb.calls) == 1 and emb.calls[0] == [a, b, c]
    assert [o["summary"] for o in out] == [a, c]
    assert out[0]["kept"] == [a] and out[0]["removed"][0]["reason"] == "similar"
    with pytest.raises(AudioDissectError):
        calibrate_summaries(["x"], [], embedder=emb)


def test_calibration_settings_validate():
    with pytest.raises(AudioDissectError):
        CalibrationSettings(threshold=1.5)
    assert CalibrationSettings().threshold == 0.75


@pytest.fixture(scope="module")
def embedder():
    from audiodissect.text_embedder import load_text_embedder

    return load_text_embedder("minilm")


def test_hand_built_calibration_with_minilm(embedder):
    high = ("Sure, here is a summary of the clips. The clips feature loud trumpets playing a bright "
            "fanfare. All of the sounds were recorded indoors in a quiet room. Very loud.")
    low = ("The clips feature soft rain falling gently on a tin roof. All of the sounds were recorded "
           "indoors in a quiet room.")
    out = calibrate_summary(high, low, embedder=embedder)
    assert out["summary"] == "The clips feature loud trumpets playing a bright fanfare."
    assert out["kept"] == ["The clips feature loud trumpets playing a bright fanfare."]
    by_reason = {r["reason"]: r for r in out["removed"]}
    assert by_reason["boilerplate"]["sentence"] == "Sure, here is a summary of the clips."
    assert by_reason["short"]["sentence"] == "Very loud."
    assert by_reason["similar"]["sentence"] == "All of the sounds were recorded indoors in a quiet room."
    assert by_reason["similar"]["cosine"] == pytest.approx(1.0, abs=1e-4)
    # a strict threshold of 1.0 keeps even an identical sentence (cosine must exceed it)
    loose = calibrate_summary(high, low, embedder=embedder, settings=CalibrationSettings(threshold=1.0))
    assert len(loose["kept"]) == 2
    # everything removed -> empty calibrated summary
    empty = calibrate_summary(low, low, embedder=embedder)
    assert empty["summary"] == "" and empty["kept"] == []


def test_a_cosine_a_rounding_above_the_threshold_is_not_above_it():
    """Unit-norm float32 embeddings of one sentence can give 1.0000001; threshold 1.0 must keep it everywhere."""
    one = np.array([[1.0 + 6e-8, 0.0]])  # cos with itself 1 + 1.2e-7: a rounding above 1
    assert float((one @ one.T)[0, 0]) > 1.0
    kept, removed = calibrate_sentences(["same words here"], ["same words here"], one, one, threshold=1.0)
    assert kept == ["same words here"] and removed == []
    kept, removed = calibrate_sentences(["same words here"], ["same words here"], one, one, threshold=0.9999)
    assert kept == [] and removed[0]["reason"] == "similar"
