"""A deterministic, model-free stand-in for an LLM.

It answers the three prompts of :mod:`audiodissect.summarize.prompts` by reading
their inputs back out of the prompt text:

- a summary prompt: it counts, over the listed descriptions, the words and
  two-word phrases each description contains (after dropping function words),
  the known sound adjectives, and the quality phrases (a sound adjective
  before one of :data:`~audiodissect.descriptors.QUALITY_NOUNS`: "steady
  onsets", "a loose rhythm"), and writes one sentence naming the sources
  (words and phrases) and one naming the qualities that at least half of the
  descriptions share, the most shared first, e.g. "Most of the clips feature
  trumpet and brass instrument. Loud, bright and high-pitched, with steady
  onsets and a sharp attack.";
- a contrastive summary prompt: the same terms, ranked by the share of top
  descriptions that have them minus the share of bottom descriptions that do
  (:func:`contrast_summary`): "Unlike the other clips, most of these feature
  trumpet. Bright and high-pitched.";
- a concept-choice prompt: it ranks the candidate concepts by the share of
  their words (crudely stemmed) found in the summary, ties broken by list
  order, and answers the best `k`, one per line, or "none" when no concept
  shares a word with the summary;
- an adjective check: "yes" for words in a built-in list of sound
  descriptors (:data:`~audiodissect.summarize.words.SOUND_ADJECTIVES`) or ending
  like "-pitched"/"-sounding", else "no".

The quality sentence is made of the qualities alone, at most 3 words and 2
phrases, because calibration compares it with the bottom clips' summary by
sentence embedding. With all-MiniLM-L6-v2, a shared frame dominates such
short sentences: "Loud, low-pitched sounds." and "Quiet, high-pitched
sounds." have cosine 0.95, "Loud and low-pitched." and "Moderate and dull."
0.33; and longer lists of the same few dozen quality words grow alike
whatever their values. On the 385 units of a demo-cnn run (tags and
descriptors captions, threshold 0.75), the former wording "The sounds in
these clips are all ..." kept the quality sentence of 39 units (10 %); this
one keeps it for 205 (53 %): for 85 % of the 125 units whose top and bottom
quality sentences share under a fifth of their items, and for none of the
17 that share 60 % or more.

Any other prompt raises :class:`~audiodissect.errors.AudioDissectError`.
Generation parameters are accepted and ignored: the answers never vary.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import AudioDissectError
from ..sentences import MAX_SHORT_WORDS, is_short
from ..llm.base import check_params
from .prompts import (read_adjective_check_prompt, read_concept_choice_prompt, read_contrastive_summary_prompt,
                      read_summary_prompt)
from .words import QUALITY_NOUNS, STOP_WORDS, is_sound_adjective, singular, stem, words

#: The answer to a summary prompt whose descriptions share nothing.
NOTHING_SHARED = "These clips share no clear common feature."


def _join(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_BREAKS = re.compile(r"[,.;:!?()\[\]\"/]+")


@functools.lru_cache(maxsize=1 << 16)
def _terms(description: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Source terms, quality words and quality phrases of one description.

    A source phrase is two neighbouring content words with no punctuation,
    function word or quality word between them. A quality word directly before
    a quality noun ("loose rhythm") makes a quality phrase instead of a
    quality word: "soft" in "a soft attack" says nothing of the loudness.

    Parsed once per process: a clip's description is read by the prompts of
    every unit whose top or bottom clips hold it.
    """
    sources: list[str] = []
    qualities: list[str] = []
    phrases: list[str] = []
    for segment in _BREAKS.split(description):
        run: list[str] = []
        tokens = words(segment) + [""]  # "" closes the last run
        for word, following in zip(tokens, tokens[1:] + [""]):
            if word and is_sound_adjective(word):
                if following in QUALITY_NOUNS:
                    phrases.append(f"{word} {following}")
                else:
                    qualities.append(word)
            elif word and word not in STOP_WORDS and not word.isdigit() and len(word) > 1:
                run.append(singular(word))
                continue
            sources.extend(run)
            sources.extend(f"{a} {b}" for a, b in zip(run, run[1:]))
            run = []
    return tuple(sources), tuple(qualities), tuple(phrases)


#: The openings of this backend's summary sentences: they say nothing of the clips.
CONTRAST_FRAME = "Unlike the other clips, most of these feature"
FRAMES = (CONTRAST_FRAME, "All of the clips feature", "Most of the clips feature", "These clips sound",
          "These clips have", "Most of these clips sound", "Most of these clips have")


def description_terms(text: str) -> set[str]:
    """Every source term, quality word and quality phrase of `text` (see :func:`_terms`).

    Words of the summary frames (:data:`FRAMES`: "unlike" in "Unlike the other
    clips, ...") are not terms.
    """
    sources, qualities, phrases = _terms(text)
    return (set(sources) | set(qualities) | set(phrases)) - _frame_terms()


@functools.lru_cache(maxsize=1)
def _frame_terms() -> frozenset[str]:
    """The terms the frames' own words would give (parsed once)."""
    sources, qualities, phrases = _terms(". ".join(FRAMES))
    return frozenset(sources) | frozenset(qualities) | frozenset(phrases)


def _shared(per_description: Sequence[Sequence[str]], *, threshold: int, limit: int) -> tuple[list[str], int]:
    """Terms found in at least `threshold` descriptions, most common first; and their least count."""
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    for terms in per_description:
        for term in dict.fromkeys(terms):
            counts[term] += 1
            first_seen.setdefault(term, len(first_seen))
    frequent = [t for t in counts if counts[t] >= threshold]
    # a single word inside an equally frequent phrase adds nothing
    phrases = [t for t in frequent if " " in t]
    frequent = [t for t in frequent
                if " " in t or not any(t in p.split() and counts[p] >= counts[t] for p in phrases)]
    frequent.sort(key=lambda t: (-counts[t], first_seen[t]))
    chosen = frequent[:limit]
    return chosen, min((counts[t] for t in chosen), default=0)


def _with_article(phrase: str) -> str:
    """ "steady onsets" as it is, "loose rhythm" -> "a loose rhythm", "irregular rhythm" -> "an irregular rhythm"."""
    if phrase.endswith("s"):
        return phrase
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def quality_sentence(qualities: Sequence[str], phrases: Sequence[str]) -> str:
    """One sentence made of the qualities themselves: "Loud, tonal and sustained, with steady onsets and a sharp attack.".

    Parameters
    ----------
    qualities : sequence of str
        Sound adjectives, said first.
    phrases : sequence of str
        Quality phrases ("steady onsets", "sharp attack"), said after "with".

    Returns
    -------
    str
        "" when both lists are empty. A sentence that calibration would drop
        as too short (:data:`~audiodissect.sentences.MAX_SHORT_WORDS`
        words or fewer) starts with "These clips sound", or "Most of these
        clips sound" when that is still too short ("Most of these clips sound
        bright."); phrases alone with "These clips have" (or "Most of these
        clips have"). So no quality is lost to the length rule.
    """
    if not qualities and not phrases:
        return ""
    said = _join([_with_article(p) for p in phrases]) if phrases else ""
    if not qualities:
        return _long_enough("These clips have", "Most of these clips have", said)
    text = _join(qualities) + (f", with {said}" if said else "")
    if is_short(text, max_words=MAX_SHORT_WORDS):
        return _long_enough("These clips sound", "Most of these clips sound", text)
    return text[0].upper() + text[1:] + "."


def _long_enough(frame: str, longer: str, text: str) -> str:
    """``"<frame> <text>."``, or with the `longer` frame when calibration would drop the first as too short."""
    sentence = f"{frame} {text}."
    return sentence if not is_short(sentence, max_words=MAX_SHORT_WORDS) else f"{longer} {text}."


def summarise(descriptions: Sequence[str], *, max_sources: int = 4, max_qualities: int = 3,
              max_phrases: int = 2) -> str:
    """What most of `descriptions` share, in one or two sentences (see the module docstring).

    Parameters
    ----------
    descriptions : sequence of str
    max_sources, max_qualities, max_phrases : int
        The most source terms, quality words and quality phrases said, the most shared first.

    Returns
    -------
    str
        :data:`NOTHING_SHARED` when at least half of the descriptions share nothing.
    """
    descriptions = [d for d in descriptions if d.strip()]
    if not descriptions:
        return NOTHING_SHARED
    n = len(descriptions)
    threshold = 1 if n == 1 else max(2, math.ceil(n / 2))
    parsed = [_terms(d) for d in descriptions]
    sources, least_sources = _shared([p[0] for p in parsed], threshold=threshold, limit=max_sources)
    qualities, _ = _shared([p[1] for p in parsed], threshold=threshold, limit=max_qualities)
    phrases, _ = _shared([p[2] for p in parsed], threshold=threshold, limit=max_phrases)
    sentences = []
    if sources:
        quantity = "All" if least_sources == n else "Most"
        sentences.append(f"{quantity} of the clips feature {_join(sources)}.")
    quality = quality_sentence(qualities, phrases)
    if quality:
        sentences.append(quality)
    return " ".join(sentences) if sentences else NOTHING_SHARED


def _shares(per_description: Sequence[Sequence[str]]) -> dict[str, float]:
    """Share of the descriptions that contain each term."""
    counts: Counter[str] = Counter(t for terms in per_description for t in dict.fromkeys(terms))
    n = max(len(per_description), 1)
    return {t: c / n for t, c in counts.items()}


def _contrast(top: Sequence[Sequence[str]], bottom: Sequence[Sequence[str]], *, min_gap: float, limit: int,
              base: Mapping[str, float]) -> list[str]:
    """Terms whose share in `top` exceeds their share in `bottom` by `min_gap` or more, most distinctive first.

    Distinctive: the share in `top` minus the larger of the share in `bottom`
    and the term's base rate, so that of the terms that set the top clips
    apart, those rare in the whole probing set are said first. A single word
    is left out when a phrase containing it is chosen with at least its gap.
    """
    high, low = _shares(top), _shares(bottom)
    order = {t: i for i, t in enumerate(high)}
    gaps = {t: high[t] - low.get(t, 0.0) for t in high}
    beyond_base = {t: high[t] - max(low.get(t, 0.0), base.get(t, 0.0)) for t in high}
    chosen = [t for t in high if gaps[t] >= min_gap and high[t] >= 0.5]
    phrases = [t for t in chosen if " " in t]
    chosen = [t for t in chosen if " " in t or not any(t in p.split() and gaps[p] >= gaps[t] for p in phrases)]
    chosen.sort(key=lambda t: (-beyond_base[t], -gaps[t], -high[t], order[t]))
    return chosen[:limit]


def contrast_summary(top: Sequence[str], bottom: Sequence[str], common: Mapping[str, float] | None = None, *,
                     min_gap: float = 0.4, max_sources: int = 4, max_qualities: int = 3, max_phrases: int = 2) -> str:
    """What most `top` descriptions share and the `bottom` ones lack, in one or two sentences.

    A source term, quality word or quality phrase is said when at least half
    of the top descriptions have it and its share there exceeds its share
    among the bottom descriptions by at least `min_gap`, e.g. "Unlike the
    other clips, most of these feature trumpet and brass instrument. Bright
    and high-pitched, with rapid onsets." The terms said are ordered (and,
    past the limits, chosen) by their top share minus the larger of their
    bottom share and their base rate in `common`: the base rate orders, it
    does not filter.

    Parameters
    ----------
    top, bottom : sequence of str
        Descriptions of the most and least activating clips.
    common : mapping of str to float, optional
        Base rates: the share of the whole probing set's descriptions that
        have each term (:func:`common_terms`); terms left out count as 0.
    min_gap : float
        Least difference of shares (0..1).
    max_sources, max_qualities, max_phrases : int

    Returns
    -------
    str
        :data:`NOTHING_SHARED` when no term sets the top clips apart.
    """
    top = [d for d in top if d.strip()]
    bottom = [d for d in bottom if d.strip()]
    if not top:
        return NOTHING_SHARED
    parsed_top = [_terms(d) for d in top]
    parsed_bottom = [_terms(d) for d in bottom]
    base = dict(common or {})
    picked = [_contrast([p[i] for p in parsed_top], [p[i] for p in parsed_bottom], min_gap=min_gap, limit=limit,
                        base=base)
              for i, limit in enumerate((max_sources, max_qualities, max_phrases))]
    sentences = []
    if picked[0]:
        sentences.append(f"{CONTRAST_FRAME} {_join(picked[0])}.")
    quality = quality_sentence(picked[1], picked[2])
    if quality:
        sentences.append(quality)
    return " ".join(sentences) if sentences else NOTHING_SHARED


def common_terms(descriptions: Sequence[str], *, min_share: float = 0.2, limit: int = 12) -> dict[str, float]:
    """The probing set's base rate: terms that at least `min_share` of `descriptions` have, with their share.

    Parameters
    ----------
    descriptions : sequence of str
        Every probe clip's description.
    min_share : float
        Least share (0..1) of descriptions a term must be in.
    limit : int
        Most terms returned, the most common first (ties in alphabetical order).

    Returns
    -------
    dict of str to float
        Term (source, quality word or quality phrase, as :func:`description_terms`
        reads them) to the share of descriptions that have it, rounded to 2 decimals.
    """
    per_description = [sorted(description_terms(d)) for d in descriptions if d.strip()]
    shares = _shares(per_description)
    frequent = sorted((t for t in shares if shares[t] >= min_share), key=lambda t: (-shares[t], t))
    return {t: round(shares[t], 2) for t in frequent[:limit]}


@functools.lru_cache(maxsize=4096)
def _concept_stems(concept: str) -> tuple[str, ...]:
    """The stems of a concept's words without stop words (all of them if every word is one): a run asks
    about the same few dozen concepts in every prompt."""
    return tuple(stem(w) for w in words(concept) if w not in STOP_WORDS) or tuple(stem(w) for w in words(concept))


def choose_concepts(summary: str, concepts: Sequence[str], k: int) -> list[str]:
    """The `k` concepts sharing the largest share of their (stemmed) words with `summary`.

    Concepts sharing no word are left out; ties keep the list order.
    """
    summary_stems = {stem(w) for w in words(summary)}
    scored = []
    for index, concept in enumerate(concepts):
        concept_stems = _concept_stems(concept)
        if not concept_stems:
            continue
        share = sum(s in summary_stems for s in concept_stems) / len(concept_stems)
        if share > 0:
            scored.append((-share, index, concept))
    scored.sort()
    return [concept for _, _, concept in scored[:k]]


class ExtractiveLLM:
    """The model-free backend: deterministic answers to the project's own prompts.

    See the module docstring for what it answers and how. Use it offline, in
    tests, or as a baseline for the real LLMs.
    """

    #: The backend's name in answer caches; the version changes whenever the
    #: wording of its answers does, so cached answers of an older wording are not reused.
    name = "extractive-v3"

    def complete(self, prompts: Sequence[str], **params: Any) -> list[str]:
        """One answer per prompt; raises AudioDissectError on a prompt it does not know."""
        check_params(params)
        return [self._answer(prompt) for prompt in prompts]

    @staticmethod
    def _answer(prompt: str) -> str:
        descriptions = read_summary_prompt(prompt)
        if descriptions is not None:
            return summarise(descriptions)
        contrast = read_contrastive_summary_prompt(prompt)
        if contrast is not None:
            return contrast_summary(*contrast)
        choice = read_concept_choice_prompt(prompt)
        if choice is not None:
            summary, concepts, k = choice
            return "\n".join(choose_concepts(summary, concepts, k)) or "none"
        word = read_adjective_check_prompt(prompt)
        if word is not None:
            return "yes" if is_sound_adjective(word) else "no"
        raise AudioDissectError(
            f"the extractive backend cannot answer this prompt: {prompt[:80]!r}",
            hint="it only answers summary_prompt, contrastive_summary_prompt, concept_choice_prompt and "
                 "adjective_check_prompt "
                 "of audiodissect.summarize.prompts; use a real LLM (llamacpp, http:, transformers:) for others")

    def __repr__(self) -> str:
        return "ExtractiveLLM()"
