"""Prompt building and answer parsing for the LLM steps (pure functions).

Three prompts:

- :func:`summary_prompt` asks what a set of clip descriptions has in common
  (Module B: the summaries of a unit's top and bottom clips);
- :func:`concept_choice_prompt` asks which concepts of a list best describe a
  unit, given its summary (Module A, in-context learning);
- :func:`adjective_check_prompt` asks whether a word can describe a sound
  (Module C: filtering open-set adjectives).

The prompts put their inputs after fixed marker lines so that the extractive
backend (:mod:`audiodissect.llm.extractive`) can read them back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import AudioDissectError

#: The line after which :func:`summary_prompt` lists the descriptions, one per line.
DESCRIPTIONS_MARKER = "Clip descriptions:"
#: The prefix of the summary line of :func:`concept_choice_prompt`.
UNIT_SUMMARY_PREFIX = "Unit summary:"
#: The line after which :func:`concept_choice_prompt` lists the candidate concepts.
CONCEPTS_MARKER = "Candidate concepts:"
#: The bullet in front of each listed item.
BULLET = "- "

_SUMMARY_INSTRUCTIONS = (
    "Below are descriptions of several audio clips, one per line. "
    "In two or three sentences, summarise what most of these clips have in common: "
    "the sound sources, and the tone, emotion and acoustic qualities of the sounds. "
    "Describe only shared features, not what sets a single clip apart, "
    "and do not mention individual clips."
)

_CHOICE_INSTRUCTIONS = (
    "A hidden unit of an audio neural network responds most strongly to audio clips "
    "that share the features summarised below. Choose from the candidate concepts "
    "the ones that describe what the unit responds to."
)

_CHOICE_EXAMPLE = (
    "Example: for a unit summarised as \"The clips feature barking and growling dogs, "
    "loud and aggressive.\" with candidate concepts cat, dog, rain, the answer is:\ndog"
)

_ADJECTIVE_QUESTION = (
    "Can the word \"{word}\" describe the tone, emotion or acoustic features of a sound? "
    "Answer yes or no."
)


def _one_line(text: str) -> str:
    """Collapse all whitespace (newlines included) to single spaces."""
    return " ".join(str(text).split())


def summary_prompt(descriptions: Sequence[str]) -> str:
    """The prompt asking what the clip descriptions have in common.

    Parameters
    ----------
    descriptions : sequence of str
        One description per clip (newlines inside a description become spaces).

    Returns
    -------
    str
        Instructions, the line :data:`DESCRIPTIONS_MARKER`, then one line
        ``"- <description>"`` per clip.
    """
    if isinstance(descriptions, str):
        raise AudioDissectError("summary_prompt takes a list of descriptions, not one string")
    lines = [_SUMMARY_INSTRUCTIONS, "", DESCRIPTIONS_MARKER]
    lines += [BULLET + _one_line(d) for d in descriptions]
    return "\n".join(lines)


def concept_choice_prompt(summary: str, concepts: Sequence[str], k: int = 1) -> str:
    """The prompt asking for the `k` concepts that best describe a unit with this summary.

    Parameters
    ----------
    summary : str
        The unit's (calibrated) summary; newlines become spaces.
    concepts : sequence of str
        The closed concept set, listed one per line.
    k : int
        How many concepts to name.
    """
    if k < 1:
        raise AudioDissectError(f"k must be at least 1, got {k}")
    if not concepts:
        raise AudioDissectError("concept_choice_prompt needs at least one concept")
    if k == 1:
        ask = ("Answer with the one candidate concept that fits best, written exactly as in the "
               "list, and nothing else.")
    else:
        ask = (f"Answer with the {k} candidate concepts that fit best, best first, one per line, "
               "each written exactly as in the list, and nothing else.")
    lines = [_CHOICE_INSTRUCTIONS, _CHOICE_EXAMPLE, "",
             f"{UNIT_SUMMARY_PREFIX} {_one_line(summary)}", CONCEPTS_MARKER]
    lines += [BULLET + _one_line(c) for c in concepts]
    lines += ["", ask]
    return "\n".join(lines)


def adjective_check_prompt(word: str) -> str:
    """The yes/no question: can `word` describe the tone, emotion or acoustic features of a sound?"""
    return _ADJECTIVE_QUESTION.format(word=_one_line(word))


# ----- reading prompts back (used by the extractive backend) -----

_ADJECTIVE_RE = re.compile(
    "^" + re.escape(_ADJECTIVE_QUESTION).replace(re.escape("{word}"), "(?P<word>.*)") + "$")


def _bulleted_after(lines: list[str], start: int) -> list[str]:
    items = []
    for line in lines[start:]:
        if not line.startswith(BULLET):
            break
        items.append(line[len(BULLET):])
    return items


def read_summary_prompt(prompt: str) -> list[str] | None:
    """The descriptions listed in a :func:`summary_prompt`, or None if `prompt` is not one."""
    lines = prompt.split("\n")
    if DESCRIPTIONS_MARKER not in lines or not prompt.startswith(_SUMMARY_INSTRUCTIONS):
        return None
    return _bulleted_after(lines, len(lines) - lines[::-1].index(DESCRIPTIONS_MARKER))


def read_concept_choice_prompt(prompt: str) -> tuple[str, list[str], int] | None:
    """``(summary, concepts, k)`` of a :func:`concept_choice_prompt`, or None if `prompt` is not one."""
    if not prompt.startswith(_CHOICE_INSTRUCTIONS):
        return None
    lines = prompt.split("\n")
    summaries = [i for i, line in enumerate(lines) if line.startswith(UNIT_SUMMARY_PREFIX + " ")]
    if not summaries or CONCEPTS_MARKER not in lines:
        return None
    summary = lines[summaries[-1]][len(UNIT_SUMMARY_PREFIX) + 1:]
    concepts = _bulleted_after(lines, lines.index(CONCEPTS_MARKER) + 1)
    match = re.search(r"Answer with the (\d+) candidate concepts", lines[-1])
    k = int(match.group(1)) if match else 1
    return summary, concepts, k


def read_adjective_check_prompt(prompt: str) -> str | None:
    """The word asked about in an :func:`adjective_check_prompt`, or None if `prompt` is not one."""
    match = _ADJECTIVE_RE.match(prompt)
    return match.group("word") if match else None


# ----- parsing answers -----

_YES = {"yes", "y", "true", "yeah", "yep", "correct"}
_NO = {"no", "n", "false", "nope"}
_NONE_ANSWERS = {"none", "no concept", "none of them", "none of the above", "n/a", "unknown"}
_ITEM_PREFIX = re.compile(r"^\s*(?:[-*\u2022]+|\(?\d+[.):]|[a-z][.)])\s*", re.IGNORECASE)
_LABEL_PREFIX = re.compile(r"^(?:final\s+)?(?:answer|concepts?|choice|label)s?\s*[:=-]\s*", re.IGNORECASE)


def parse_yes_no(answer: str | None) -> bool | None:
    """Read a yes/no answer: True, False, or None when it says neither (or both).

    After removing echoes of the question ("yes or no"), the first word
    decides when it is yes or no; otherwise the answer counts when exactly
    one of the words "yes" and "no" occurs in it.
    """
    if not answer:
        return None
    text = re.sub(r"\b(?:yes or no|no or yes)\b", " ", answer.lower())  # an echo of the question
    words = re.findall(r"[a-z]+", text)
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    has_yes, has_no = "yes" in words, "no" in words
    if has_yes != has_no:
        return has_yes
    return None


def parse_concepts(answer: str | None, k: int) -> list[str]:
    """Read up to `k` concept names from an answer; [] when there are none.

    Items are split on new lines, commas and semicolons; list bullets and
    numbering, an ``"Answer:"`` label, quotes and a final full stop are
    removed; repeats and "none"-like items are dropped. The names are not
    checked against the concept list: map them to the nearest concept by
    meaning afterwards.
    """
    if not answer or k < 1:
        return []
    items: list[str] = []
    for line in answer.replace(";", "\n").split("\n"):
        line = _LABEL_PREFIX.sub("", line.strip())
        for part in line.split(","):
            item = _LABEL_PREFIX.sub("", _ITEM_PREFIX.sub("", part.strip()))
            for _ in range(2):  # quotes around a full stop, or a full stop after quotes
                item = item.strip().strip("\"'`*").strip().rstrip(".!").strip()
            if not item or item.lower() in _NONE_ANSWERS:
                continue
            if item.lower() not in (i.lower() for i in items):
                items.append(item)
    return items[:k]
