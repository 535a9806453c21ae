"""Module B: summary calibration.

A unit's summary of its top clips (S_high) describes what those clips share,
but part of that is shared by all clips (they are all recordings, often
outdoors, often noisy). Calibration removes it: both summaries are split into
sentences, sentences without content are dropped (:mod:`.sentences`), and
every S_high sentence whose sentence-embedding cosine with some S_low
sentence exceeds a threshold is deleted. What remains is what the unit
responds to and its least-activating clips lack.

On the threshold. The method's reference code uses 0.5 and the paper's
figure 0.9. With the packaged all-MiniLM-L6-v2 embedder, 16 hand-made
sentence pairs about clip summaries gave: paraphrases of one property
0.51-0.79, sentences about different sounds built on the same template
("The clips feature ...") 0.35-0.71. At 0.5, 5 of the 8 different-content
sentences would have been deleted; at 0.9 none of the 8 paraphrases. The
default, 0.75, deletes about half of the paraphrases and none of the
different-content sentences; set 0.5 or 0.9 to follow either source.

Content calibration (``mode="content"``)
----------------------------------------
Sentence cosine cannot see that "Low-pitched, dull and tonal" and
"Mid-pitched, tonal and warm" differ in the one word that matters. The
content rule compares what the sentences *say*: the sound sources (content
words and two-word phrases), quality words and quality phrases of each
sentence (:func:`~audiodissect.summarize.extractive.description_terms`). From each
S_high sentence it strikes the terms S_low also names and keeps the rest; a
sentence left without a term of its own is deleted (reason ``"shared"``).
"Low-pitched, dull and tonal." against "Mid-pitched, tonal and warm."
becomes "Low-pitched and dull.".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

from ..errors import AudioDissectError
from ..sentences import BOILERPLATE_PHRASES, MAX_SHORT_WORDS, boilerplate_phrase, is_short, split_sentences

#: Default cosine above which an S_high sentence counts as also said of the bottom clips.
DEFAULT_THRESHOLD = 0.75
#: Calibration rules: whole sentences by cosine, or the terms S_low also names.
MODES = ("sentence", "content")
_SEPARATOR = r"(?:\s*,\s*(?:and\s+)?|\s+(?:and|or)\s+)"


@dataclasses.dataclass(frozen=True)
class CalibrationSettings:
    """Settings of summary calibration.

    Parameters
    ----------
    threshold : float
        An S_high sentence is deleted when its cosine with some kept S_low
        sentence is greater than this (in [-1, 1]; see the module docstring).
    max_short_words : int
        Sentences with this many words or fewer are dropped.
    boilerplate : tuple of str
        Phrases that mark a sentence as boiler-plate.
    mode : {"sentence", "content"}
        Delete whole sentences by cosine (the paper's rule) or strike the terms
        S_low also names (see the module docstring); `threshold` is for "sentence".
    """

    threshold: float = DEFAULT_THRESHOLD
    max_short_words: int = MAX_SHORT_WORDS
    boilerplate: tuple[str, ...] = BOILERPLATE_PHRASES
    mode: str = "sentence"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AudioDissectError(f"unknown calibration mode {self.mode!r}", hint=f"one of {', '.join(MODES)}")
        if not -1.0 <= float(self.threshold) <= 1.0:
            raise AudioDissectError(f"calibration threshold must lie in [-1, 1], got {self.threshold}")
        if self.max_short_words < 0:
            raise AudioDissectError(f"max_short_words must be >= 0, got {self.max_short_words}")


def _removed(sentence: str, reason: str, detail: str, *, low_sentence: str | None = None,
             cosine: float | None = None) -> dict:
    return {"sentence": sentence, "reason": reason, "detail": detail,
            "low_sentence": low_sentence, "cosine": cosine}


def content_sentences(text: str, settings: CalibrationSettings = CalibrationSettings()) -> tuple[list[str], list[dict]]:
    """Split `text` and drop short and boiler-plate sentences.

    Returns
    -------
    kept : list of str
        The remaining sentences, in order.
    removed : list of dict
        One record per dropped sentence: ``sentence``, ``reason`` (``"repeat"``
        for a sentence said before in `text`, ``"short"`` or ``"boilerplate"``), ``detail`` (readable), ``low_sentence`` and
        ``cosine`` (both None here).
    """
    kept, removed = [], []
    seen: set[str] = set()
    for sentence in split_sentences(text):
        if sentence.lower() in seen:
            removed.append(_removed(sentence, "repeat", "said before in the same summary"))
            continue
        seen.add(sentence.lower())
        if is_short(sentence, max_words=settings.max_short_words):
            removed.append(_removed(sentence, "short", f"{settings.max_short_words} words or fewer"))
            continue
        phrase = boilerplate_phrase(sentence, settings.boilerplate)
        if phrase is not None:
            removed.append(_removed(sentence, "boilerplate", f"contains {phrase!r}"))
            continue
        kept.append(sentence)
    return kept, removed


#: How far float32 embeddings' rounding moves a cosine: differences this small are not "above" a threshold.
COSINE_ROUNDING = 1e-5


def calibrate_sentences(high: Sequence[str], low: Sequence[str], high_embeddings: np.ndarray,
                        low_embeddings: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD
                        ) -> tuple[list[str], list[dict]]:
    """Delete the `high` sentences too similar to some `low` sentence.

    Parameters
    ----------
    high, low : sequence of str, lengths H and L
        Content sentences of S_high and S_low.
    high_embeddings : ndarray, shape (H, d)
    low_embeddings : ndarray, shape (L, d)
        Unit-norm sentence embeddings.
    threshold : float
        Cosine above which a high sentence is deleted; a cosine within
        :data:`COSINE_ROUNDING` of it counts as equal (not above), so that
        identical sentences, whose unit-norm embeddings give 1 give or take a
        float rounding, are kept by ``threshold=1.0`` on every machine.

    Returns
    -------
    kept : list of str
    removed : list of dict
        ``reason`` ``"similar"``, the most similar ``low_sentence`` and the
        ``cosine`` (rounded to 4 decimals in ``detail`` only).
    """
    if len(high) != len(high_embeddings) or len(low) != len(low_embeddings):
        raise AudioDissectError("calibrate_sentences: one embedding per sentence is needed")
    if not high:
        return [], []
    if not low:
        return list(high), []
    sims = np.asarray(high_embeddings, dtype=np.float64) @ np.asarray(low_embeddings, dtype=np.float64).T  # (H, L)
    best = sims.argmax(axis=1)
    best_cos = sims[np.arange(len(high)), best]
    kept, removed = [], []
    for sentence, j, cos in zip(high, best, best_cos):
        if cos > threshold + COSINE_ROUNDING:
            removed.append(_removed(sentence, "similar", f"similar to {low[j]!r} (cos {cos:.2f})",
                                    low_sentence=low[j], cosine=round(float(cos), 4)))
        else:
            kept.append(sentence)
    return kept, removed


def _term_pattern(term: str) -> re.Pattern:
    """A term's words in order, each also in a plural form, as whole words, with an article before them."""
    parts = [re.escape(w) + r"(?:s|es)?" for w in term.split()]
    return re.compile(r"(?<![\w-])(?:(?:a|an|the)\s+)?" + r"\s+".join(parts) + r"(?![\w-])", re.IGNORECASE)


def strike_terms(sentence: str, terms: Sequence[str]) -> str:
    """`sentence` without `terms` (longest first) and the list separators next to them.

    "Loud, low-pitched, dull and tonal." without "loud" and "tonal" ->
    "Low-pitched, dull." -> "Low-pitched and dull."; "Dull, with steady
    onsets." without "steady onsets" -> "Dull."; "Low-pitched, dull and tonal,
    with steady onsets." without "tonal" -> "Low-pitched and dull, with steady onsets.".
    """
    text = sentence
    for term in sorted(terms, key=len, reverse=True):
        text = _term_pattern(term).sub("\0", text)
    text = re.sub(_SEPARATOR + r"\0", "", text)
    text = re.sub(r"\0" + _SEPARATOR, "", text)
    text = text.replace("\0", "")
    text = re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()
    # a list that lost its last "and" (words after the first item): "a, b." -> "a and b.",
    # "a, b, c, with d." -> "a, b and c, with d."
    head, sep, rest = text.partition(", with ")
    end = "" if sep or not head.endswith(".") else "."
    items = (head[:-1] if end else head).split(", ")
    if (sep or end) and len(items) >= 2 and " and " not in head and all(" " not in i.strip() for i in items[1:]):
        text = ", ".join(items[:-1]) + " and " + items[-1] + end + sep + rest
    # a connective left with nothing after it: "Low-pitched and dull, with." -> "Low-pitched and dull."
    text = re.sub(r"^[,;:\s]+|[,;:]?\s+(?:and|or|with)\s*(?=[.!?]$)", "", text).strip()
    return text[:1].upper() + text[1:] if text else text


def calibrate_content(high: Sequence[str], low: Sequence[str]) -> tuple[list[str], list[dict]]:
    """Strike from each `high` sentence the sources and qualities that `low` also names.

    Parameters
    ----------
    high, low : sequence of str
        Content sentences of S_high and S_low.

    Returns
    -------
    kept : list of str
        The high sentences with the shared terms struck; a sentence with no term
        of its own is left out.
    removed : list of dict
        ``reason`` ``"shared"`` (a whole sentence) or ``"struck"`` (some terms),
        ``detail`` naming the terms.
    """
    from .extractive import description_terms

    low_terms = set().union(*(description_terms(s) for s in low)) if low else set()
    kept, removed = [], []
    for sentence in high:
        terms = description_terms(sentence)
        own = terms - low_terms
        shared = terms & low_terms
        if not own:
            if terms:
                removed.append(_removed(sentence, "shared", "the bottom clips' summary names "
                                        + ", ".join(sorted(terms))))
                continue
            kept.append(sentence)
            continue
        # shared phrases go whole; a shared word only when no term of the sentence's own contains it
        own_words = {w for t in own for w in t.split()}
        strike = [t for t in shared if " " in t or t not in own_words]
        text = strike_terms(sentence, strike) if strike else sentence
        if strike:
            removed.append(_removed(sentence, "struck", "also in the bottom clips' summary: "
                                    + ", ".join(sorted(strike))))
        kept.append(text)
    return kept, removed


def calibrate_summaries(high_summaries: Sequence[str], low_summaries: Sequence[str], *, embedder,
                        settings: CalibrationSettings = CalibrationSettings()) -> list[dict]:
    """Calibrate many (S_high, S_low) pairs, embedding all their sentences in one call.

    Parameters
    ----------
    high_summaries, low_summaries : sequence of str, length M
        The summaries of each unit's top and bottom clips.
    embedder : object with ``encode(texts) -> (n, d)`` unit-norm rows
    settings : CalibrationSettings

    Returns
    -------
    list of dict, length M
        ``summary`` (the kept S_high sentences joined by spaces; "" when none
        is left), ``kept`` (list of str) and ``removed`` (records with
        ``sentence``, ``reason`` in ``"repeat"``, ``"short"``,
        ``"boilerplate"``, ``"similar"``, ``detail``, ``low_sentence``, ``cosine``), in S_high
        order within each reason group.
    """
    if len(high_summaries) != len(low_summaries):
        raise AudioDissectError(f"{len(high_summaries)} high summaries but {len(low_summaries)} low ones")
    content = {text: content_sentences(text, settings)
               for text in dict.fromkeys([*high_summaries, *low_summaries])}  # units share summaries
    highs = [content[text] for text in high_summaries]
    lows = [content[text] for text in low_summaries]
    if settings.mode == "content":
        out = []
        for (high, high_removed), (low, _) in zip(highs, lows):
            kept, struck = calibrate_content(high, low)
            out.append({"summary": " ".join(kept), "kept": kept, "removed": high_removed + struck})
        return out
    unique = list(dict.fromkeys(s for part in (highs, lows) for kept, _ in part for s in kept))
    vectors = embedder.encode(unique) if unique else np.zeros((0, 1), dtype=np.float32)
    row = {s: i for i, s in enumerate(unique)}
    out = []
    for (high, high_removed), (low, _) in zip(highs, lows):
        kept, similar = calibrate_sentences(high, low, vectors[[row[s] for s in high]],
                                            vectors[[row[s] for s in low]], threshold=settings.threshold)
        out.append({"summary": " ".join(kept), "kept": kept, "removed": high_removed + similar})
    return out


def calibrate_summary(high: str, low: str, *, embedder,
                      settings: CalibrationSettings = CalibrationSettings()) -> dict:
    """Calibrate one pair of summaries; see :func:`calibrate_summaries`."""
    return calibrate_summaries([high], [low], embedder=embedder, settings=settings)[0]
