"""Prompt building and answer parsing for the LLM steps (pure functions).

Three prompts:

- :func:`summary_prompt` asks what a set of clip descriptions has in common
  (Module B: the summaries of a unit's top and bottom clips);
- :func:`concept_choice_prompt` asks which concepts of a list best describe a
  unit, given its summary (Module A, in-context learning), zero-shot or after
  worked examples (:mod:`audiodissect.summarize.icl_examples`);
- :func:`adjective_check_prompt` asks whether a word can describe a sound
  (Module C: filtering open-set adjectives).

The prompts put their inputs after fixed marker lines so that the extractive
backend (:mod:`audiodissect.summarize.extractive`) can read them back.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

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

#: The question ending :func:`concept_choice_prompt` for one concept.
_CHOICE_ONE = "Which candidate concept matches the unit summary best? Reply with the concept only."
#: The question for `k` concepts (``{k}`` filled in).
_CHOICE_MANY = ("Which {k} candidate concepts match the unit summary best? "
                "Reply with the {k} concepts only, one per line, best first.")
#: The first line of a :func:`concept_choice_prompt` with worked examples.
_CHOICE_FEW_SHOT_LEAD = ("Pick the candidate concepts that match a unit summary best. "
                         "Worked examples come first, then the unit to answer for.")
#: The prefix of each worked example's summary line.
EXAMPLE_SUMMARY_PREFIX = "Example summary:"
#: The prefix of each worked example's answer.
ANSWER_PREFIX = "Answer:"
_CHOICE_QUESTION_RE = re.compile(r"^Which (?:(\d+) )?candidate concepts? match(?:es)? the unit summary best\?")

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
    return summary_prompt_of_bullets(bullets(descriptions))


def bullets(descriptions: Sequence[str]) -> list[str]:
    """Each description as the prompts list it: ``"- <description>"`` on one line (whitespace collapsed).

    A run's prompts list the same few hundred descriptions tens of thousands of times: make their
    lines once and build the prompts from them (:func:`summary_prompt_of_bullets`,
    :func:`contrastive_prompt_of_bullets`).
    """
    return [BULLET + _one_line(d) for d in descriptions]


def summary_prompt_of_bullets(lines: Sequence[str]) -> str:
    """:func:`summary_prompt` from its descriptions' :func:`bullets`."""
    return "\n".join([_SUMMARY_INSTRUCTIONS, "", DESCRIPTIONS_MARKER, *lines])


def concept_choice_prompt(summary: str, concepts: Sequence[str], k: int = 1, *, shots: int = 0) -> str:
    """The prompt asking for the `k` concepts that best describe a unit with this summary.

    Zero-shot (the default), the prompt holds nothing but the unit's
    summary, the candidate list and the question: no worked example, whose
    concept a small model repeats as its answer (SmolLM2-135M-Instruct
    answered "The answer is: cat", the example's distractor, for every unit
    of a run).

    With ``shots`` > 0 (the paper's ICL uses 2) it opens with a line saying
    so, lists the candidates, then shows each worked example of
    :func:`~audiodissect.summarize.icl_examples.worked_examples` (built from the
    concept list) as ``"Example summary: <text>"`` and its answer
    (``"Answer: <concept>"`` for k = 1; ``"Answer:"`` and then one concept
    per line for k > 1), and ends with the unit's summary line and the
    question. Each part is separated by an empty line.

    Parameters
    ----------
    summary : str
        The unit's summary; newlines become spaces.
    concepts : sequence of str
        The closed concept set, listed one per line.
    k : int
        How many concepts to name.
    shots : int
        Worked examples before the unit, ``0..MAX_SHOTS`` (at most the number of concepts).

    Returns
    -------
    str
        Zero-shot: ``"Unit summary: <summary>"``, the line
        :data:`CONCEPTS_MARKER`, one line ``"- <concept>"`` per concept, an
        empty line and the question.
    """
    if k < 1:
        raise AudioDissectError(f"k must be at least 1, got {k}")
    if not concepts:
        raise AudioDissectError("concept_choice_prompt needs at least one concept")
    question = _CHOICE_ONE if k == 1 else _CHOICE_MANY.format(k=k)
    listed = [CONCEPTS_MARKER] + [BULLET + _one_line(c) for c in concepts]
    unit = f"{UNIT_SUMMARY_PREFIX} {_one_line(summary)}"
    if shots == 0:
        return "\n".join([unit, *listed, "", question])
    from .icl_examples import worked_examples

    lines = [_CHOICE_FEW_SHOT_LEAD, "", *listed]
    for text, answer in worked_examples([_one_line(c) for c in concepts], k=k, shots=shots):
        said = f"{ANSWER_PREFIX} {answer[0]}" if k == 1 else "\n".join([ANSWER_PREFIX, *answer])
        lines += ["", f"{EXAMPLE_SUMMARY_PREFIX} {text}", said]
    return "\n".join([*lines, "", unit, question])


def adjective_check_prompt(word: str) -> str:
    """The yes/no question: can `word` describe the tone, emotion or acoustic features of a sound?"""
    return _ADJECTIVE_QUESTION.format(word=_one_line(word))


#: The line after which :func:`contrastive_summary_prompt` lists the top clips' descriptions.
TOP_MARKER = "Descriptions of the most activating clips:"
#: The line after which :func:`contrastive_summary_prompt` lists the bottom clips' descriptions.
BOTTOM_MARKER = "Descriptions of the least activating clips:"
#: The line after which :func:`contrastive_summary_prompt` lists the terms common in the whole probing set.
COMMON_MARKER = "Common in the whole probing set (share of all clips):"

_CONTRAST_INSTRUCTIONS = (
    "Below are descriptions of two sets of audio clips, one per line: the clips that activate a unit most "
    "and the clips that activate it least. In two or three short sentences, say what most of the most "
    "activating clips have in common that the least activating clips lack: the sound sources, and the tone, "
    "pitch, loudness, brightness, noisiness and rhythm that set them apart. "
    "Do not mention what both sets share, and do not mention individual clips."
)


_BASE_RATE_INSTRUCTIONS = (
    "The sources and qualities common in the whole probing set are listed last, with their shares: of the "
    "differences, name first those that are rare in the probing set."
)


def contrastive_summary_prompt(top: Sequence[str], bottom: Sequence[str],
                               common: Mapping[str, float] | None = None) -> str:
    """The prompt asking what the top clips share and the bottom clips lack.

    Parameters
    ----------
    top, bottom : sequence of str
        Descriptions of a unit's most and least activating clips (newlines
        inside a description become spaces).
    common : mapping of str to float, optional
        The probing set's base rate: terms common in all its descriptions and
        the share of descriptions that have each (0..1), e.g. ``{"music": 0.62}``.

    Returns
    -------
    str
        Instructions, :data:`TOP_MARKER` and one ``"- <description>"`` line per
        top clip, a blank line, then :data:`BOTTOM_MARKER` and the bottom clips;
        with `common`, a blank line, :data:`COMMON_MARKER` and one
        ``"- <term>: <percent> %"`` line per term.
    """
    if isinstance(top, str) or isinstance(bottom, str):
        raise AudioDissectError("contrastive_summary_prompt takes two lists of descriptions, not strings")
    return contrastive_prompt_of_bullets(bullets(top), bullets(bottom), common)


def contrastive_prompt_of_bullets(top: Sequence[str], bottom: Sequence[str],
                                  common: Mapping[str, float] | None = None) -> str:
    """:func:`contrastive_summary_prompt` from the top and bottom descriptions' :func:`bullets`."""
    lines = [_CONTRAST_INSTRUCTIONS + (" " + _BASE_RATE_INSTRUCTIONS if common else ""), "", TOP_MARKER, *top,
             "", BOTTOM_MARKER, *bottom]
    if common:
        lines += ["", _common_block(tuple(common.items()))]
    return "\n".join(lines)


@functools.lru_cache(maxsize=8)
def _common_block(common: tuple[tuple[str, float], ...]) -> str:
    """:data:`COMMON_MARKER` and one ``"- <term>: <percent> %"`` line per term (the same for every unit of a run)."""
    return "\n".join([COMMON_MARKER] + [f"{BULLET}{_one_line(term)}: {round(100 * share)} %" for term, share in common])


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


def read_contrastive_summary_prompt(prompt: str) -> tuple[list[str], list[str], dict[str, float]] | None:
    """``(top, bottom, common)`` of a :func:`contrastive_summary_prompt`, or None if `prompt` is not one.

    ``common`` maps each base-rate term to its share (0..1); empty when the prompt lists none.
    """
    lines = prompt.split("\n")
    if not prompt.startswith(_CONTRAST_INSTRUCTIONS) or TOP_MARKER not in lines or BOTTOM_MARKER not in lines:
        return None
    common: dict[str, float] = {}
    if COMMON_MARKER in lines:
        for item in _bulleted_after(lines, len(lines) - lines[::-1].index(COMMON_MARKER)):
            term, _, percent = item.rpartition(": ")
            common[term] = float(percent.removesuffix(" %")) / 100
    return (_bulleted_after(lines, lines.index(TOP_MARKER) + 1),
            _bulleted_after(lines, len(lines) - lines[::-1].index(BOTTOM_MARKER)), common)


def read_concept_choice_prompt(prompt: str) -> tuple[str, list[str], int] | None:
    """``(summary, concepts, k)`` of a :func:`concept_choice_prompt`, or None if `prompt` is not one.

    With worked examples, the summary is the unit's (the last ``"Unit summary:"`` line), not an example's.
    """
    lines = prompt.split("\n")
    question = _CHOICE_QUESTION_RE.match(lines[-1])
    units = [i for i, line in enumerate(lines) if line.startswith(UNIT_SUMMARY_PREFIX + " ")]
    if question is None or not units or CONCEPTS_MARKER not in lines:
        return None
    summary = lines[units[-1]][len(UNIT_SUMMARY_PREFIX) + 1:]
    concepts = _bulleted_after(lines, lines.index(CONCEPTS_MARKER) + 1)
    return summary, concepts, int(question.group(1) or 1)


def read_adjective_check_prompt(prompt: str) -> str | None:
    """The word asked about in an :func:`adjective_check_prompt`, or None if `prompt` is not one."""
    match = _ADJECTIVE_RE.match(prompt)
    return match.group("word") if match else None


# ----- parsing answers -----

_YES = {"yes", "y", "true", "yeah", "yep", "correct"}
_NO = {"no", "n", "false", "nope"}
_NONE_ANSWERS = {"none", "no concept", "none of them", "none of the above", "n/a", "unknown"}
_ITEM_PREFIX = re.compile(r"^\s*(?:[-*\u2022]+|\(?\d+[.):]|[a-z][.)])\s+|^\s*(?:[-*\u2022]+|\(?\d+[.):])",
                          re.IGNORECASE)
_LABEL_PREFIX = re.compile(r"^(?:final\s+)?(?:answer|concepts?|choice|label)s?\s*[:=-]\s*", re.IGNORECASE)
#: Inline numbering inside one line: "1) dog 2) cat".
_INLINE_NUMBER = re.compile(r"\s+\(?\d+[.)]\s+")
#: Words whose presence before a colon marks the colon's left side as a lead-in ("The answer is:").
_LEAD_WORDS = re.compile(r"\b(?:answers?|concepts?|choices?|labels?|class(?:es)?|categor(?:y|ies)|matche?s?|"
                         r"fits?|here|is|are|would be)\b", re.IGNORECASE)
#: A sentence naming the answer: "The (best|one candidate) concept (that fits best) is X".
_LEAD_SENTENCE = re.compile(r"^(?:the|my|so|therefore|thus|i think|i would say)\b.*?\b(?:answer|concepts?|choice|"
                            r"label|class|category|match)\b.*?\b(?:is|are|would be)\s+", re.IGNORECASE)
_COURTESY = re.compile(r"^(?:sure|okay|ok|certainly|of course)\b[!.,]*\s*", re.IGNORECASE)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
#: Where an explanation starts after the name: "salsa as it is ...", "dog (because ...)".
_TRAILER = re.compile(r"\s+(?:as|because|since|which|due to)\s+.*$|\s*[(\[].*$|\s+-{1,2}\s+.*$",
                      re.IGNORECASE)
#: A name in double quotes at the start of an item, with more text after it.
_QUOTED_HEAD = re.compile(r'^["\u201c]([^"\u201c\u201d]+)["\u201d]\s*\S')
#: Lines that start an explanation: nothing after them is an answer.
_EXPLANATION_LINE = re.compile(r"^(?:explanation|reason(?:ing)?|because|note|this is because)\b", re.IGNORECASE)


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


def _strip_lead_in(line: str) -> tuple[str, bool]:
    """Remove a courtesy word and a lead-in ("The answer is:", "The best concept is the") from a line.

    Returns the rest and whether a lead-in was found (then a leading article goes too).
    """
    line = _COURTESY.sub("", line.replace("**", "").replace("__", "")).strip()
    head, colon, tail = line.partition(":")
    if colon and tail.strip() and _LEAD_WORDS.search(head):
        return tail.strip(), True
    if colon and not tail.strip() and _LEAD_WORDS.search(head):
        return "", True  # "The 5 concepts are:" with the items on the next lines
    match = _LEAD_SENTENCE.match(line)
    if match:
        return line[match.end():], True
    return line, False


def _clean_item(item: str, lead: bool) -> str:
    """One name: no numbering, label, quotes, final punctuation, explanation or (after a lead-in) article."""
    item = _LABEL_PREFIX.sub("", _ITEM_PREFIX.sub("", item.strip()))
    quoted = _QUOTED_HEAD.match(item)
    if quoted:  # '"Songwriter's Toolbox" by John K.': the quoted name is the answer
        item = quoted.group(1)
    for _ in range(2):  # quotes around a full stop, or a full stop after quotes
        item = item.strip().strip("\"'`*\u201c\u201d\u2018\u2019").strip().rstrip(".!?:").strip()
    item = _TRAILER.sub("", item).strip().strip("\"'`\u201c\u201d").rstrip(".!?").strip()
    return _ARTICLE.sub("", item) if lead else item


def says_none(answer: str | None) -> bool:
    """Whether `answer` declines to name a concept: "none", "None of the above.", "N/A"."""
    text = _LABEL_PREFIX.sub("", (answer or "").strip())
    return text.strip(" .!*\"'").lower() in _NONE_ANSWERS


def parse_concepts(answer: str | None, k: int) -> list[str]:
    """Read up to `k` concept names from an answer; [] when there are none.

    Items are split on new lines, commas, semicolons and inline numbering
    ("1) dog 2) cat"). Removed: courtesy words ("Sure!"), a lead-in ending in
    a colon whose left side speaks of the answer ("The answer is:",
    "Based on the summary, the concept is:", "Concept:"), a lead-in sentence
    ("The best concept is the ..."; then an article too), list bullets and
    numbering, markdown emphasis, quotes, final punctuation and a trailing
    explanation ("... as it is", "(because ...)", or any text after a quoted
    name). Reading stops at a line
    that starts an explanation ("Explanation: ..."). Repeats and "none"-like
    items are dropped. The names are not checked against the concept list:
    map them to the nearest concept by meaning afterwards.
    """
    if not answer or k < 1:
        return []
    items: list[str] = []
    for raw in answer.replace(";", "\n").split("\n"):
        line = _ITEM_PREFIX.sub("", raw.strip().replace("**", ""))
        if _EXPLANATION_LINE.match(line):
            break
        line, lead = _strip_lead_in(_LABEL_PREFIX.sub("", line))
        for part in (p for chunk in _INLINE_NUMBER.split(" " + line) for p in chunk.split(",")):
            item = _clean_item(part, lead)
            if not item or item.lower() in _NONE_ANSWERS:
                continue
            if item.lower() not in (i.lower() for i in items):
                items.append(item)
    return items[:k]
