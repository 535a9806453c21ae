import numpy as np
import pytest

import transformers

from audiodissect.errors import AudioDissectError
from audiodissect.evidence import ClapEvidence
from audiodissect.probes.base import ArrayProbeSet, ClipInfo


def _byte_vocab():
    """A byte-level BPE vocabulary with one token per byte and no merges."""
    printable = set(range(33, 127)) | set(range(161, 173)) | set(range(174, 256))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for c in chars:
        vocab[c] = len(vocab)
    return vocab


@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory):
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    folder = tmp_path_factory.mktemp("tiny-clap")
    vocab = _byte_vocab()
    if int(transformers.__version__.split(".")[0]) >= 5:
        tokenizer = RobertaTokenizer(vocab=vocab, merges=[])
    else:  # transformers 4 reads the vocabulary from files
        import json

        (folder / "vocab.json").write_text(json.dumps(vocab))
        (folder / "merges.txt").write_text("#version: 0.2\n")
        tokenizer = RobertaTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    extractor = ClapFeatureExtractor(feature_size=16, sampling_rate=48000, hop_length=480, max_length_s=1,
                                     fft_window_size=512, truncation="rand_trunc", padding="repeatpad")
    config = ClapConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=37, max_position_embeddings=64, projection_dim=16),
        audio_config=dict(num_mel_bins=16, spec_size=64, window_size=4, patch_size=2, patch_stride=2,
                          hidden_size=32, patch_embeds_hidden_size=16, depths=[1, 1], num_heads=[2, 2],
                          num_hidden_layers=2, intermediate_size=37, projection_dim=16, enable_fusion=False),
        projection_dim=16)
    torch.manual_seed(0)
    ClapModel(config).save_pretrained(folder)
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return str(folder)


def _clips(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    return [np.sin(2 * np.pi * 440 * t).astype(np.float32) * 0.5,
            0.3 * rng.standard_normal(16000).astype(np.float32),
            np.sign(np.sin(2 * np.pi * 3 * t)).astype(np.float32) * 0.2]


def test_shapes_norms_and_evidence(tiny_clap):
    backend = ClapEvidence(tiny_clap, device="cpu", batch_size=2)
    assert backend.sample_rate == 48000
    audio = backend.audio_embeddings(_clips(), sample_rate=16000)
    text = backend.text_embeddings(["dog bark", "rain", "a siren"])
    assert audio.shape == (3, 16) and text.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(audio, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(text[0], text[1])  # different words, different embeddings
    e = backend.evidence(_clips(), ["dog bark", "rain", "a siren"], sample_rate=16000)
    assert e.shape == (3, 3) and e.dtype == np.float32
    np.testing.assert_allclose(e, audio @ text.T, atol=1e-5)
    assert np.all(np.abs(e) <= 1 + 1e-5)


def test_batching_and_repeats_do_not_change_rows(tiny_clap):
    clips = _clips()
    one = ClapEvidence(tiny_clap, device="cpu", batch_size=8).audio_embeddings(clips + [clips[0]], sample_rate=16000)
    small = ClapEvidence(tiny_clap, device="cpu", batch_size=1).audio_embeddings(clips + [clips[0]], sample_rate=16000)
    np.testing.assert_allclose(one, small, atol=1e-5)
    np.testing.assert_allclose(one[0], one[3], atol=1e-6)


def test_long_clip_is_windowed_not_cropped(tiny_clap):
    backend = ClapEvidence(tiny_clap, device="cpu")
    x = _clips()[1]
    long = np.concatenate([x, x, x])  # 3 s at 16 kHz = three 1 s windows of the same audio
    a, b = backend.audio_embeddings([long, long], sample_rate=16000)
    np.testing.assert_allclose(a, b, atol=1e-6)  # deterministic: no random crop
    single = backend.audio_embeddings([x], sample_rate=16000)[0]
    np.testing.assert_allclose(a, single, atol=1e-4)  # mean of three identical windows


def test_probe_input(tiny_clap):
    clips = _clips()
    probe = ArrayProbeSet(name="t", clips=[ClipInfo(f"c{i}", None) for i in range(3)], audio=clips,
                          sample_rate=16000, spec={})
    backend = ClapEvidence(tiny_clap, device="cpu")
    np.testing.assert_allclose(backend.evidence(probe, ["rain"]),
                               backend.evidence(clips, ["rain"], sample_rate=16000), atol=1e-6)


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(AudioDissectError, match="cannot load CLAP model"):
        ClapEvidence(str(tmp_path / "nothing-here")).text_embeddings(["x"])
