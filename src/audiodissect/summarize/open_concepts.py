"""Module C: open-set concepts read from a (calibrated) summary.

For each text, spaCy's part-of-speech tags and lemmas give:

- **adjectives**: words tagged JJ, JJR, JJS or VBN (the method's tags),
  lower-cased (JJ/JJR/JJS by lemma, so "louder" -> "loud"; VBN as written,
  so "high-pitched" and "muffled" stay); skipped when a negation
  (:data:`NEGATIONS`) is among the 4 words before it in its sentence, or when
  the word is a filler (:data:`FILLER_ADJECTIVES`);
- **nouns**: lemmas of NN, NNS, NNP, NNPS, lower-cased, without the nouns
  that talk about the task or say only "sound" (:data:`META_NOUNS`:
  "clip", "recording", "sound", ...) and without
  :data:`~audiodissect.descriptors.QUALITY_NOUNS`;
- **verbs**: lemmas of verbs (VB, VBD, VBG, VBP, VBZ; not auxiliaries);
- **prepositions**: words tagged IN that spaCy calls prepositions (ADP);
- **length**: the number of words (hyphenated compounds count once).

Each list holds distinct items in order of first appearance.

Quality phrases. An adjective directly before one of
:data:`~audiodissect.descriptors.QUALITY_NOUNS`
(the nouns of the acoustic descriptors' phrases: "onsets", "rhythm",
"attack") is kept with its noun, "steady onsets", "loose rhythm", "soft
attack": alone, "loose" or "soft" would say something else (a loose thing, a
soft sound).

Words are read by :func:`~audiodissect.summarize.tagging.tag_texts` (spaCy, hyphenated
compounds joined back into one word, each text's words kept in the user cache's
:class:`~audiodissect.summarize.tagging.TagStore`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from ..descriptors import QUALITY_NOUNS
from ..sentences import words as _words
from .tagging import NOUN_TAGS, TagStore, Word, tag_texts

#: Tags of adjectives (VBN: past participles used as adjectives, "muffled").
ADJECTIVE_TAGS = frozenset({"JJ", "JJR", "JJS", "VBN"})
#: Tags of verbs other than VBN (which counts as an adjective).
VERB_TAGS = frozenset({"VB", "VBD", "VBG", "VBP", "VBZ"})
#: Words that negate an adjective within the window before it. The method
#: names "no" and "not"; "n't" is how spaCy splits "isn't", and "never",
#: "without" and "nor" negate in the same way.
NEGATIONS = ("no", "not", "n't", "never", "without", "nor")
#: Words checked for a negation before an adjective.
NEGATION_WINDOW = 4

#: Adjectives that say nothing about a sound: the method's "various",
#: "different", "audio", "recorded", quantity and comparison words, and
#: participles that describe the recording or the description itself.
FILLER_ADJECTIVES = (
    "various", "different", "audio", "recorded", "other", "such", "same", "similar", "several",
    "many", "much", "more", "most", "less", "least", "few", "certain", "overall", "common",
    "specific", "particular", "general", "possible", "likely", "present", "main", "whole",
    "entire", "individual", "single", "multiple", "distinct", "unique", "own", "able", "given",
    "provided", "described", "featured", "heard", "captured", "included", "based", "mentioned",
    "listed", "associated", "related", "shared", "characterized", "characterised", "accompanied",
    "used", "made", "known", "found", "played", "produced", "sound", "sounding", "clear-cut",
)
#: Nouns that name the task rather than a sound.
META_NOUNS = (
    "clip", "audio", "recording", "sound", "description", "summary", "feature", "commonality",
    "example", "sample", "file", "track",
)


@dataclasses.dataclass(frozen=True)
class OpenConceptSettings:
    """Settings of open-set concept extraction (see the module docstring)."""

    negations: tuple[str, ...] = NEGATIONS
    negation_window: int = NEGATION_WINDOW
    filler_adjectives: tuple[str, ...] = FILLER_ADJECTIVES
    meta_nouns: tuple[str, ...] = META_NOUNS


def _distinct(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def open_concepts_from_words(words: Sequence[Word], *, text: str = "",
                             settings: OpenConceptSettings = OpenConceptSettings()) -> dict:
    """Adjectives, nouns, verbs, prepositions and length from tagged words.

    Returns
    -------
    dict
        ``adjectives``, ``nouns``, ``verbs``, ``prepositions`` (lists of str)
        and ``length`` (int, the words of `text`, or of `words` when `text`
        is empty).
    """
    negations = {n.lower() for n in settings.negations}
    filler = {f.lower() for f in settings.filler_adjectives}
    meta = {m.lower() for m in settings.meta_nouns}
    adjectives, nouns, verbs, preps = [], [], [], []
    for i, w in enumerate(words):
        if w.tag in ADJECTIVE_TAGS:
            form = w.lemma if w.tag in ("JJ", "JJR", "JJS") and "-" not in w.text else w.lower
            window = words[max(0, i - settings.negation_window):i]
            negated = any(v.lower in negations and v.sentence == w.sentence for v in window)
            following = words[i + 1] if i + 1 < len(words) else None
            if not negated and form not in filler and w.lower not in filler:
                if following is not None and following.sentence == w.sentence and following.lower in QUALITY_NOUNS:
                    form = f"{form} {following.lower}"
                adjectives.append(form)
        elif w.tag in NOUN_TAGS:
            if w.lemma not in meta and w.lower not in QUALITY_NOUNS and w.lemma not in QUALITY_NOUNS:
                nouns.append(w.lemma)
        elif w.tag in VERB_TAGS and w.pos == "VERB":
            verbs.append(w.lemma)
        elif w.tag == "IN" and w.pos == "ADP":
            preps.append(w.lower)
    length = len(_words(text)) if text else len(words)
    return {"adjectives": _distinct(adjectives), "nouns": _distinct(nouns), "verbs": _distinct(verbs),
            "prepositions": _distinct(preps), "length": length}


def extract_open_concepts(texts: Sequence[str], *, nlp=None,
                          settings: OpenConceptSettings = OpenConceptSettings(),
                          batch_size: int = 256, spacy_model: str | None = None,
                          store: TagStore | None = TagStore()) -> list[dict]:
    """Open-set concepts of each text (see :func:`open_concepts_from_words`).

    Parameters
    ----------
    texts : sequence of str, length M
        Calibrated summaries; repeated texts are tagged once.
    nlp : spaCy Language, optional
        The pipeline that tags them (then `store` is not used); default
        `spacy_model`, loaded only for texts the store does not have.
    settings : OpenConceptSettings
    batch_size : int
        Texts per ``nlp.pipe`` batch (the tags do not depend on it).
    spacy_model : str, optional
        Default the best installed English pipeline.
    store : TagStore or None
        Each text's tagged words, kept across runs (see :func:`~audiodissect.summarize.tagging.tag_texts`).

    Returns
    -------
    list of dict, length M
    """
    words = tag_texts(texts, nlp=nlp, spacy_model=spacy_model, store=store, batch_size=batch_size)
    results = {text: open_concepts_from_words(w, text=text, settings=settings) for text, w in words.items()}
    out, seen = [], set()
    for t in map(str, texts):  # a repeated text gets fresh lists, so that records can be edited apart
        result = results[t]
        out.append({key: list(v) if isinstance(v, list) else v for key, v in result.items()} if t in seen else result)
        seen.add(t)
    return out
