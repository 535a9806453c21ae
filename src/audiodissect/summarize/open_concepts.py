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

Hyphenated compounds. spaCy's English tokenizer splits "high-pitched" into
"high", "-", "pitched"; they are joined back here into one word before
tagging is read. A compound is an adjective (JJ) when its last part is
adjective-like (JJ, JJR, JJS, VBN, VBG), or when it stands before a noun or
adjective, commas and "and"/"or" skipped ("high-quality, low-frequency
hum"); otherwise it keeps its last
part's tag ("walkie-talkies" stays a noun, lemma "walkie-talkie").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from ..descriptors import QUALITY_NOUNS
from ..sentences import words as _words

#: Tags of adjectives (VBN: past participles used as adjectives, "muffled").
ADJECTIVE_TAGS = frozenset({"JJ", "JJR", "JJS", "VBN"})
#: Tags of nouns.
NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
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

_HYPHENS = frozenset({"-", "\u2010", "\u2011"})
_ADJ_LIKE = frozenset({"JJ", "JJR", "JJS", "VBN", "VBG"})
_COORDINATION = frozenset({",", "and", "or"})


@dataclasses.dataclass(frozen=True)
class OpenConceptSettings:
    """Settings of open-set concept extraction (see the module docstring)."""

    negations: tuple[str, ...] = NEGATIONS
    negation_window: int = NEGATION_WINDOW
    filler_adjectives: tuple[str, ...] = FILLER_ADJECTIVES
    meta_nouns: tuple[str, ...] = META_NOUNS


@dataclasses.dataclass(frozen=True)
class Word:
    """One word of a tagged text, hyphenated compounds joined.

    ``text`` as written, ``lemma`` lower-cased, ``tag`` the Penn tag, ``pos``
    the universal tag, ``sentence`` the index of its sentence.
    """

    text: str
    lemma: str
    tag: str
    pos: str
    sentence: int

    @property
    def lower(self) -> str:
        return self.text.lower()


def tagged_words(doc) -> list[Word]:
    """The words of a spaCy ``Doc``, punctuation and spaces left out, hyphen compounds joined."""
    tokens = list(doc)
    sent_of = _sentence_index(doc)
    out: list[Word] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        j = i
        # Extend over "-" joints with no white space on either side.
        while (j + 2 < len(tokens) and _wordlike(tokens[j]) and tokens[j].whitespace_ == ""
               and tokens[j + 1].text in _HYPHENS and tokens[j + 1].whitespace_ == ""
               and _wordlike(tokens[j + 2])):
            j += 2
        if j > i:
            parts = tokens[i:j + 1:2]
            out.append(_compound(parts, tokens[j + 1:], sent_of[i]))
        elif not (tok.is_punct or tok.is_space):
            out.append(Word(tok.text, tok.lemma_.lower(), tok.tag_, tok.pos_, sent_of[i]))
        i = j + 1
    return out


def _wordlike(token) -> bool:
    return token.is_alpha or token.is_digit


def _sentence_index(doc) -> list[int]:
    index = [0] * len(doc)
    if doc.has_annotation("SENT_START"):
        for s, sent in enumerate(doc.sents):
            for t in range(sent.start, sent.end):
                index[t] = s
    return index


def _compound(parts, after, sentence: int) -> Word:
    text = "-".join(p.text for p in parts)
    last = parts[-1]
    following = next((t for t in after if not (t.is_space or t.lower_ in _COORDINATION)), None)
    before_nominal = following is not None and (following.tag_ in NOUN_TAGS or following.tag_ in ("JJ", "JJR", "JJS"))
    if last.tag_ in _ADJ_LIKE or before_nominal:
        return Word(text, text.lower(), "JJ", "ADJ", sentence)
    lemma = "-".join([p.text.lower() for p in parts[:-1]] + [last.lemma_.lower()])
    return Word(text, lemma, last.tag_, last.pos_, sentence)


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
                          batch_size: int = 256) -> list[dict]:
    """Open-set concepts of each text (see :func:`open_concepts_from_words`).

    Parameters
    ----------
    texts : sequence of str, length M
        Calibrated summaries; repeated texts are tagged once.
    nlp : spaCy Language, optional
        Default :func:`~audiodissect.summarize.nlp.load_nlp`.
    settings : OpenConceptSettings
    batch_size : int
        Texts per ``nlp.pipe`` batch (the tags do not depend on it; 256 parsed YAMNet's 8,076 summaries about 5 %
        faster than 64).

    Returns
    -------
    list of dict, length M
    """
    if nlp is None:
        from .nlp import load_nlp

        nlp = load_nlp()
    unique = list(dict.fromkeys(str(t) for t in texts))
    results = {}
    for text, doc in zip(unique, nlp.pipe(unique, batch_size=batch_size)):
        results[text] = open_concepts_from_words(tagged_words(doc), text=text, settings=settings)
    # fresh lists per text, so that records of repeated texts can be edited apart
    return [{key: list(v) if isinstance(v, list) else v for key, v in results[str(t)].items()} for t in texts]
