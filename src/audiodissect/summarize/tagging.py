"""Texts tagged into words by spaCy, each text tagged once per machine.

:func:`tag_texts` gives each text's :class:`Word` list: the text split and
tagged by a spaCy pipeline (Penn tag, universal tag, lemma, sentence),
punctuation and spaces left out.

Hyphenated compounds. spaCy's English tokenizer splits "high-pitched" into
"high", "-", "pitched"; they are joined back here into one word before
tagging is read. A compound is an adjective (JJ) when its last part is
adjective-like (JJ, JJR, JJS, VBN, VBG), or when it stands before a noun or
adjective, commas and "and"/"or" skipped ("high-quality, low-frequency
hum"); otherwise it keeps its last part's tag ("walkie-talkies" stays a
noun, lemma "walkie-talkie").

The words of every text tagged by an installed pipeline are kept in the user
cache (:class:`TagStore`, ``$AUDIODISSECT_CACHE/text-tags.sqlite``;
``AUDIODISSECT_TEXT_TAGS=0`` turns it off), keyed by the pipeline's name, its
package's files, spaCy's version and :data:`TAGGED_WORDS_VERSION`: a text
summarised again (a second run over the same model and clips, a new
threshold, another layer set that shares units' summaries) is not tagged
again, and spaCy is not loaded when every text is stored.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..cache import gc_paused, hash_key
from ..text_store import TextStore, folder_fingerprint, versions

#: Penn tags of nouns.
NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
#: Version of the words :func:`tagged_words` makes from the same spaCy tags, part of
#: the store's key: raised whenever they change (the joining of compounds), so
#: words stored by older code are tagged again.
TAGGED_WORDS_VERSION = 1
#: Environment variable: ``0`` tags every text again in each process (no :class:`TagStore`).
TAGS_ENV = "AUDIODISSECT_TEXT_TAGS"
#: The store's file under the user cache.
TAGS_FILE = "text-tags.sqlite"

_HYPHENS = frozenset({"-", "\u2010", "\u2011"})
_ADJ_LIKE = frozenset({"JJ", "JJR", "JJS", "VBN", "VBG"})
_COORDINATION = frozenset({",", "and", "or"})


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


class TagStore(TextStore):
    """Each text's tagged words kept on disk, keyed by (pipeline, text) (see the module docstring); its one
    parameter, `path`, is :class:`~audiodissect.text_store.TextStore`'s."""

    file = TAGS_FILE
    env = TAGS_ENV
    table = "tags"
    column = "words"

    def get(self, pipeline: str, texts: Sequence[str]) -> dict[str, list[Word]]:
        """The stored words of those `texts` that have them, ``{text: [Word, ...]}`` (an entry that does not
        read as words is left out: its text is tagged again)."""
        found = {}
        with gc_paused():
            for text, value in self.get_values(pipeline, texts).items():
                try:
                    words = [Word(*row) for row in json.loads(value)]
                except (TypeError, ValueError):
                    continue
                if all(isinstance(w.sentence, int) and all(isinstance(f, str) for f in (w.text, w.lemma, w.tag, w.pos))
                       for w in words):
                    found[text] = words
        return found

    def put(self, pipeline: str, words: Mapping[str, Sequence[Word]]) -> None:
        """Store each text's `words` for `pipeline`, in one commit."""
        rows = {text: [[w.text, w.lemma, w.tag, w.pos, w.sentence] for w in ws] for text, ws in words.items()}
        self.put_values(pipeline, {text: json.dumps(r, ensure_ascii=False) for text, r in rows.items()})


def pipeline_key(name: str) -> str | None:
    """The :class:`TagStore` key of the spaCy pipeline `name` (an installed package or a folder).

    It names the pipeline, the files of its package (their sizes and times),
    the versions of spaCy and the package, the components :func:`load_nlp`
    leaves out, and :data:`TAGGED_WORDS_VERSION`. None when `name` is neither
    an importable package nor a folder (the store is then not used).
    """
    from .nlp import DISABLED

    folder = Path(name)
    if not folder.is_dir():
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if spec is None or spec.origin is None:
            return None
        folder = Path(spec.origin).parent
    files = folder_fingerprint(folder.resolve())
    return f"{name}|{hash_key(TAGGED_WORDS_VERSION, versions('spacy', name), DISABLED, files)}"


def tag_texts(texts: Sequence[str], *, nlp=None, spacy_model: str | None = None,
              store: TagStore | None = TagStore(), batch_size: int = 256) -> dict[str, list[Word]]:
    """The words of each distinct text, tagged by spaCy or read from the store.

    Parameters
    ----------
    texts : sequence of str
        Repeated texts are tagged once.
    nlp : spaCy Language, optional
        A pipeline to tag with; the store is then not used (a pipeline built
        in memory cannot be named).
    spacy_model : str, optional
        The pipeline to load (:func:`~audiodissect.summarize.nlp.load_nlp`)
        when `nlp` is not given; default the best installed English one. It
        is loaded only when some text is not in the store.
    store : TagStore or None
        Where tagged words are read and kept (None: neither).
    batch_size : int
        Texts per ``nlp.pipe`` batch (the tags do not depend on it; 256
        tagged YAMNet's 8,076 summaries about 5 % faster than 64).

    Returns
    -------
    dict of str to list of Word
        The distinct texts, in order of first appearance.
    """
    from .nlp import available_spacy_model, load_nlp

    unique = list(dict.fromkeys(str(t) for t in texts))
    key = None
    if nlp is None and store is not None and store.enabled():
        key = pipeline_key(spacy_model or available_spacy_model())
    stored = store.get(key, unique) if key is not None else {}
    missing = [t for t in unique if t not in stored]
    if missing:
        nlp = nlp if nlp is not None else load_nlp(spacy_model)
        new = {text: tagged_words(doc) for text, doc in zip(missing, nlp.pipe(missing, batch_size=batch_size))}
        if key is not None:
            store.put(key, new)
        stored.update(new)
    return {text: stored[text] for text in unique}
