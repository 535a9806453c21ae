"""Texts tagged into words: each text tagged once per machine, through the user cache's tag store."""

from __future__ import annotations

import pytest

from audiodissect.summarize import extract_open_concepts
from audiodissect.summarize import nlp as nlp_module
from audiodissect.summarize import tagging
from audiodissect.summarize.tagging import TAGS_ENV, TagStore, Word, pipeline_key, tag_texts, tagged_words

TEXTS = ["A high-pitched whistle, then loud dogs bark.", "Rain on a tin roof; no wind.",
         "Ein Café: ruhige Musik \u2014 \u00e9t\u00e9 \U0001f3b5.", "A high-pitched whistle, then loud dogs bark."]


@pytest.fixture(scope="module")
def nlp():
    return nlp_module.load_nlp()


def no_pipeline(*args, **kwargs):
    raise AssertionError("spaCy was loaded although every text is stored")


def test_stored_words_are_the_words_spacy_gives(tmp_path, nlp, monkeypatch):
    store = TagStore(tmp_path / "tags.sqlite")
    direct = {text: tagged_words(doc) for text, doc in zip(TEXTS, nlp.pipe(TEXTS))}
    first = tag_texts(TEXTS, store=store)
    assert list(first) == TEXTS[:3]  # distinct texts, in order of first appearance
    assert first == {text: direct[text] for text in TEXTS[:3]}
    assert Word("high-pitched", "high-pitched", "JJ", "ADJ", 0) in first[TEXTS[0]]  # the compound, joined
    monkeypatch.setattr(nlp_module, "load_nlp", no_pipeline)
    again = tag_texts(list(reversed(TEXTS)), store=store)  # another process or run: the store answers
    assert again == {text: direct[text] for text in reversed(TEXTS[:3])}
    assert extract_open_concepts(TEXTS, store=store) == extract_open_concepts(TEXTS, nlp=nlp)


def test_only_missing_texts_are_tagged(tmp_path, nlp, monkeypatch):
    store = TagStore(tmp_path / "tags.sqlite")
    tag_texts(TEXTS[:1], store=store)
    asked = []

    class Counting:
        def pipe(self, texts, batch_size):
            asked.extend(texts)
            return nlp.pipe(texts, batch_size=batch_size)

    monkeypatch.setattr(nlp_module, "load_nlp", lambda name=None: Counting())
    words = tag_texts(TEXTS, store=store)
    assert asked == TEXTS[1:3] and len(words) == 3


def test_a_given_pipeline_is_not_stored(tmp_path, nlp):
    store = TagStore(tmp_path / "tags.sqlite")
    tag_texts(TEXTS, nlp=nlp, store=store)  # a pipeline in memory cannot be named
    assert store.get(pipeline_key(nlp_module.available_spacy_model()), TEXTS) == {}


def test_the_store_can_be_turned_off_or_unusable(tmp_path, nlp, monkeypatch):
    monkeypatch.setenv(TAGS_ENV, "0")
    tag_texts(TEXTS, store=TagStore(tmp_path / "tags.sqlite"))
    assert not (tmp_path / "tags.sqlite").exists()
    monkeypatch.delenv(TAGS_ENV)
    (tmp_path / "file").write_text("")
    words = tag_texts(TEXTS, store=TagStore(tmp_path / "file" / "tags.sqlite"))  # a folder that is a file
    assert words[TEXTS[1]] == tagged_words(nlp(TEXTS[1]))


def test_the_key_names_the_pipeline_its_files_and_the_word_rules(tmp_path, monkeypatch):
    name = nlp_module.available_spacy_model()
    key = pipeline_key(name)
    assert key.startswith(f"{name}|") and pipeline_key(name) == key
    assert pipeline_key("no_such_pipeline_package") is None and pipeline_key("../x") is None
    folder = tmp_path / "pipeline"
    folder.mkdir()
    (folder / "weights").write_bytes(b"1")
    local = pipeline_key(str(folder))
    (folder / "weights").write_bytes(b"22")
    assert pipeline_key(str(folder)) != local  # new weights: tagged again
    monkeypatch.setattr(tagging, "TAGGED_WORDS_VERSION", tagging.TAGGED_WORDS_VERSION + 1)
    assert pipeline_key(name) != key  # new joining rules: tagged again


def test_an_entry_that_is_not_words_is_tagged_again(tmp_path, nlp):
    store = TagStore(tmp_path / "tags.sqlite")
    key = pipeline_key(nlp_module.available_spacy_model())
    store.put_values(key, {TEXTS[0]: "not json", TEXTS[1]: '[["rain", "rain", "NN", "NOUN", "first"]]',
                           TEXTS[2]: '{"a": 1}'})
    assert store.get(key, TEXTS) == {}
    words = tag_texts(TEXTS, store=store)
    assert words == {text: tagged_words(nlp(text)) for text in TEXTS[:3]}
    assert store.get(key, TEXTS) == words  # replaced by the words spaCy gives
