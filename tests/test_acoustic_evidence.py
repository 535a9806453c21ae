"""Acoustic evidence: measured qualities as evidence columns for acoustic words."""

from __future__ import annotations

import numpy as np
import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.evidence import (AcousticEvidence, CombinedEvidence, default_acoustic_concepts, is_circular,
                                   load_evidence_backend, load_vocabulary)
from audiodissect.evidence.acoustic import FEATURES, acoustic_columns, memberships, rank_gaussian

SR = 16000


def _tone(hz: float, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _clips() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    noise = (0.3 * rng.standard_normal(SR)).astype(np.float32)
    return [_tone(110), _tone(1500), noise, _tone(440)]


def test_vocabulary_covers_words_and_aliases():
    v = load_vocabulary()
    assert v.covered(["Low Pitched", "deep", "dog", "BRIGHT", "muffled"]).tolist() == [True, True, False, True, True]
    assert v.lookup("shrill").word == "high-pitched"
    assert v.words["low-pitched"].antonym == "high-pitched"
    assert default_acoustic_concepts() == ["low-pitched", "mid-pitched", "high-pitched", "noisy", "bright", "dull"]
    assert [v.lookup(x).word for x in ("mid-register", "Mid Range", "medium pitched", "low register")] == \
        ["mid-pitched", "mid-pitched", "mid-pitched", "low-pitched"]


def test_bad_vocabulary_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "v.toml"
    bad.write_text('[words.x]\nfeature = "colour"\nside = "above"\nedge = 1\nwidth = 1\n')
    with pytest.raises(AudioDissectError, match="unknown feature 'colour'"):
        load_vocabulary(bad)
    bad.write_text('[words.x]\nfeature = "sustain"\nside = "above"\nedge = 1\nwidth = 1\ngate = "y"\n')
    with pytest.raises(AudioDissectError, match="gate 'y'"):
        load_vocabulary(bad)


def test_memberships_follow_the_edges_and_gates():
    v = load_vocabulary()
    col = {f: i for i, f in enumerate(FEATURES)}
    feats = np.zeros((3, len(FEATURES)))
    feats[:, col["pitch_hz"]] = [100.0, 1000.0, np.nan]
    feats[:, col["pitchedness"]] = [0.95, 0.95, 0.1]
    m = memberships(feats, [v.words["low-pitched"], v.words["high-pitched"]], v)
    assert m.shape == (3, 2)
    assert m[0, 0] > 0.9 and m[0, 1] < 0.01
    assert m[1, 1] > 0.6 and m[1, 0] < 0.01
    assert m[2].tolist() == [0.0, 0.0]   # no f0: neither


def test_registers_of_tones_of_known_pitch():
    # tones from 2 octaves below to 1 octave above the mid band (220-880 Hz), then white noise
    freqs = [110.0, 120.0, 311.0, 440.0, 622.0, 1760.0]
    rng = np.random.default_rng(1)
    clips = [_tone(f) for f in freqs] + [(0.3 * rng.standard_normal(SR)).astype(np.float32)]
    v = load_vocabulary()
    words = [v.words[w] for w in ("low-pitched", "mid-pitched", "high-pitched")]
    m = memberships(AcousticEvidence().features(clips), words, v)                 # (7, 3)
    assert np.argmax(m[:6], axis=1).tolist() == [0, 0, 1, 1, 1, 2]              # each tone in its own register
    assert m[2:5, 1].min() > 0.8                                                 # 311, 440, 622 Hz: mid
    assert m[[0, 1, 5], 1].max() < 0.05                                          # 110, 120, 1760 Hz: not mid
    assert m[6].tolist() == [0.0, 0.0, 0.0]                                      # noise: no pitch, no register
    ev = AcousticEvidence().evidence(clips, ["mid-pitched", "mid-register"])
    assert int(np.argmax(ev[:, 0])) in (2, 3, 4) and np.array_equal(ev[:, 0], ev[:, 1])


def test_mid_band_edges_are_half_way():
    v = load_vocabulary()
    col = {f: i for i, f in enumerate(FEATURES)}
    feats = np.zeros((2, len(FEATURES)))
    feats[:, col["pitch_hz"]] = [220.0, 880.0]
    feats[:, col["pitchedness"]] = 1.0
    m = memberships(feats, [v.words["mid-pitched"]], v)[:, 0]
    # one edge at 0.5, the other 2 octaves (8 widths) off, the gate 8 widths above its edge
    np.testing.assert_allclose(m, 0.5 * (1 + np.tanh(0.5 * 8.0)) * 0.5, rtol=1e-3)


def test_rank_gaussian_ties_share_a_value():
    out = rank_gaussian(np.array([[0.0], [0.0], [1.0], [2.0]]))
    assert out[0, 0] == out[1, 0] < out[2, 0] < out[3, 0]
    from scipy.special import ndtri

    np.testing.assert_allclose(out[:, 0], ndtri(np.array([0.25, 0.25, 0.625, 0.875])))


def test_evidence_ranks_the_right_clip_first():
    concepts = ["low-pitched", "high-pitched", "noisy", "bright", "dull", "dog"]
    ev = AcousticEvidence().evidence(_clips(), concepts)
    assert ev.shape == (4, 6) and ev.dtype == np.float32
    assert int(np.argmax(ev[:, 0])) == 0      # 110 Hz
    assert int(np.argmax(ev[:, 1])) == 1      # 1.5 kHz
    assert int(np.argmax(ev[:, 2])) == 2      # white noise
    assert int(np.argmax(ev[:, 3])) == 2      # noise is brightest
    assert int(np.argmax(ev[:, 4])) == 0      # 110 Hz is dullest
    assert np.all(ev[:, 5] == 0)              # not an acoustic word


class _Base:
    name = "fake-base"
    cache_dir = None

    def __init__(self):
        self.asked = None

    def settings(self):
        return {"backend": self.name}

    def evidence(self, clips, concepts):
        self.asked = list(concepts)
        return np.full((len(clips), len(concepts)), 7.0, dtype=np.float32)


def test_combined_takes_acoustic_columns_and_keeps_the_rest():
    base = _Base()
    combined = CombinedEvidence(base)
    ev = combined.evidence(_clips(), ["dog", "low-pitched", "trumpet"])
    assert base.asked == ["dog", "trumpet"]
    assert np.all(ev[:, [0, 2]] == 7.0)
    np.testing.assert_allclose(ev[:, 1], AcousticEvidence().evidence(_clips(), ["low-pitched"])[:, 0])
    assert combined.name == "fake-base+acoustic"
    assert set(combined.settings()) == {"base", "acoustic", "combine"}


def test_specs_and_circularity():
    assert isinstance(load_evidence_backend("acoustic"), AcousticEvidence)
    combined = load_evidence_backend("tag-bridge:yamnet+acoustic")
    assert isinstance(combined, CombinedEvidence) and combined.base.tagger_name == "yamnet"
    assert is_circular("yamnet", combined) and is_circular("yamnet", "tag-bridge+acoustic")
    assert not is_circular("demo-cnn", "tag-bridge+acoustic")
    with pytest.raises(AudioDissectError):
        load_evidence_backend("nope+acoustic")


def test_acoustic_columns_none_covered():
    ev, covered = acoustic_columns(np.zeros((2, len(FEATURES))), ["dog", "cat"])
    assert not covered.any() and np.all(ev == 0)


def test_mentioned_words_skip_negations():
    vocab = load_vocabulary()
    assert [w.word for w in vocab.mentioned("Bass guitar. Low-pitched and dull, not bright.")] == \
        ["low-pitched", "dull"]
    assert [w.word for w in vocab.mentioned("A deep, booming drum.")] == ["low-pitched", "loud"]
    assert vocab.mentioned("most of the clips feature trumpet") == []
    assert [w.word for w in vocab.mentioned("A mid-register hum, not high-pitched.")] == ["mid-pitched"]


def test_combined_averages_a_sentence_with_the_words_it_names():
    base = _Base()
    combined = CombinedEvidence(base)
    ev = combined.evidence(_clips(), ["Trumpet. Low-pitched and dull.", "trumpet"])
    assert base.asked == ["Trumpet. Low-pitched and dull.", "trumpet"]
    measured = AcousticEvidence().evidence(_clips(), ["low-pitched", "dull"])
    np.testing.assert_allclose(ev[:, 0], (7.0 + measured.sum(axis=1)) / 3, rtol=1e-5)
    assert np.all(ev[:, 1] == 7.0)


def test_audio_text_predictor_with_a_combined_backend(tmp_path):
    from audiodissect.scoring.audio_text import AudioTextEvidence

    class _Probe:
        name = "tones"

        def __init__(self):
            self.waves = _clips()
            self.clips = [type("Clip", (), {"id": str(i)})() for i in range(len(self.waves))]

        def __len__(self):
            return len(self.waves)

        def content_key(self):
            return "tones-v1"

        def audio(self, i, sample_rate=SR):
            return self.waves[i]

    base = _Base()
    base.sample_rate = SR
    predictor = AudioTextEvidence(CombinedEvidence(base), _Probe(), [0, 2], cache_dir=tmp_path)
    out = predictor(["high-pitched", "noisy", "dog"])
    assert out.shape == (2, 3)
    assert out[1, 1] > out[0, 1]              # the noise clip is the noisy one
    assert np.all(out[:, 2] == 7.0) and base.asked == ["dog"]
    assert list(tmp_path.glob("acoustic-features-*.npy"))   # measured once per probing set, cached
