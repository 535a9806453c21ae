"""Sentence splitting and the sentence filters of summary calibration (Module B).

LLM summaries come as prose, bulleted or numbered lists, or a mix with a
chatty opening line. :func:`split_sentences` cuts them into sentences with
fixed rules (no model), so that the result is reproducible and testable:

- every line break ends a sentence; a leading list bullet or number
  (``-``, ``*``, ``1.``, ``2)``) is removed;
- inside a line, a sentence ends at ``.``, ``!`` or ``?`` (optionally
  followed by a closing quote or bracket) when white space and an upper-case
  letter, a digit or an opening quote follow, so ``e.g. dogs`` does not end one.

Two filters drop sentences that carry no description of the sound:
:func:`is_short` (5 words or fewer, as in the method) and
:func:`boilerplate_phrase` (the documented :data:`BOILERPLATE_PHRASES`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

#: Phrases that mark a sentence as talk about the task rather than about the
#: sound (matched case-insensitively, as whole words, anywhere in the sentence).
#: The method names "sure", "here are" and "based on"; the others are the
#: usual chat-model openings and closings of the same kind.
BOILERPLATE_PHRASES: tuple[str, ...] = (
    "sure",
    "certainly",
    "of course",
    "here are",
    "here is",
    "here's",
    "based on",
    "in summary",
    "to summarize",
    "to summarise",
    "in conclusion",
    "i hope",
    "hope this helps",
    "let me know",
    "happy to help",
    "as an ai",
    "i'm sorry",
    "i am sorry",
    "i cannot",
    "i can't",
    "descriptions provided",
    "provided descriptions",
    "the given descriptions",
)

#: Sentences with at most this many words are dropped.
MAX_SHORT_WORDS = 5

_BULLET = re.compile(r"^\s*(?:[-*\u2022]+|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)](?=\s))\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d)\]]?\s+(?=[\"'\u201c(\[]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019-][A-Za-z0-9]+)*")


def split_sentences(text: str) -> list[str]:
    """Cut `text` into sentences (rules in the module docstring); empty pieces are dropped.

    Examples
    --------
    >>> split_sentences("Sure! Here are they:\\n1. Dogs bark, e.g. loudly. Cats meow.")
    ['Sure!', 'Here are they:', 'Dogs bark, e.g. loudly.', 'Cats meow.']
    """
    sentences: list[str] = []
    for line in str(text).splitlines():
        line = _BULLET.sub("", line).strip()
        if not line:
            continue
        for piece in _split_line(line):
            piece = " ".join(piece.split())
            if piece:
                sentences.append(piece)
    return sentences


def _split_line(line: str) -> list[str]:
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(line):
        end = match.start() + len(match.group(0).rstrip())
        pieces.append(line[start:end])
        start = match.end()
    pieces.append(line[start:])
    return pieces


def words(sentence: str) -> list[str]:
    """The words of `sentence`: runs of letters and digits, hyphen and apostrophe compounds kept whole."""
    return _WORD.findall(sentence)


def is_short(sentence: str, *, max_words: int = MAX_SHORT_WORDS) -> bool:
    """True when `sentence` has `max_words` words or fewer."""
    return len(words(sentence)) <= max_words


def boilerplate_phrase(sentence: str, phrases: Sequence[str] = BOILERPLATE_PHRASES) -> str | None:
    """The first phrase of `phrases` found in `sentence` (whole words, any case), or None.

    Looked up once per distinct (sentence, phrases) in a process: the same sentences recur in the
    summaries of many units.
    """
    return _boilerplate_phrase(str(sentence), tuple(phrases))


@functools.lru_cache(maxsize=1 << 16)
def _boilerplate_phrase(sentence: str, phrases: tuple[str, ...]) -> str | None:
    lowered = " ".join(sentence.lower().replace("\u2019", "'").split())
    for phrase in phrases:
        if re.search(r"(?<![\w'])" + re.escape(phrase.lower()) + r"(?![\w'])", lowered):
            return phrase
    return None
