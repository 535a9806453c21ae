import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.evidence import (TagBridge, bridge_evidence, compute_evidence, description_evidence,
                                   is_circular, load_evidence_backend, top_k_clips, waveforms_at)
from audiodissect.evidence.tag_bridge import BridgeVariant, concept_tag_weights, get_variant, tag_scores
from audiodissect.probes.base import ArrayProbeSet, ClipInfo


class WordEmbedder:
    """Bag of words over a fixed vocabulary; unit rows (words outside it are ignored)."""

    name = "words"

    def __init__(self, vocab):
        self.vocab = list(vocab)
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().replace(",", " ").replace(".", " ").split():
                if w in self.vocab:
                    out[i, self.vocab.index(w)] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1)


class LoudnessTagger:
    """Two tags: 'Loud' (logit = 10 * RMS) and 'Quiet' (logit = -10 * RMS)."""

    name = "fake-tagger"
    sample_rate = 8000
    class_names = ["Loud", "Quiet"]

    def __init__(self):
        self.batches = []

    def logits(self, waveforms):
        self.batches.append(len(waveforms))
        rms = torch.tensor([float(np.sqrt(np.mean(np.square(w)))) for w in waveforms])
        return torch.stack([10 * rms, -10 * rms], dim=1)


def test_tag_scores_z_and_rank():
    logits = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    z = tag_scores(logits, kind="z")
    np.testing.assert_allclose(z[:, 0], [-1.224744871, 0.0, 1.224744871], atol=1e-8)
    np.testing.assert_array_equal(z[:, 1], 0.0)  # a constant tag says nothing
    r = tag_scores(logits, kind="rank")
    np.testing.assert_allclose(r[:, 0], [-0.967421566, 0.0, 0.967421566], atol=1e-8)  # ndtri(1/6), 0, ndtri(5/6)
    np.testing.assert_allclose(tag_scores(np.array([[0.0]]), kind="prob"), [[0.5]])


def test_concept_tag_weights_margin_softmax():
    s = np.array([[1.0, 0.95, 0.5], [0.2, 0.9, 0.85]])
    w = concept_tag_weights(s, BridgeVariant("t", margin=0.1, temperature=0.05))
    e = np.exp(np.array([0.0, -1.0]))  # (0.95 - 1.0) / 0.05 = -1
    np.testing.assert_allclose(w[0], [e[0] / e.sum(), e[1] / e.sum(), 0.0])
    e = np.exp(np.array([0.0, -1.0]))
    np.testing.assert_allclose(w[1], [0.0, e[0] / e.sum(), e[1] / e.sum()])
    top1 = concept_tag_weights(s, get_variant("best1"))
    np.testing.assert_array_equal(top1, [[1, 0, 0], [0, 1, 0]])
    spread = concept_tag_weights(s, get_variant("spread"))
    np.testing.assert_array_equal(spread, s)


def test_bridge_evidence_by_hand():
    logits = np.array([[2.0, 0.0], [0.0, 4.0], [1.0, 2.0]])
    sim = np.array([[1.0, 0.2], [0.3, 1.0]])
    e = bridge_evidence(logits, sim, variant="best1")
    z = (logits - logits.mean(0)) / logits.std(0)
    np.testing.assert_allclose(e, z, atol=1e-6)
    assert e.dtype == np.float32 and e.shape == (3, 2)
    with pytest.raises(AudioDissectError, match="share the tag axis"):
        bridge_evidence(logits, sim[:, :1])
    with pytest.raises(AudioDissectError, match="closest"):
        bridge_evidence(logits, sim, variant="softmaxx")


def test_tag_bridge_end_to_end_and_circularity():
    rng = np.random.default_rng(0)
    amps = [0.05, 0.5, 0.1, 0.9]
    waves = [a * rng.standard_normal(800).astype(np.float32) for a in amps]
    tagger = LoudnessTagger()
    bridge = TagBridge(tagger, embedder=WordEmbedder(["loud", "quiet", "sound"]), variant="softmax",
                       batch_size=3)
    e = bridge.evidence(waves, ["quiet", "loud"])
    assert e.shape == (4, 2)
    # "loud" follows the clips' loudness, "quiet" the reverse
    assert list(np.argsort(e[:, 1])) == [0, 2, 1, 3]
    np.testing.assert_allclose(e[:, 0], -e[:, 1], atol=1e-5)
    assert sorted(tagger.batches) == [1, 3]
    assert bridge.name == "tag-bridge:fake-tagger"
    assert is_circular("fake-tagger", bridge)
    assert not is_circular("demo-cnn", bridge)
    assert is_circular("yamnet", "tag-bridge")
    assert is_circular("YAMNet", "tag-bridge:yamnet")
    assert not is_circular("yamnet", "clap")
    assert not is_circular("yamnet", "tag-bridge:other")


def test_tag_bridge_embeds_explanations_as_they_are():
    from audiodissect.evidence.tag_bridge import TEMPLATE

    class Recording(WordEmbedder):
        def __init__(self, vocab):
            super().__init__(vocab)
            self.texts = []

        def encode(self, texts):
            self.texts.append(list(texts))
            return super().encode(texts)

    emb = Recording(["loud", "quiet", "sound"])
    bridge = TagBridge(LoudnessTagger(), embedder=emb)
    logits = np.array([[1.0, -1.0], [3.0, -3.0], [2.0, -2.0]])
    bridge.explanation_evidence_from_logits(logits, ["loud"])
    assert emb.texts == [["loud"], ["This is a sound of Loud.", "This is a sound of Quiet."]]
    emb.texts.clear()
    bridge.evidence_from_logits(logits, ["loud"])  # concepts (the identify stage's) stay in the template
    assert emb.texts[0] == ["This is a sound of loud."]
    same = TagBridge(LoudnessTagger(), embedder=emb, explanation_template=TEMPLATE)
    np.testing.assert_array_equal(same.explanation_evidence_from_logits(logits, ["loud", "quiet"]),
                                  bridge.evidence_from_logits(logits, ["loud", "quiet"]))


def test_waveforms_at_resamples_and_reads_probes():
    w = np.sin(np.linspace(0, 100, 16000)).astype(np.float32)
    out = waveforms_at([w], 8000, sample_rate=16000)
    assert out[0].shape == (8000,)
    probe = ArrayProbeSet(name="t", clips=[ClipInfo("a", "x")], audio=[w], sample_rate=16000, spec={})
    assert waveforms_at(probe, 8000)[0].shape == (8000,)
    with pytest.raises(AudioDissectError):
        waveforms_at([], 8000)


def test_description_evidence_by_hand():
    emb = WordEmbedder(["dog", "rain", "bark"])
    p = description_evidence(["a dog bark", "rain"], ["dog", "rain"], emb, temperature=5)
    cos = np.array([[1 / np.sqrt(2), 0.0], [0.0, 1.0]])
    expected = np.exp(5 * cos) / np.exp(5 * cos).sum(1, keepdims=True)
    np.testing.assert_allclose(p, expected, rtol=1e-5)
    np.testing.assert_allclose(description_evidence(["dog"], ["dog", "rain"], emb, temperature=0), [[0.5, 0.5]])


def test_top_k_clips():
    a = np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 0.0]])
    np.testing.assert_array_equal(top_k_clips(a, 2), [[1, 2], [0, 1]])
    assert top_k_clips(a, 10).shape == (2, 3)
    with pytest.raises(AudioDissectError):
        top_k_clips(a, 0)


def _probe():
    rng = np.random.default_rng(1)
    clips = [ClipInfo(f"c{i}", "x") for i in range(3)]
    return ArrayProbeSet(name="t", clips=clips, audio=[a * rng.standard_normal(800) for a in (0.1, 0.5, 0.9)],
                         sample_rate=8000, spec={"name": "t"})


def test_compute_evidence_caches_tab(tmp_path):
    tagger = LoudnessTagger()
    emb = WordEmbedder(["loud", "quiet"])
    bridge = TagBridge(tagger, embedder=emb)
    probe = _probe()
    first = compute_evidence("tab", probe, ["loud", "quiet"], backend=bridge, cache_dir=tmp_path)
    files = list(tmp_path.glob("evidence-tab-*.npy"))
    assert len(files) == 1 and first.shape == (3, 2)
    calls = len(tagger.batches)
    again = compute_evidence("tab", probe, ["loud", "quiet"], backend=bridge, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, again)
    assert len(tagger.batches) == calls  # served from the cache
    compute_evidence("tab", probe, ["quiet"], backend=bridge, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("evidence-tab-*.npy"))) == 2  # other concepts, other key
    other = TagBridge(tagger, embedder=emb, variant="best1")
    compute_evidence("tab", probe, ["loud", "quiet"], backend=other, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("evidence-tab-*.npy"))) == 3  # other settings, other key


def test_compute_evidence_db(tmp_path):
    emb = WordEmbedder(["dog", "rain"])
    probe = _probe()
    p = compute_evidence("db", probe, ["dog", "rain"], descriptions=["dog", "rain", "dog rain"],
                         embedder=emb, cache_dir=tmp_path)
    assert p.shape == (3, 2)
    np.testing.assert_allclose(p[2], [0.5, 0.5], atol=1e-6)
    calls = emb.calls
    compute_evidence("db", probe, ["dog", "rain"], descriptions=["dog", "rain", "dog rain"],
                     embedder=emb, cache_dir=tmp_path)
    assert emb.calls == calls
    with pytest.raises(AudioDissectError, match="2 descriptions for 3 clips"):
        compute_evidence("db", probe, ["dog"], descriptions=["a", "b"], embedder=emb, cache_dir=None)
    with pytest.raises(AudioDissectError, match="needs one description"):
        compute_evidence("db", probe, ["dog"], cache_dir=None)
    with pytest.raises(AudioDissectError, match="unknown evidence method"):
        compute_evidence("xyz", probe, ["dog"], cache_dir=None)


def test_load_evidence_backend_specs():
    assert load_evidence_backend("tag-bridge").tagger_name == "yamnet"
    assert load_evidence_backend("tag-bridge").variant.name == "softmax-rank"
    assert load_evidence_backend("tag-bridge:demo-cnn", variant="best1").variant.name == "best1"
    assert load_evidence_backend("clap").model_name == "laion/clap-htsat-unfused"
    assert load_evidence_backend("clap:/models/my-clap").model_name == "/models/my-clap"
    with pytest.raises(AudioDissectError, match="unknown evidence backend"):
        load_evidence_backend("clip")


def test_a_registered_evidence_backend_composes_with_acoustic():
    from audiodissect.evidence import EVIDENCE_BACKENDS, CombinedEvidence

    class Fixed:
        name = "fixed"

        def __init__(self, value, **options):
            self.value, self.options = float(value or 1), options

    EVIDENCE_BACKENDS.register("Fixed", Fixed, argument="<value>", optional=True)
    try:
        plain = load_evidence_backend("fixed:2", batch_size=3)
        assert isinstance(plain, Fixed) and plain.value == 2.0 and plain.options["batch_size"] == 3
        combined = load_evidence_backend("FIXED+Acoustic")
        assert isinstance(combined, CombinedEvidence) and combined.base.value == 1.0
        assert not is_circular("yamnet", "fixed+acoustic")
    finally:
        EVIDENCE_BACKENDS.unregister("fixed")
    with pytest.raises(AudioDissectError, match="unknown evidence backend 'fixed'"):
        load_evidence_backend("fixed+acoustic")
    assert is_circular("demo-cnn", "tags:demo-cnn") and is_circular("yamnet", "tag_bridge")
