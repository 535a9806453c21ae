"""Explanation scoring: correlations against scipy, simulation on a synthetic run, held-out clips only."""

import zlib

import numpy as np
import pytest
from scipy import stats

from audiodissect import Dissection
from audiodissect.cache import read_json, write_json, write_jsonl
from audiodissect.errors import AudioDissectError
from audiodissect.probes.base import ClipInfo
from audiodissect.progress import silent
from audiodissect.records import ExplanationScore
from audiodissect.rundir import RunDir, unit_id
from audiodissect.scoring import (
    collect_explanations,
    correlate,
    format_layer_table,
    format_summary,
    open_concept_phrase,
    paired_correlation,
    rank_columns,
    simulate,
    summarize_scores,
)


class BagOfWords:
    """A fake text embedder: the normalised sum of fixed random vectors of the words."""

    name = "bag-of-words"

    def __init__(self, dim=32):
        self.dim = dim
        self.calls = []

    def word(self, w):
        rng = np.random.default_rng(zlib.crc32(w.encode()))
        return rng.normal(size=self.dim)

    def encode(self, texts):
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim))
        for i, t in enumerate(texts):
            for w in t.lower().replace(",", " ").split():
                out[i] += self.word(w)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)


# -- pure functions -------------------------------------------------------------

def test_simulate_is_cosine():
    e = np.array([[1.0, 0.0], [1.0, 1.0]])
    c = np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(simulate(e, c), [[1, s], [0, s], [-1, -s]], atol=1e-6)


def test_correlate_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 4, size=(30, 6)).astype(float)  # many ties
    actual = pred + rng.integers(0, 3, size=(30, 6))        # ties too, correlated
    actual[:, 5] = rng.normal(size=30)
    rho, r = correlate(pred, actual)
    for j in range(6):
        assert rho[j] == pytest.approx(stats.spearmanr(pred[:, j], actual[:, j]).statistic, abs=1e-10)
        assert r[j] == pytest.approx(stats.pearsonr(pred[:, j], actual[:, j]).statistic, abs=1e-10)


def test_correlate_constant_columns_are_nan():
    pred = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 5.0]])
    actual = np.array([[0.0, 7.0], [1.0, 7.0], [2.0, 7.0]])
    rho, r = correlate(pred, actual)
    assert np.isnan(rho).all() and np.isnan(r).all()
    rho, r = correlate(np.array([[1.0], [2.0]]), np.array([[3.0], [1.0]]))
    assert rho[0] == pytest.approx(-1.0) and r[0] == pytest.approx(-1.0)


def test_paired_correlation_gathers_shared_columns():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(20, 4))
    ai, bi = np.array([0, 0, 2, 1]), np.array([3, 1, 1, 0])
    got = paired_correlation(rank_columns(a), ai, rank_columns(b), bi)
    want = [stats.spearmanr(a[:, i], b[:, j]).statistic for i, j in zip(ai, bi)]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_open_concept_phrase():
    assert open_concept_phrase({"acoustic_adjectives": ["loud", "high-pitched"],
                                "adjectives": ["x"], "nouns": ["whistle", "bird"]}) == "loud, high-pitched whistle, bird"
    assert open_concept_phrase({"adjectives": ["soft"], "nouns": []}) == "soft"
    assert open_concept_phrase({"acoustic_adjectives": [], "nouns": []}) == ""


def test_collect_explanations_kinds():
    ident = [{"unit": "l#0", "layer": "l", "index": 0, "method": "tab", "similarity": "cos3",
              "concepts": ["dog", "cat"], "scores": [1, 0]},
             {"unit": "l#0", "layer": "l", "index": 0, "method": "icl", "similarity": None,
              "concepts": ["bird"], "scores": [1]}]
    summ = [{"unit": "l#0", "layer": "l", "index": 0, "s_high": "A dog  barks.", "calibrated": "",
             "acoustic_adjectives": ["loud"], "nouns": ["dog"], "icl": {"concepts": ["cow"]}}]
    got = {(e["explanation"], e["text"]) for e in collect_explanations(ident, summ)}
    # the identify ICL record wins over summarize's; the empty calibrated summary is left out
    assert got == {("tab/cos3", "dog"), ("icl", "bird"), ("summary", "A dog barks."), ("open_concepts", "loud dog")}


def test_collect_explanations_reads_summarize_stage_fields():
    # the field names summarize_units writes: calibrated_summary and icl_top1
    summ = [{"unit": "l#0", "layer": "l", "index": 0, "s_high": "Dogs bark. Rain falls.",
             "calibrated_summary": "Dogs bark.", "acoustic_adjectives": [], "nouns": ["dog"],
             "icl_top1": "dog barking", "icl_status": "matched"},
            {"unit": "l#1", "layer": "l", "index": 1, "s_high": "Rain.", "calibrated_summary": "",
             "calibrated": "old field ignored", "nouns": [], "icl_top1": None, "icl_status": "unparsed"},
            {"unit": "l#2", "layer": "l", "index": 2, "s_high": "Wind.", "calibrated_summary": "", "nouns": [],
             "icl_top1": "dog barking", "icl_status": "copied_list"}]  # the LLM repeated the candidate list
    got = sorted((e["unit"], e["explanation"], e["text"]) for e in collect_explanations([], summ))
    assert got == [("l#0", "calibrated", "Dogs bark."), ("l#0", "icl", "dog barking"),
                   ("l#0", "open_concepts", "dog"), ("l#0", "summary", "Dogs bark. Rain falls."),
                   ("l#1", "summary", "Rain."), ("l#2", "summary", "Wind.")]


def test_format_layer_table():
    recs = [{"predictor": "description", "explanation": kind, "layer": layer, "spearman": s, "pearson": s}
            for kind, layer, s in [("summary", "a", 0.5), ("tab/cos", "a", 0.25), ("tab/cos", "b", -0.5),
                                   ("summary", "a", 0.0)]]
    assert format_layer_table(summarize_scores(recs)) == (
        "description (spearman_mean)\n\n"
        "| explanation | all | a | b |\n"
        "|---|---|---|---|\n"
        "| tab/cos | -0.125 | 0.250 | -0.500 |\n"
        "| summary | 0.250 | 0.250 | - |\n")
    with pytest.raises(AudioDissectError):
        format_layer_table([], stat="nope")


def test_summary_counts_undefined_as_zero():
    recs = [{"predictor": "description", "explanation": "k", "layer": "l", "spearman": s, "pearson": s}
            for s in (0.5, None, -0.1, 0.9)]
    rows = summarize_scores(recs)
    pooled = [r for r in rows if r["layer"] == "all"][0]
    assert pooled["n"] == 4 and pooled["n_undefined"] == 1
    assert pooled["spearman_mean"] == pytest.approx((0.5 + 0 - 0.1 + 0.9) / 4)
    assert pooled["spearman_median"] == pytest.approx(0.25)
    assert pooled["spearman_share_positive"] == pytest.approx(0.5)
    assert "description" in format_summary(rows)


def test_summary_rows_are_grouped_in_order_with_their_own_records():
    rng = np.random.default_rng(5)
    recs = [{"predictor": p, "explanation": k, "layer": layer, "spearman": float(rng.normal()), "pearson": 0.0,
             "n_clips": 9}
            for p, k, layer in [("text", "summary", "z"), ("description", "tab/cos", "z"),
                                ("description", "summary", "b"), ("text", "summary", "b"),
                                ("description", "summary", "z"), ("description", "summary", "b")]]
    rows = summarize_scores(recs)
    assert [(r["predictor"], r["explanation"], r["layer"], r["n"]) for r in rows] == [
        ("description", "summary", "all", 3), ("description", "summary", "z", 1),
        ("description", "summary", "b", 2), ("description", "tab/cos", "all", 1), ("description", "tab/cos", "z", 1),
        ("text", "summary", "all", 2), ("text", "summary", "z", 1), ("text", "summary", "b", 1)]
    b = [r["spearman"] for r in recs if (r["predictor"], r["explanation"], r["layer"]) == ("description", "summary",
                                                                                             "b")]
    assert rows[2]["spearman_mean"] == round(float(np.mean(b)), 4)


@pytest.mark.parametrize("m", [2, 417, 1500, 5000])
def test_mean_interval_draws_as_one_block_of_64_bit_indices_would(m):
    from audiodissect.scoring.score import MEAN_BOOTSTRAP, _mean_interval

    values = np.random.default_rng(m).normal(size=m)
    rng = np.random.default_rng(0)
    means = values[rng.integers(0, m, size=(MEAN_BOOTSTRAP, m))].mean(axis=1)
    assert _mean_interval(values) == tuple(round(float(x), 4) for x in np.percentile(means, [2.5, 97.5]))


def test_mean_intervals_of_samples_of_one_size_equal_one_by_one():
    from audiodissect.scoring.score import _mean_interval, _mean_intervals

    rng = np.random.default_rng(3)
    samples = [rng.normal(size=m) for m in (300, 5, 300, 1, 2_000, 5, 300)]
    assert _mean_intervals(samples) == [_mean_interval(s) for s in samples]
    assert _mean_intervals(samples)[3] == (None, None)
    assert _mean_intervals(samples)[0] != _mean_intervals(samples)[2]  # the same draws, other values


def test_rounded_scores_equal_python_round_bit_for_bit():
    import math
    import struct

    from audiodissect.scoring.score import _rounded

    rng = np.random.default_rng(11)
    halfway = (np.arange(-200_000, 200_000) + 0.5) / 1e6  # the doubles nearest decimal half-way points
    x = np.concatenate([rng.uniform(-1, 1, 200_000), rng.normal(0, 1e4, 20_000), halfway,
                        np.nextafter(halfway, 2), np.nextafter(halfway, -2),
                        [0.0, -0.0, -1e-7, 5e-7, -5e-7, 0.1234565, 1e300, -2.0**60, np.nan, np.inf, -np.inf]])
    expected = [round(v, 6) if math.isfinite(v) else None for v in x.tolist()]
    bits = [None if v is None else struct.pack("<d", v) for v in _rounded(x)]
    assert bits == [None if v is None else struct.pack("<d", v) for v in expected]


def test_summary_rows_are_the_same_from_records_and_from_their_json():
    rng = np.random.default_rng(8)
    recs = [ExplanationScore(unit=f"L{i % 3}#{i}", layer=f"L{i % 3}", index=i, explanation=("summary", "icl")[i % 2],
                             text="x", predictor="description", n_clips=40,
                             spearman=None if i % 7 == 0 else float(rng.normal()), pearson=float(rng.normal()),
                             detection_auprc=float(rng.random()) if i % 5 else None)
            for i in range(60)]
    assert summarize_scores(recs) == summarize_scores([r.to_json() for r in recs])


# -- a synthetic run ------------------------------------------------------------------

WORDS = ["dog", "bark", "car", "engine", "rain", "loud", "quiet", "bird", "song", "water", "metal", "wind"]


def make_run(tmp_path, *, n_probe=12, n_heldout=15, seed=0, probe_noise=None):
    rng = np.random.default_rng(seed)
    emb = BagOfWords()
    clips, descriptions = [], {}
    for i in range(n_probe + n_heldout):
        split = "probe" if i < n_probe else "heldout"
        cid = f"clip{i:02d}"
        clips.append(ClipInfo(id=cid, label=None, split=split))
        descriptions[cid] = " ".join(rng.choice(WORDS, size=4))
    run = RunDir(tmp_path / "run")
    write_jsonl(run.path / "clips.jsonl", [c.to_record() for c in clips])
    write_json(run.path / "descriptions.json", descriptions)
    vec = emb.encode([descriptions[c.id] for c in clips])
    phrase = "dog bark"
    target = simulate(emb.encode([phrase]), vec)[:, 0]
    acts = np.stack([target, rng.normal(size=len(clips))], axis=1).astype(np.float32)  # (N, 2)
    if probe_noise is not None:
        acts[:n_probe] = probe_noise
    run.save_activations("layer", acts)
    run.finish_stage("record", "k", {"layers": {"layer": 2}, "n_clips": len(clips), "model": "m", "pool": "mean",
                                     "probe": {"name": "none"}})
    run.write_units("identify", [
        {"unit": unit_id("layer", 0), "layer": "layer", "index": 0, "method": "tab", "similarity": "cos3",
         "concepts": [phrase, "x"], "scores": [1, 0]},
        {"unit": unit_id("layer", 0), "layer": "layer", "index": 0, "method": "db", "similarity": "cos3",
         "concepts": ["car engine", "x"], "scores": [1, 0]},
        {"unit": unit_id("layer", 1), "layer": "layer", "index": 1, "method": "tab", "similarity": "cos3",
         "concepts": [phrase], "scores": [1]},
    ])
    return run, emb, n_heldout


class TextsAsEvidence:
    """A test audio-text backend: each text's evidence over the held-out clips comes from a function of the text."""

    name = "texts-as-evidence"
    sample_rate = 100

    def __init__(self, column):
        self.column = column

    def evidence(self, waveforms, texts):
        return np.stack([self.column(t) for t in texts], axis=1)


def score_run(run, *, embedder, evidence=None, probe=None):
    """The score stage of `run` through the front door, with a test text embedder (and audio-text backend)."""
    from backends import evidence_backend, text_embedder

    identify = {"text_embedder": text_embedder("bag", embedder)}
    if evidence is not None:
        identify["tab_backend"] = evidence_backend("texts", evidence)
    d = Dissection.open(run.path, probe=probe, hook=silent,
                        settings={"identify": identify, "score": {"audio_text": evidence is not None}})
    return list(d.score())


def silent_clips(run):
    """The run's clips as a probing set of silent one-second clips (audio the test backend never reads)."""
    from audiodissect.probes.base import ArrayProbeSet

    clips = run.clips()
    return ArrayProbeSet(name="silent", clips=clips, audio=[np.zeros(100, np.float32) for _ in clips],
                         sample_rate=100, spec={"name": "silent", "in_memory": True})


def test_score_run_recovers_known_phrase(tmp_path):
    run, emb, n_heldout = make_run(tmp_path)
    emb.calls.clear()
    records = score_run(run, embedder=emb)
    by = {(r["unit"], r["explanation"]): r for r in records}
    exact = by[("layer#0", "tab/cos3")]
    assert exact["text"] == "dog bark" and exact["predictor"] == "description"
    assert exact["spearman"] == pytest.approx(1.0) and exact["pearson"] == pytest.approx(1.0, abs=1e-5)
    assert by[("layer#0", "db/cos3")]["spearman"] < 0.9
    assert abs(by[("layer#1", "tab/cos3")]["spearman"]) < 0.9
    assert all(r["n_clips"] == n_heldout for r in records)
    assert (run.path / "score" / "summary.csv").read_text().startswith("predictor,explanation,layer,n,")
    assert run.read_units("score") == records
    # the text shared by two units is embedded once, with the other text of the layer
    assert [c for c in emb.calls if "dog bark" in c] == [["dog bark", "car engine"]]


def test_score_run_audio_text_predictor_gets_heldout_rows(tmp_path):
    run, emb, n_heldout = make_run(tmp_path)
    seen = []

    def column(text):
        seen.append(text)
        acts = np.asarray(run.activations("layer"))[-n_heldout:, 0]
        return acts if text == "dog bark" else -acts

    records = score_run(run, embedder=emb, evidence=TextsAsEvidence(column), probe=silent_clips(run))
    audio = {(r["unit"], r["explanation"]): r for r in records if r["predictor"] == "audio_text"}
    assert audio[("layer#0", "tab/cos3")]["spearman"] == pytest.approx(1.0)
    assert audio[("layer#0", "db/cos3")]["spearman"] == pytest.approx(-1.0)
    assert sorted(seen) == ["car engine", "dog bark"]


class NoiseTagger:
    """A tagger of three tags whose logits follow the clips' loudness (enough for a tag bridge to run on)."""

    name = "noise-tagger"
    sample_rate = 100
    class_names = ["Dog", "Car", "Rain"]

    def logits(self, waveforms):
        import torch

        rms = torch.tensor([float(np.sqrt(np.mean(np.square(w)))) for w in waveforms])
        return torch.stack([rms, -rms, rms ** 2], dim=1)


def test_score_embeds_each_explanation_once_for_both_predictors(tmp_path, monkeypatch):
    """The description predictor and the tag bridge read one embedding of each explanation text: the bridge
    embeds the texts as they are (no templated copy), so the embedder's memo serves it the description
    predictor's vectors; only the tag names are embedded in the template."""
    from collections import Counter

    from audiodissect.evidence.tag_bridge import TEMPLATE, TagBridge
    from audiodissect.probes.base import ArrayProbeSet
    from audiodissect.text_embedder import SentenceEmbedder

    class CountingEmbedder(SentenceEmbedder):
        """The sentence embedder's memo, with bag-of-words vectors for the model; `seen` gets every text computed."""

        def __init__(self):
            super().__init__("counting", store=None)
            self.bag = BagOfWords()
            self.seen = []

        def _embed(self, texts):
            self.seen += texts
            return self.bag.encode(texts)

    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    run, _, _ = make_run(tmp_path)
    clips = run.clips()
    rng = np.random.default_rng(3)
    probe = ArrayProbeSet(name="noise", clips=clips, audio=[a * rng.normal(size=100).astype(np.float32)
                                                            for a in rng.uniform(0.1, 1.0, len(clips))],
                          sample_rate=100, spec={"name": "noise", "in_memory": True})
    emb = CountingEmbedder()
    tagger = NoiseTagger()
    records = score_run(run, embedder=emb, evidence=TagBridge(tagger, embedder=emb), probe=probe)
    assert {r["predictor"] for r in records} == {"description", "audio_text"}
    texts = {r["text"] for r in records}
    descriptions = read_json(run.path / "descriptions.json")
    held = {descriptions[c.id] for c in clips if c.split == "heldout"}
    counts = Counter(emb.seen)
    assert all(counts[t] == 1 for t in texts)  # once, for both predictors
    assert not any(TEMPLATE.format(t) in counts for t in texts)
    assert counts == Counter(texts | held | {TEMPLATE.format(n) for n in tagger.class_names})
    assert run.stage("score")["key_parts"]["explanation_template"] == "{}"  # part of the stage's key


def test_probe_clips_never_used(tmp_path):
    clean, emb, _ = make_run(tmp_path / "a")
    noisy, _, _ = make_run(tmp_path / "b", probe_noise=1e6 * np.random.default_rng(5).normal(size=(12, 2)))
    desc = read_json(noisy.path / "descriptions.json")
    write_json(noisy.path / "descriptions.json", {k: v for k, v in desc.items() if int(k[4:]) >= 12})
    a = score_run(clean, embedder=emb)
    b = score_run(noisy, embedder=BagOfWords())
    assert [(r["spearman"], r["pearson"]) for r in a] == [(r["spearman"], r["pearson"]) for r in b]


def test_score_run_is_cached_and_errors(tmp_path):
    run, emb, _ = make_run(tmp_path)
    score_run(run, embedder=emb)
    emb.calls.clear()
    score_run(run, embedder=emb)
    assert emb.calls == []
    desc = read_json(run.path / "descriptions.json")
    write_json(run.path / "descriptions.json", {k: v for k, v in desc.items() if k != "clip20"})
    with pytest.raises(AudioDissectError, match="held-out clips have no description"):
        score_run(run, embedder=emb)
    (run.path / "descriptions.json").unlink()
    with pytest.raises(AudioDissectError, match="no clip descriptions"):
        score_run(run, embedder=emb)


def test_score_run_needs_heldout_clips(tmp_path):
    run, emb, _ = make_run(tmp_path, n_probe=20, n_heldout=2)
    with pytest.raises(AudioDissectError, match="held-out clips"):
        score_run(run, embedder=emb)


# -- the audio-text adapter and description files -------------------------------------

def test_description_map_reads_both_formats():
    from audiodissect.scoring.score import description_map

    assert description_map({"a": "x"}) == {"a": "x"}
    assert description_map({"captioner": "tags", "descriptions": {"a": "y"}}) == {"a": "y"}
    with pytest.raises(AudioDissectError):
        description_map(["a"])


class FakeProbe:
    def __init__(self, waves):
        self.waves = waves

    def audio(self, index, *, sample_rate):
        return self.waves[index]


class FakeTagger:
    """A tag-bridge-like backend: clip logits = waveform means; a text's evidence = logits x its length."""

    name = "fake-tags"
    sample_rate = 10

    def __init__(self):
        self.logit_calls = 0

    def tag_logits(self, waves):
        self.logit_calls += 1
        return np.array([[w.mean()] for w in waves])

    def evidence_from_logits(self, logits, texts):
        return logits * np.array([len(t) for t in texts])[None, :]


class FakeClap:
    name = "fake-clap"
    sample_rate = 10

    def audio_embeddings(self, waves):
        return np.array([[w.mean(), 1.0] for w in waves])

    def text_embeddings(self, texts):
        return np.array([[1.0, 0.0] if t == "mean" else [0.0, 1.0] for t in texts])


def test_audio_text_evidence_uses_only_given_rows_and_computes_clips_once():
    from audiodissect.scoring.audio_text import AudioTextEvidence

    probe = FakeProbe([np.full(4, v, dtype=np.float32) for v in (1.0, 2.0, 3.0, 4.0)])
    tagger = FakeTagger()
    ev = AudioTextEvidence(tagger, probe, [3, 1])
    np.testing.assert_allclose(ev(["ab", "abc"]), [[8, 12], [4, 6]])
    ev(["x"])
    assert tagger.logit_calls == 1 and ev.name == "fake-tags"
    clap = AudioTextEvidence(FakeClap(), probe, [0, 2])
    np.testing.assert_allclose(clap(["mean", "other"]), [[1, 1], [3, 1]])


def test_audio_text_clip_side_is_cached_in_the_run(tmp_path):
    from audiodissect.scoring.audio_text import AudioTextEvidence

    probe = FakeProbe([np.full(4, v, dtype=np.float32) for v in (1.0, 2.0, 3.0, 4.0)])
    probe.clips = [ClipInfo(id=f"c{i}", label=None, split="heldout") for i in range(4)]
    first, second = FakeTagger(), FakeTagger()
    ev = AudioTextEvidence(first, probe, [3, 1], cache_dir=tmp_path)
    np.testing.assert_allclose(ev(["ab"]), [[8], [4]])
    assert first.logit_calls == 1 and ev.clip_side_source == "computed"
    again = AudioTextEvidence(second, probe, [3, 1], cache_dir=tmp_path)
    np.testing.assert_allclose(again(["abc"]), [[12], [6]])
    assert second.logit_calls == 0 and again.clip_side_source == "cache"
    other_rows = AudioTextEvidence(second, probe, [0], cache_dir=tmp_path)  # other clips: another key
    np.testing.assert_allclose(other_rows(["a"]), [[1]])
    assert second.logit_calls == 1


def test_audio_text_reads_the_runs_shared_tag_logits(tmp_path):
    from audiodissect.cache import save_npy
    from audiodissect.evidence.tag_logits import tag_logits_key
    from audiodissect.scoring.audio_text import AudioTextEvidence

    class FakeBridge(FakeTagger):
        tagger_name = "fake-tags"
        pooling = "max"
        cache_dir = None

        def probe_logits(self, probe):
            return np.load(tmp_path / f"tag-logits-{key}-max.npy")

    probe = FakeProbe([np.zeros(4, dtype=np.float32)] * 3)
    probe.clips = [ClipInfo(id=f"c{i}", label=None, split="heldout") for i in range(3)]
    key = tag_logits_key("fake-tags", ["c0", "c1", "c2"], sample_rate=10)
    save_npy(tmp_path / f"tag-logits-{key}-max.npy", np.array([[1.0], [5.0], [7.0]], dtype=np.float32))
    bridge = FakeBridge()
    ev = AudioTextEvidence(bridge, probe, [2, 0], cache_dir=tmp_path)
    np.testing.assert_allclose(ev(["ab"]), [[14], [2]])  # the file's rows, not the (zero) audio
    assert bridge.logit_calls == 0 and ev.clip_side_source == "run tag logits"
    assert bridge.cache_dir == tmp_path


def test_compare_explanations_pairs_units():
    from audiodissect.scoring import compare_explanations, format_comparison

    rec = lambda unit, kind, s, pred="description": {"unit": unit, "explanation": kind, "predictor": pred,
                                                     "spearman": s}
    records = [rec("u0", "summary", 0.2), rec("u0", "calibrated", 0.5),
               rec("u1", "summary", 0.4), rec("u1", "calibrated", None),
               rec("u2", "summary", 0.9),  # no calibrated summary: left out of the pairing
               rec("u0", "summary", 0.1, "audio_text")]
    rows = compare_explanations(records, "summary", "calibrated")
    assert rows[0] == {"predictor": "description", "n": 2, "first": "summary", "second": "calibrated",
                       "first_mean": 0.3, "second_mean": 0.25, "second_better": 0.5, "second_worse": 0.5}
    assert rows[1]["predictor"] == "audio_text" and rows[1]["n"] == 0
    assert format_comparison(rows) == (
        "description: 2 units with both; rho mean summary 0.300, calibrated 0.250; calibrated higher on 50%, "
        "lower on 50%\naudio_text: no unit has both 'summary' and 'calibrated'\n")


# -- blocked scoring equals the per-layer path --------------------------------------

def per_layer_reference(explanations, activations, predictors):
    """The per-layer scoring (whole layers ranked at once, texts per layer) the blocked path replaced."""
    by_layer = {}
    for e in explanations:
        by_layer.setdefault(e["layer"], []).append(e)
    out = []
    for pname, predictor in predictors.items():
        for layer, group in by_layer.items():
            acts = np.asarray(activations[layer], dtype=np.float64)
            texts = list(dict.fromkeys(e["text"] for e in group))
            pred = np.asarray(predictor(texts), dtype=np.float64)
            t_idx = np.array([texts.index(e["text"]) for e in group])
            u_idx = np.array([e["index"] for e in group])
            pearson = paired_correlation(pred, t_idx, acts, u_idx)
            spearman = paired_correlation(rank_columns(pred), t_idx, rank_columns(acts), u_idx)
            out += [(e["unit"], e["explanation"], pname, rho, r) for e, rho, r in zip(group, spearman, pearson)]
    return out


@pytest.mark.parametrize("block_units,table", [(1, True), (3, True), (64, True), (None, True), (3, False)])
def test_blocked_scores_equal_per_layer_scores(tmp_path, block_units, table, monkeypatch):
    from audiodissect.arrays import RowSubset
    from audiodissect.scoring import DescriptionEvidence, blocks, score_explanations

    if not table:
        monkeypatch.setattr(blocks, "TABLE_ELEMENTS", 0)

    rng = np.random.default_rng(7)
    words = ["dog", "bark", "rain", "wind", "bird", "engine", "loud", "soft"]
    n_all, heldout = 40, np.arange(5, 40, 2)  # 18 held-out rows of a larger memory-mapped array
    descriptions = [" ".join(rng.choice(words, size=3)) for _ in heldout]
    layers = {"a": 7, "b.c": 11, "d": 5}
    activations, explanations = {}, []
    for layer, n_units in layers.items():
        path = tmp_path / f"{layer}.npy"
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_all, n_units))
        arr[:] = rng.normal(size=(n_all, n_units))
        arr[:, 0] = 1.5                                        # a dead unit: undefined scores
        arr[:, 1] = rng.integers(0, 3, size=n_all)             # ties
        arr.flush()
        activations[layer] = RowSubset(np.load(path, mmap_mode="r"), heldout)
        for u in rng.permutation(n_units)[: n_units - 1]:      # one unit unexplained, units out of order
            for kind in ("tab/cos", "summary", "icl"):
                text = str(rng.choice(words[:3])) if kind != "summary" else " ".join(rng.choice(words, size=4))
                explanations.append({"unit": unit_id(layer, int(u)), "layer": layer, "index": int(u),
                                     "explanation": kind, "text": text})
    projection = rng.normal(size=(len(heldout), 16))
    predictors = {"description": DescriptionEvidence(descriptions, embedder=BagOfWords()),
                  "audio_text": lambda texts: projection @ BagOfWords(16).encode(texts).T}
    from audiodissect.threads import torch_threads

    with torch_threads(2):  # the layers side by side on two threads, where the table is complete
        got = score_explanations(explanations, activations, predictors, hook=silent, block_units=block_units)
    monkeypatch.setattr("audiodissect.scoring.score.thread_workers", lambda **_: 1)
    assert score_explanations(explanations, activations, predictors, hook=silent, block_units=block_units) == got
    want = per_layer_reference(explanations, {k: np.asarray(v) for k, v in activations.items()}, predictors)
    assert [(r["unit"], r["explanation"], r["predictor"]) for r in got] == [w[:3] for w in want]
    for r, (_, _, _, rho, pearson) in zip(got, want):
        for value, ref in ((r["spearman"], rho), (r["pearson"], pearson)):
            assert (value is None) == (not np.isfinite(ref))
            if value is not None:
                assert value == pytest.approx(ref, abs=1.5e-6)
    assert {r["n_clips"] for r in got} == {len(heldout)}
    assert sum(r["spearman"] is None for r in got) == 2 * 3 * 3  # the dead units, 3 layers x 3 kinds x 2


@pytest.mark.parametrize("table", [True, False])
def test_blocked_scores_ask_for_distinct_texts(table, monkeypatch):
    from audiodissect.scoring import blocks, score_explanations

    if not table:
        monkeypatch.setattr(blocks, "TABLE_ELEMENTS", 0)  # past the budget: predictions per block
    calls = []

    def predictor(texts):
        calls.append(list(texts))
        return np.stack([np.arange(10.0) * (1 + len(t)) for t in texts], axis=1)

    acts = np.random.default_rng(0).normal(size=(10, 6)).astype(np.float32)
    explanations = [{"unit": unit_id("l", u), "layer": "l", "index": u, "explanation": k, "text": t}
                    for u in range(6) for k, t in (("tab/cos", "dog"), ("icl", "dog"), ("summary", f"s{u % 2}"))]
    got = score_explanations(explanations, {"l": acts}, {"p": predictor}, hook=silent, block_units=4)
    assert all(len(c) == len(set(c)) for c in calls)
    if table:
        assert calls == [["s0", "s1", "dog"]]             # once, all texts, shortest first
    else:
        assert [sorted(c) for c in calls] == [["dog", "s0", "s1"], ["dog", "s0", "s1"]]  # once per block
    assert len(got) == 18
