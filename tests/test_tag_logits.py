"""Patch pooling of tag logits, the shared per-run cache, and the default tag mapping on a tiny case."""

import numpy as np
import pytest
import torch

from audiodissect.probes.clip_audio import ClipAudio
from audiodissect.captioners.tags_descriptors import TagsDescriptorsCaptioner
from audiodissect.errors import AudioDissectError
from audiodissect.evidence import TagBridge, bridge_evidence, compute_evidence
from audiodissect.evidence.tag_logits import cached_tag_logits, patch_logits, pool_patches, tag_logits
from audiodissect.probes.base import ArrayProbeSet, ClipInfo

SR = 8000


class PatchTagger:
    """A tagger whose ``classifier`` gives per-patch logits (B, P, 2), like YAMNet's.

    A clip is cut into patches of 400 samples; patch features are (RMS, 1);
    tag 0 "Loud" = 10 * RMS, tag 1 "Silence" = 5 - 100 * RMS. The clip logits
    (``logits``) are the mean over patches, as the YAMNet target's forward.
    """

    name = "patch-tagger"
    sample_rate = SR
    class_names = ["Loud", "Silence"]

    def __init__(self):
        self.module = torch.nn.Module()
        self.module.classifier = torch.nn.Linear(2, 2)
        with torch.no_grad():
            self.module.classifier.weight.copy_(torch.tensor([[10.0, 0.0], [-100.0, 5.0]]))
            self.module.classifier.bias.zero_()
        self.calls = 0

    def logits(self, waveforms):
        self.calls += 1
        x = torch.tensor(np.stack([np.asarray(w, dtype=np.float32) for w in waveforms]))
        patches = x.reshape(x.shape[0], -1, 400)
        rms = patches.pow(2).mean(dim=2).sqrt()
        features = torch.stack([rms, torch.ones_like(rms)], dim=2)          # (B, P, 2)
        return self.module.classifier(features).mean(dim=1)


class WordEmbedder:
    name = "words"

    def __init__(self, vocab):
        self.vocab = list(vocab)

    def encode(self, texts):
        out = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().replace(",", " ").replace(".", " ").split():
                if w in self.vocab:
                    out[i, self.vocab.index(w)] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1)


def test_pool_patches_by_hand():
    x = np.array([[[0.0, -100.0], [2.0, 0.0]]])          # (1 clip, 2 patches, 2 tags)
    np.testing.assert_allclose(pool_patches(x, pooling="max"), [[2.0, 0.0]])
    np.testing.assert_allclose(pool_patches(x, pooling="mean"), [[1.0, -50.0]])
    # mean of sigmoids: tag 0 (0.5 + 0.880797) / 2, tag 1 (0 + 0.5) / 2 = 0.25
    p0 = (0.5 + 1 / (1 + np.exp(-2.0))) / 2
    np.testing.assert_allclose(pool_patches(x, pooling="mean-prob"),
                               [[np.log(p0 / (1 - p0)), np.log(0.25 / 0.75)]], rtol=1e-6)
    with pytest.raises(AudioDissectError, match="closest"):
        pool_patches(x, pooling="maxx")
    with pytest.raises(AudioDissectError, match=r"\(B, P, T\)"):
        pool_patches(x[0], pooling="max")


def _quiet_then_silent(amp):
    """A 400-sample sine patch of amplitude `amp`, then a patch of digital silence."""
    t = np.arange(400) / SR
    return np.concatenate([amp * np.sin(2 * np.pi * 200 * t), np.zeros(400)]).astype(np.float32)


def test_patch_logits_read_the_classifier_and_max_ignores_silent_patches():
    tagger = PatchTagger()
    waves = [_quiet_then_silent(0.5), _quiet_then_silent(0.1)]
    per_patch = patch_logits(tagger, waves)
    assert per_patch.shape == (2, 2, 2)
    rms = np.array([0.5, 0.1]) / np.sqrt(2)
    np.testing.assert_allclose(per_patch[:, 0, 0], 10 * rms, rtol=1e-5)
    np.testing.assert_allclose(per_patch[:, 1], [[0.0, 5.0], [0.0, 5.0]], atol=1e-6)
    pooled = tag_logits(tagger, waves, pooling="max")
    np.testing.assert_allclose(pooled[:, 0], 10 * rms, rtol=1e-5)           # the sounding patch speaks
    np.testing.assert_allclose(tag_logits(tagger, waves, pooling="mean")[:, 0], 5 * rms, rtol=1e-5)
    # a tagger without a per-patch classifier is scored by its clip logits
    del tagger.module.classifier
    tagger.logits = lambda w: torch.tensor([[1.0, 2.0]] * len(w))
    np.testing.assert_array_equal(patch_logits(tagger, waves), [[[1.0, 2.0]], [[1.0, 2.0]]])


def test_tag_logits_batches_by_length():
    tagger = PatchTagger()
    waves = [_quiet_then_silent(0.5), np.full(400, 0.2, np.float32), _quiet_then_silent(0.1)]
    out = tag_logits(tagger, waves, pooling="max", batch_size=8)
    assert tagger.calls == 2                                          # one batch per length, no padding
    np.testing.assert_allclose(out[1], [2.0, 5.0 - 20.0], rtol=1e-5)


def _probe():
    clips = [ClipInfo(f"c{i}", "x") for i in range(4)]
    audio = [_quiet_then_silent(a) for a in (0.1, 0.5, 0.3, 0.9)]
    return ArrayProbeSet(name="t", clips=clips, audio=audio, sample_rate=SR, spec={"name": "t"})


def test_cached_tag_logits_second_call_reads_the_file(tmp_path):
    tagger = PatchTagger()
    clips = [ClipAudio(f"c{i}", _quiet_then_silent(a), SR) for i, a in enumerate((0.1, 0.5, 0.3))]
    first = cached_tag_logits(tagger, clips, cache_dir=tmp_path, pooling="max", batch_size=2)
    assert tagger.calls == 2                                          # 2 batches of one pass
    assert sorted(p.name.rsplit("-", 1)[1] for p in tmp_path.glob("tag-logits-*.npy")) == \
        ["max.npy", "mean.npy", "prob.npy"]                           # every pooling kept
    again = cached_tag_logits(tagger, clips, cache_dir=tmp_path, pooling="max", batch_size=2)
    assert tagger.calls == 2                                          # served from the file
    np.testing.assert_array_equal(first, again)
    mean = cached_tag_logits(tagger, clips, cache_dir=tmp_path, pooling="mean")
    assert tagger.calls == 2                                          # another pooling, same pass
    np.testing.assert_allclose(mean[:, 0], first[:, 0] / 2, rtol=1e-5)  # half the patches are silent
    cached_tag_logits(tagger, clips[:2], cache_dir=tmp_path)
    assert tagger.calls == 3 and len(list(tmp_path.glob("tag-logits-*.npy"))) == 6  # other clips, other key
    with pytest.raises(AudioDissectError, match="unique"):
        cached_tag_logits(tagger, clips[:1] * 2, cache_dir=tmp_path)


def test_captioner_and_tag_bridge_tag_once_per_run(tmp_path):
    probe = _probe()
    tagger = PatchTagger()
    captioner = TagsDescriptorsCaptioner(tagger, cache_dir=tmp_path, top_k=1, pool=2)
    clips = [ClipAudio(c.id, probe.audio(i, sample_rate=SR), SR) for i, c in enumerate(probe.clips)]
    captioner.calibrate(clips)
    assert tagger.calls == 1
    texts = captioner.describe(clips)                                 # described from the reference rows
    assert tagger.calls == 1 and len(texts) == 4
    assert texts[3].startswith("Sounds of loud.")
    # max pooling: every clip has a silent patch, so "Silence" is 5 everywhere (z = 0) and never said;
    # the quietest clip has no tag above the reference mean
    assert not any("silence" in t for t in texts) and not texts[0].startswith("Sounds of")
    bridge = TagBridge(tagger, embedder=WordEmbedder(["loud", "silence"]))
    assert (captioner.pooling, bridge.pooling) == ("max", "mean")
    evidence = compute_evidence("tab", probe, ["loud", "silence"], backend=bridge, cache_dir=tmp_path)
    assert tagger.calls == 1                                          # the bridge read the captioner's pass
    assert bridge.cache_dir == tmp_path
    assert list(np.argsort(evidence[:, 0])) == [0, 2, 1, 3]
    # a clip outside the reference is tagged
    extra = ClipAudio("new", _quiet_then_silent(0.7), SR)
    captioner.describe([extra])
    assert tagger.calls == 2


def test_default_tag_mapping_on_a_tiny_case():
    """softmax-rank: rank-Gaussianised tags, tags within 0.1 of the concept's best, softmax(S / 0.05)."""
    from scipy.special import ndtri

    logits = np.array([[3.0, 0.0, 1.0], [1.0, 2.0, 0.0], [2.0, 1.0, 2.0]])    # (N=3 clips, T=3 tags)
    sim = np.array([[1.0, 0.95, 0.2],                                          # concept 0: tags 0 and 1
                    [0.1, 0.3, 0.9]])                                          # concept 1: tag 2 alone
    ranks = np.array([[3, 1, 2], [1, 3, 1], [2, 2, 3]])                      # each tag's ranks over clips
    scores = ndtri((ranks - 0.5) / 3)
    w0 = np.exp([0.0, -1.0]) / np.exp([0.0, -1.0]).sum()
    expected = np.stack([w0[0] * scores[:, 0] + w0[1] * scores[:, 1], scores[:, 2]], axis=1)
    np.testing.assert_allclose(bridge_evidence(logits, sim), expected, atol=1e-6)
