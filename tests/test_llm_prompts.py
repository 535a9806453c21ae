"""Prompt builders (exact strings), their read-back, and answer parsing."""

import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.summarize.prompts import (
    adjective_check_prompt,
    concept_choice_prompt,
    parse_concepts,
    parse_yes_no,
    read_adjective_check_prompt,
    read_concept_choice_prompt,
    read_summary_prompt,
    summary_prompt,
)

SUMMARY = (
    "Below are descriptions of several audio clips, one per line. In two or three sentences, "
    "summarise what most of these clips have in common: the sound sources, and the tone, emotion "
    "and acoustic qualities of the sounds. Describe only shared features, not what sets a single "
    "clip apart, and do not mention individual clips.\n"
    "\n"
    "Clip descriptions:\n"
    "- A dog barks loudly.\n"
    "- A small dog whines, then barks."
)


def test_summary_prompt_exact():
    assert summary_prompt(["A dog barks loudly.", "A small dog\nwhines,  then barks."]) == SUMMARY
    assert read_summary_prompt(SUMMARY) == ["A dog barks loudly.", "A small dog whines, then barks."]
    with pytest.raises(AudioDissectError):
        summary_prompt("one string")


def test_concept_choice_prompt_exact():
    expected = (
        "Unit summary: Loud sirens. Rising pitch.\n"
        "Candidate concepts:\n"
        "- siren\n"
        "- church bells\n"
        "\n"
        "Which candidate concept matches the unit summary best? Reply with the concept only."
    )
    prompt = concept_choice_prompt("Loud sirens.\nRising pitch.", ["siren", "church bells"])
    assert prompt == expected
    assert read_concept_choice_prompt(prompt) == ("Loud sirens. Rising pitch.", ["siren", "church bells"], 1)
    three = concept_choice_prompt("x", ["a", "b", "c", "d"], k=3)
    assert three.endswith("\n\nWhich 3 candidate concepts match the unit summary best? "
                          "Reply with the 3 concepts only, one per line, best first.")
    assert read_concept_choice_prompt(three) == ("x", ["a", "b", "c", "d"], 3)
    with pytest.raises(AudioDissectError):
        concept_choice_prompt("x", ["a"], k=0)
    with pytest.raises(AudioDissectError):
        concept_choice_prompt("x", [])


def test_concept_choice_prompt_names_no_concept_but_the_candidates():
    # no worked example: the only concept names in the prompt are the summary's words and the list
    prompt = concept_choice_prompt("Bright plucked strings.", ["sitar", "banjo"])
    words = set(prompt.lower().replace("?", " ").replace(".", " ").replace(":", " ").split())
    assert words == {"unit", "summary", "bright", "plucked", "strings", "candidate", "concepts", "-",
                     "sitar", "banjo", "which", "concept", "matches", "the", "best", "reply", "with", "only"}


CONCEPTS6 = ["dog", "rain", "siren", "wind", "bell", "cat"]
EXAMPLE_1 = ("All of the clips contain the sound of {}. The sound is loud and repeats several times within "
             "each clip. The recordings are noisy and of poor quality.")
EXAMPLE_2 = ("Every clip features {}, recorded close to the microphone. One clip also holds a sound that is not "
             "among the candidate concepts. The sound is steady, with no other source in the background.")
LEAD = ("Pick the candidate concepts that match a unit summary best. "
        "Worked examples come first, then the unit to answer for.")
LISTED = "Candidate concepts:\n- dog\n- rain\n- siren\n- wind\n- bell\n- cat\n"


def test_two_shot_concept_choice_prompt_exact():
    expected = (
        LEAD + "\n\n" + LISTED + "\n"
        "Example summary: " + EXAMPLE_1.format("siren") + "\n"
        "Answer: siren\n"
        "\n"
        "Example summary: " + EXAMPLE_2.format("bell") + "\n"
        "Answer: bell\n"
        "\n"
        "Unit summary: Loud sirens. Rising pitch.\n"
        "Which candidate concept matches the unit summary best? Reply with the concept only."
    )
    prompt = concept_choice_prompt("Loud sirens.\nRising pitch.", CONCEPTS6, shots=2)
    assert prompt == expected
    assert read_concept_choice_prompt(prompt) == ("Loud sirens. Rising pitch.", CONCEPTS6, 1)


def test_two_shot_prompt_for_k_concepts_answers_spread_names_one_per_line():
    expected = (
        LEAD + "\n\n" + LISTED + "\n"
        "Example summary: " + EXAMPLE_1.format("siren") + "\n"
        "Answer:\nsiren\nbell\ndog\n"
        "\n"
        "Example summary: " + EXAMPLE_2.format("bell") + "\n"
        "Answer:\nbell\ndog\nsiren\n"
        "\n"
        "Unit summary: x\n"
        "Which 3 candidate concepts match the unit summary best? "
        "Reply with the 3 concepts only, one per line, best first."
    )
    prompt = concept_choice_prompt("x", CONCEPTS6, k=3, shots=2)
    assert prompt == expected
    assert read_concept_choice_prompt(prompt) == ("x", CONCEPTS6, 3)
    one = concept_choice_prompt("x", CONCEPTS6, shots=1)  # one example: the middle concept
    assert "Example summary: " + EXAMPLE_1.format("wind") + "\nAnswer: wind\n\nUnit summary: x\n" in one


def test_worked_examples_are_deterministic_and_checked():
    from audiodissect.summarize.icl_examples import example_answer, example_positions, worked_examples

    assert example_positions(50, 2) == [16, 33] and example_positions(2, 2) == [0, 1]
    assert example_positions(50, 0) == []
    assert example_answer([f"c{i}" for i in range(50)], 16, 5) == ["c16", "c26", "c36", "c46", "c6"]
    assert example_answer(["a", "b"], 1, 5) == ["b", "a"]  # k above C: every concept once
    assert worked_examples(CONCEPTS6, k=1) == worked_examples(list(CONCEPTS6), k=1)
    with pytest.raises(AudioDissectError, match="at least 2 concepts"):
        concept_choice_prompt("x", ["only"], shots=2)
    with pytest.raises(AudioDissectError, match="shots"):
        concept_choice_prompt("x", CONCEPTS6, shots=3)


def test_adjective_check_prompt_exact():
    prompt = adjective_check_prompt("high-pitched")
    assert prompt == ("Can the word \"high-pitched\" describe the tone, emotion or acoustic features "
                      "of a sound? Answer yes or no.")
    assert read_adjective_check_prompt(prompt) == "high-pitched"


def test_read_back_rejects_other_prompts():
    other = "What is the capital of France?"
    assert read_summary_prompt(other) is None
    assert read_concept_choice_prompt(other) is None
    assert read_adjective_check_prompt(other) is None
    assert read_summary_prompt(adjective_check_prompt("loud")) is None


@pytest.mark.parametrize("answer, expected", [
    ("Yes", True), ("yes.", True), ("YES, it can.", True), ("No", False), ("no, it cannot", False),
    ("I think the answer is yes", True), ("Definitely not: no.", False), ("True", True),
    ("maybe", None), ("", None), (None, None), ("yes or no", None), ("...", None),
])
def test_parse_yes_no(answer, expected):
    assert parse_yes_no(answer) is expected


@pytest.mark.parametrize("answer, k, expected", [
    ("dog", 1, ["dog"]),
    ("Dog.", 1, ["Dog"]),
    ("Answer: church bells", 1, ["church bells"]),
    ("1. dog\n2. \"cat\".\n3. rain", 2, ["dog", "cat"]),
    ("- siren\n- siren\n- car horn", 5, ["siren", "car horn"]),
    ("dog, cat; rain", 3, ["dog", "cat", "rain"]),
    ("None", 1, []),
    ("", 1, []),
    (None, 3, []),
    ("dog", 0, []),
    # lead-ins, quotes, punctuation and numbering (answers of SmolLM2-135M-Instruct among them)
    ("The answer is: cat", 1, ["cat"]),
    ("The answer is dog.", 1, ["dog"]),
    ("Answer: \"dog\".", 1, ["dog"]),
    ("Concept: dog!", 1, ["dog"]),
    ("**Answer:** Dog", 1, ["Dog"]),
    ("Sure! Here is the answer: church bells", 1, ["church bells"]),
    ("Based on the summary, the concept is: rain", 1, ["rain"]),
    ("The best concept is \"dog barking\".", 1, ["dog barking"]),
    ("The candidate concept that best matches the unit summary is the sitar.", 1, ["sitar"]),
    ("The one candidate concept that fits best is \"salsa\" as it is a musical instrument.", 1, ["salsa"]),
    ("Dog barking (the unit responds to dogs)", 1, ["Dog barking"]),
    ("\u201cviolin\u201d", 1, ["violin"]),
    ("Answer: 1) dog 2) cat", 2, ["dog", "cat"]),
    ("dog.\n\nExplanation: the clips bark", 3, ["dog"]),
    ("The 5 candidate concepts that match the unit summary best are:\n- piano\n- organ\n- banjo", 5,
     ["piano", "organ", "banjo"]),
    ("1. piano\n2) organ\n3: flute", 3, ["piano", "organ", "flute"]),
    ("dog -- it barks", 1, ["dog"]),
    ("The concept that best matches the unit summary is \"Songwriter's Toolbox\" by John K. Kobre.", 1,
     ["Songwriter's Toolbox"]),
    ("A-major chord", 1, ["A-major chord"]),
])
def test_parse_concepts(answer, k, expected):
    assert parse_concepts(answer, k) == expected
