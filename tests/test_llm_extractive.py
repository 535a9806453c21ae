"""The extractive backend, the answer cache, and load_llm."""

import sqlite3

import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.llm import CachedLLM
from audiodissect.summarize.extractive import NOTHING_SHARED, ExtractiveLLM, choose_concepts, summarise
from audiodissect.summarize.llms import LLMS, load_llm
from audiodissect.summarize.prompts import (
    adjective_check_prompt,
    concept_choice_prompt,
    parse_concepts,
    parse_yes_no,
    summary_prompt,
)

TRUMPETS = [
    "A loud, bright, high-pitched trumpet playing a melody.",
    "Brass instrument sounds, loud and high-pitched, with a trumpet.",
    "A trumpet and brass instrument, loud and bright.",
    "Quiet dog barking in the distance.",
]


def test_summary_names_what_most_descriptions_share():
    [answer] = ExtractiveLLM().complete([summary_prompt(TRUMPETS)])
    assert answer == ("Most of the clips feature trumpet and brass instrument. "
                      "These clips sound loud, bright and high-pitched.")


def test_summary_all_and_tag_lists():
    tags = "Tags: Trumpet, Brass instrument, Music. Loud, bright, high-pitched sound."
    assert summarise([tags] * 3) == ("All of the clips feature trumpet, brass instrument and music. "
                                     "These clips sound loud, bright and high-pitched.")


def test_summary_of_descriptor_sentences_skips_measurement_nouns():
    descriptions = [
        "Trumpet, brass instrument. A loud, mid-pitched, bright, tonal, sustained sound with steady onsets "
        "and a sharp attack.",
        "Trumpet. A loud, high-pitched, bright, tonal, sustained sound with rapid onsets and a sharp attack.",
        "Dog. A quiet, unpitched, dull, noisy, percussive sound with sparse onsets and a soft attack.",
    ]
    # "sharp attack" is a quality phrase, not the loudness word "sharp"; at most 3 qualities, the most shared first
    assert summarise(descriptions) == ("Most of the clips feature trumpet. Loud, bright and tonal, with a sharp "
                                       "attack.")


LOOSE = ("Sounds of sitar, zither and pizzicato. A loud, low-pitched, bright, tonal, sustained sound with steady "
         "onsets in a loose rhythm and a soft attack.")


def test_descriptor_words_are_qualities_never_sources():
    from audiodissect.descriptors import DESCRIPTOR_WORDS, PHRASE_NOUNS, descriptor_phrases, vocabulary
    from audiodissect.summarize.extractive import _terms

    sources, qualities, phrases = _terms(LOOSE)
    assert sources == ("sitar", "zither", "pizzicato")
    assert qualities == ("loud", "low-pitched", "bright", "tonal", "sustained")
    assert phrases == ("steady onsets", "loose rhythm", "soft attack")
    assert summarise([LOOSE] * 2) == ("All of the clips feature sitar, zither and pizzicato. Loud, low-pitched and "
                                      "bright, with steady onsets and a loose rhythm.")
    # every word the descriptors can say, in every slot of their sentence, reads as a quality
    for aspect, said in DESCRIPTOR_WORDS.items():
        for word in said:
            if aspect in PHRASE_NOUNS:
                text = f"Sounds of banjo. A loud sound with {word} {PHRASE_NOUNS[aspect]}."
                assert _terms(text) == (("banjo",), ("loud",), (f"{word} {PHRASE_NOUNS[aspect]}",)), text
            else:
                text = f"Sounds of banjo. A {word} sound with steady onsets."
                assert _terms(text) == (("banjo",), (word,), ("steady onsets",)), text
    assert {p.split()[0] for p in descriptor_phrases()} <= vocabulary()


def test_quality_sentence_forms():
    from audiodissect.summarize.extractive import quality_sentence

    assert quality_sentence(["loud", "tonal", "sustained"], ["steady onsets", "irregular rhythm"]) == \
        "Loud, tonal and sustained, with steady onsets and an irregular rhythm."
    # 5 words or fewer would be dropped by calibration as too short
    assert quality_sentence(["loud", "tonal"], []) == "These clips sound loud and tonal."
    assert quality_sentence(["loud"], ["sharp attack"]) == "These clips sound loud, with a sharp attack."
    assert quality_sentence([], ["sparse onsets", "loose rhythm"]) == "These clips have sparse onsets and a loose rhythm."
    # a sentence the length rule of calibration would drop gets the longer frame: no quality is lost to it
    assert quality_sentence(["bright"], []) == "Most of these clips sound bright."
    assert quality_sentence([], ["steady onsets"]) == "Most of these clips have steady onsets."
    from audiodissect.sentences import is_short

    assert not any(is_short(quality_sentence(q, p)) for q, p in [(["bright"], []), ([], ["steady onsets"]),
                                                                 (["low-pitched"], []), ([], ["sharp attack"])])
    assert quality_sentence([], []) == ""


def test_summary_with_nothing_shared():
    assert summarise(["A dog barks.", "Rain falls on a tin roof."]) == NOTHING_SHARED
    assert summarise([]) == NOTHING_SHARED
    assert summarise(["  "]) == NOTHING_SHARED


def test_summary_plurals_count_together():
    answer = summarise(["Two dogs bark.", "A dog growls, low and rough.", "Some cats meow softly."])
    assert answer == "Most of the clips feature dog."


def test_concept_choice():
    llm = ExtractiveLLM()
    summary = "Most of the clips feature barking dogs. The sounds are loud."
    answers = llm.complete([concept_choice_prompt(summary, ["cat", "dog", "rain"]),
                            concept_choice_prompt(summary, ["cat", "church bells", "dog", "crying baby"], k=2),
                            concept_choice_prompt(summary, ["rain", "wind"])])
    assert answers == ["dog", "dog", "none"]
    assert parse_concepts(answers[2], 1) == []
    # a full match beats a half match; ties keep list order
    assert choose_concepts("a dog barking", ["dog food", "barking dog", "dog"], 3) == ["barking dog", "dog", "dog food"]


def test_adjective_check():
    words = ["loud", "high-pitched", "sweet-sounding", "melancholic", "Eerie", "recorded", "wooden table", "dog"]
    answers = ExtractiveLLM().complete([adjective_check_prompt(w) for w in words])
    assert [parse_yes_no(a) for a in answers] == [True, True, True, True, True, False, False, False]


def test_unknown_prompt_is_a_clear_error():
    with pytest.raises(AudioDissectError, match="cannot answer this prompt") as info:
        ExtractiveLLM().complete(["Tell me a joke."])
    assert "summary_prompt" in info.value.hint


class CountingLLM:
    """Answers with a counter so that every backend call is visible."""

    name = "counting:v1"

    def __init__(self, fail_on=None):
        self.sent = []
        self.fail_on = fail_on

    def complete(self, prompts, **params):
        if self.fail_on is not None and self.fail_on in prompts:
            raise RuntimeError("backend died")
        self.sent.extend(prompts)
        return [f"{p}|{params.get('temperature')}|{len(self.sent)}" for p in prompts]


def test_cache_sends_each_prompt_once_and_repeats_make_no_calls(tmp_path):
    backend = CountingLLM()
    llm = CachedLLM(backend, tmp_path / "llm.sqlite")
    first = llm.complete(["a", "b", "a", "c"], temperature=1.0)
    assert backend.sent == ["a", "b", "c"]
    assert first == ["a|1.0|3", "b|1.0|3", "a|1.0|3", "c|1.0|3"]
    assert (llm.calls, llm.hits) == (3, 1)
    # a new cache object on the same file: a repeated run makes no backend calls
    again = CachedLLM(backend, tmp_path / "llm.sqlite")
    assert again.complete(["a", "b", "a", "c"], temperature=1.0) == first
    assert (again.calls, again.hits) == (0, 4)
    assert len(backend.sent) == 3
    assert len(again) == 3


def test_cache_keys_include_params_and_backend(tmp_path):
    backend = CountingLLM()
    llm = CachedLLM(backend, tmp_path / "llm.sqlite")
    llm.complete(["a"], temperature=0.0)
    llm.complete(["a"], temperature=0.0, seed=1)
    llm.complete(["a"], temperature=0.0, system="s")
    llm.complete(["a"], temperature=0.0, max_tokens=5)
    assert llm.calls == 4
    other = CountingLLM()
    other.name = "counting:v2"
    CachedLLM(other, tmp_path / "llm.sqlite").complete(["a"], temperature=0.0)
    assert other.sent == ["a"]


def test_cache_keeps_answers_that_arrived_before_an_interruption(tmp_path):
    path = tmp_path / "llm.sqlite"
    backend = CountingLLM(fail_on="p3")
    llm = CachedLLM(backend, path, batch_size=2)
    with pytest.raises(RuntimeError):
        llm.complete(["p0", "p1", "p2", "p3"])
    with sqlite3.connect(path) as db:
        stored = sorted(row[0] for row in db.execute("SELECT prompt FROM answers"))
    assert stored == ["p0", "p1"]
    resumed = CachedLLM(CountingLLM(), path, batch_size=2)
    resumed.complete(["p0", "p1", "p2", "p3"])
    assert resumed.llm.sent == ["p2", "p3"]
    assert (resumed.calls, resumed.hits) == (2, 2)


def test_cache_reports_progress(tmp_path):
    seen = []

    def hook(stage, artefact=None, *, completed, total):
        seen.append((stage, artefact, completed, total))

    CachedLLM(CountingLLM(), tmp_path / "c.sqlite", batch_size=2, hook=hook).complete(["a", "b", "c"])
    assert seen == [("llm", "counting:v1", 0, 2), ("llm", "counting:v1", 1, 2), ("llm", "counting:v1", 2, 2)]


def test_answers_of_workers_are_stored_a_batch_at_a_time_and_each_batch_before_the_next(tmp_path):
    from audiodissect.executor import LocalExecutor
    from audiodissect.llm.fanout import FannedOutLLM

    path = tmp_path / "llm.sqlite"
    stored_before = []

    class Watching(CountingLLM):
        def complete(self, prompts, **params):  # what the cache holds when a worker starts a batch
            with sqlite3.connect(path) as db:
                stored_before.append(db.execute("SELECT count(*) FROM answers").fetchone()[0])
            return super().complete(prompts, **params)

    fanned = FannedOutLLM(Watching, executor=LocalExecutor(), batch_size=3)
    llm = CachedLLM(fanned, path)
    llm.commit_seconds = 0  # as if every batch took longer than the time between commits
    stores = []
    store = llm._store
    llm._store = lambda db, rows: (stores.append(len(rows)), store(db, rows))
    seen = []
    llm.hook = lambda stage, artefact=None, *, completed, total: seen.append((completed, total))
    prompts = [f"p{i}" for i in range(7)]
    direct = fanned.complete(prompts)  # the batch ends are not answers
    assert [a.split("|")[0] for a in direct] == prompts and not direct.errors
    assert [a.split("|")[0] for a in llm.complete(prompts)] == prompts
    assert stored_before[-3:] == [0, 3, 6]  # each batch committed before the next is asked
    assert [n for n in stores if n] == [3, 3, 1]  # one commit per batch, not one per answer
    assert seen[0] == (0, 7) and seen[-1] == (7, 7) and [c for c, _ in seen] == sorted(c for c, _ in seen)


def test_fast_batches_are_committed_together_and_slow_ones_one_by_one(tmp_path, monkeypatch):
    """A batch's answers are committed at its end once commit_seconds have passed since the last commit: the
    many quick batches of an in-process backend are one write, a slow backend's each its own."""
    from audiodissect.llm import cached

    clock = [0.0]
    monkeypatch.setattr(cached.time, "monotonic", lambda: clock[0])

    class Timed(CountingLLM):
        seconds = 0.0

        def complete(self, prompts, **params):
            clock[0] += self.seconds
            return super().complete(prompts, **params)

    for seconds, expected in [(0.1, [7]), (0.4, [6, 1]), (1.5, [2, 2, 2, 1])]:
        backend = Timed()
        backend.seconds = seconds
        llm = CachedLLM(backend, tmp_path / f"{seconds}.sqlite", batch_size=2)
        stores = []
        store = llm._store
        llm._store = lambda db, rows: (stores.append(len(rows)), store(db, rows))
        assert [a.split("|")[0] for a in llm.complete([f"p{i}" for i in range(7)])] == [f"p{i}" for i in range(7)]
        assert [n for n in stores if n] == expected, seconds  # 0.4 s batches: at 1.2 s, then the last at the end
        assert len(llm) == 7


def test_load_llm_specs(tmp_path):
    assert isinstance(load_llm("extractive"), ExtractiveLLM)
    cached = load_llm("extractive", cache_path=tmp_path / "x.sqlite")
    # the name carries the wording's version, so answers cached under an older wording are not reused
    assert isinstance(cached, CachedLLM) and cached.name == ExtractiveLLM.name == "extractive-v3"
    assert load_llm("transformers:/some/folder").name == "transformers:/some/folder"
    # in-process backends answer one prompt at a time: the server settings are not theirs
    assert isinstance(load_llm("extractive", timeout=5, concurrency=8, retries=2), ExtractiveLLM)
    for bad in ["gpt4", ""]:
        with pytest.raises(AudioDissectError, match=f"unknown LLM '{bad}'") as info:
            load_llm(bad)
        assert "http:<model>[@<base_url>]" in info.value.hint and "transformers:<hub id or folder>" in info.value.hint
    with pytest.raises(AudioDissectError, match="unknown LLM 'htp:x'") as info:
        load_llm("htp:x")
    assert info.value.hint.startswith("closest: http,")
    for bad, why in [("extractive:x", "takes no argument"), ("http:", "needs an argument"),
                     ("transformers:", "needs an argument")]:
        with pytest.raises(AudioDissectError, match=f"malformed LLM spec '{bad}': .*{why}"):
            load_llm(bad)
    with pytest.raises(AudioDissectError, match="no GGUF model file"):
        load_llm(f"llamacpp:{tmp_path / 'missing.gguf'}")


def test_an_llm_registered_at_run_time_is_loaded_by_its_spec(tmp_path):
    class Echo:
        def __init__(self, prefix, *, shout=False):
            self.name = f"echo:{prefix}"
            self.prefix = prefix.upper() if shout else prefix

        def complete(self, prompts, **params):
            return [f"{self.prefix} {p}" for p in prompts]

    LLMS.register("echo", Echo, argument="<prefix>")
    try:
        assert "echo:<prefix>" in LLMS.help()
        llm = load_llm("echo:hi", shout=True, concurrency=4, cache_path=tmp_path / "c.sqlite")
        assert isinstance(llm, CachedLLM) and llm.name == "echo:hi"
        assert list(llm.complete(["there"])) == ["HI there"]
    finally:
        LLMS.unregister("echo")
    with pytest.raises(AudioDissectError, match="unknown LLM 'echo:hi'"):
        load_llm("echo:hi")


def test_etc_is_no_source():
    from audiodissect.summarize.extractive import description_terms

    assert description_terms("Sounds of bee, wasp, etc. A loud sound.") == {"bee", "wasp", "loud"}


def test_each_description_is_parsed_once_for_every_prompt_that_lists_it():
    from audiodissect.summarize.extractive import _terms
    from audiodissect.summarize.prompts import contrastive_summary_prompt, summary_prompt

    descriptions = [f"Sounds of banjo {i}. A loud sound with steady onsets." for i in range(6)]
    _terms.cache_clear()
    llm = ExtractiveLLM()
    first = llm.complete([summary_prompt(descriptions[:4]), summary_prompt(descriptions[2:]),
                          contrastive_summary_prompt(descriptions[:3], descriptions[3:])])
    assert _terms.cache_info().misses == len(descriptions)
    _terms.cache_clear()
    assert llm.complete([summary_prompt(descriptions[:4])]) == first[:1]  # the same answer, parsed afresh


def test_answer_keys_are_the_digests_existing_caches_are_keyed_by():
    import hashlib
    import json

    from audiodissect.llm.cached import answer_key, answer_keys

    def stored_key(backend, prompt, params):  # the key every answer cache written so far holds
        text = json.dumps([backend, prompt, {k: params.get(k) for k in sorted(params)}], sort_keys=True,
                          ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    prompts = ["q", 'a "quoted" \\ back', "café 日本 \U0001f3b5", "ctrl \x00\x1f\n\t\u2028", ""]
    for backend in ["extractive", 'x""', 'na"me\\']:  # a name whose JSON holds '""' or a backslash
        for params in [{}, {"temperature": 0.0, "seed": 1, "system": 'é"'}, {"max_tokens": 5, "temperature": None}]:
            expected = [stored_key(backend, p, params) for p in prompts]
            assert answer_keys(backend, prompts, params) == expected
            assert [answer_key(backend, p, params) for p in prompts] == expected
