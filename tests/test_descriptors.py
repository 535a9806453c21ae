import dataclasses
import itertools
import math

import numpy as np
import pytest

from audiodissect.descriptors import (
    DESCRIPTOR_WORDS,
    FRAME_WORDS,
    PHRASE_NOUNS,
    THRESHOLDS,
    Descriptors,
    descriptor_phrases,
    descriptor_sentence,
    descriptor_words,
    measure,
    vocabulary,
)
from audiodissect.errors import AudioDissectError

SR = 16000
T = np.arange(3 * SR) / SR


def sine(freq, amp=0.5):
    return amp * np.sin(2 * np.pi * freq * T)


def clicks(rate, amp=0.9):
    x = np.zeros(len(T))
    x[(np.arange(int(3 * rate)) * SR / rate + SR / (2 * rate)).astype(int)] = amp
    return x


def test_sine_440():
    d = measure(sine(440), SR)
    assert d.loudness_db == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.01)
    assert d.pitch_hz == pytest.approx(440, rel=0.005)
    assert d.pitchedness > 0.95
    assert d.brightness_hz == pytest.approx(440, rel=0.02)
    assert d.noisiness < 0.01
    assert d.sustain == pytest.approx(1.0)
    assert d.onset_rate == 0.0
    w = descriptor_words(d)
    assert (w["pitch"], w["noisiness"], w["envelope"], w["loudness"]) == ("mid-pitched", "tonal", "sustained", "loud")


def test_white_noise():
    x = 0.3 * np.random.default_rng(0).standard_normal(len(T))
    d = measure(x, SR)
    assert d.pitchedness < 0.4
    assert math.isnan(d.pitch_hz)
    # flat spectrum: centroid near a quarter of the rate, flatness near exp(-euler gamma)
    assert d.brightness_hz == pytest.approx(SR / 4, rel=0.05)
    assert d.noisiness == pytest.approx(math.exp(-0.5772), abs=0.05)
    assert d.onset_rate < 0.5  # no spurious onsets from the noise's own fluctuation
    w = descriptor_words(d)
    assert (w["pitch"], w["brightness"], w["noisiness"]) == ("unpitched", "bright", "noisy")


def test_click_train_8hz():
    d = measure(clicks(8), SR)
    assert d.onset_rate == pytest.approx(8.0, abs=0.4)
    assert d.rhythm_regularity > 0.9
    assert d.sustain < 0.25
    assert d.pitchedness < 0.5
    w = descriptor_words(d)
    assert (w["onsets"], w["envelope"], w["rhythm"], w["attack"]) == ("rapid", "percussive", "regular", "sharp")


def test_click_rate_follows_the_train():
    assert measure(clicks(2), SR).onset_rate == pytest.approx(2.0, abs=0.4)


@pytest.mark.parametrize("f0", [60, 80, 100])
def test_low_hum(f0):
    d = measure(sine(f0) + sine(2 * f0, 0.2), SR)
    assert d.pitch_hz == pytest.approx(f0, rel=0.01)
    assert d.brightness_hz < 3 * f0
    w = descriptor_words(d)
    assert (w["pitch"], w["brightness"]) == ("low-pitched", "dull")


def test_slow_ramp_is_a_soft_attack():
    env = np.minimum(T / 0.5, 1.0)  # linear rise over 0.5 s: 10% -> 90% takes 0.4 s
    d = measure(sine(440) * env, SR)
    assert d.attack_s == pytest.approx(0.4, abs=0.03)
    assert descriptor_words(d)["attack"] == "soft"


def test_quiet_and_sentence():
    d = measure(sine(1500, amp=0.01), SR)
    assert descriptor_words(d)["loudness"] == "quiet"
    assert descriptor_words(d)["pitch"] == "high-pitched"
    assert descriptor_sentence(d) == "A quiet, high-pitched, warm, tonal, sustained sound with sparse onsets and a sharp attack."


def test_sentence_with_rhythm_and_article():
    d = Descriptors(loudness_db=-20, pitch_hz=float("nan"), pitchedness=0.1, brightness_hz=3000,
                    noisiness=0.5, onset_rate=8, rhythm_regularity=0.95, attack_s=0.0, sustain=0.1,
                    duration_s=3.0)
    assert descriptor_sentence(d) == ("A moderate, unpitched, bright, noisy, percussive sound with rapid onsets "
                                      "in a regular rhythm and a sharp attack.")
    assert d.to_record()["pitch_hz"] is None


@pytest.mark.parametrize("bad", [np.zeros(100), np.array([]), np.array([0.1, np.nan])])
def test_bad_clips(bad):
    with pytest.raises(AudioDissectError):
        measure(bad, SR)


def band_descriptors():
    """One Descriptors per combination of bands: each measurement below, between and above its thresholds."""
    t = THRESHOLDS
    def three(cuts):
        return (cuts[0] - 0.01 * abs(cuts[0]) - 1e-3, (cuts[0] + cuts[1]) / 2, cuts[1] + 0.01 * abs(cuts[1]) + 1e-3)
    out = []
    for loud, pitch, bright, noise, rate, regular, attack, sustain in itertools.product(
            three(t["loudness_db"]), three(t["pitch_hz"]) + (float("nan"),), three(t["brightness_hz"]),
            three(t["noisiness"]), three(t["onset_rate"]), three(t["rhythm_regularity"]) + (float("nan"),),
            three(t["attack_s"]), three(t["sustain"])):
        out.append(Descriptors(loudness_db=loud, pitch_hz=pitch, pitchedness=0.9, brightness_hz=bright,
                               noisiness=noise, onset_rate=rate, rhythm_regularity=regular, attack_s=attack,
                               sustain=sustain, duration_s=3.0))
    return out


def test_vocabulary_covers_every_word_said():
    said_words, said_phrases = set(), set()
    for d in band_descriptors():
        said_words |= set(descriptor_words(d).values())
        sentence = descriptor_sentence(d)
        tokens = sentence.lower().rstrip(".").replace(",", "").split()
        assert set(tokens) <= vocabulary() | set(PHRASE_NOUNS.values()) | set(FRAME_WORDS), sentence
        said_phrases |= {f"{a} {b}" for a, b in zip(tokens, tokens[1:]) if b in PHRASE_NOUNS.values()}
    # every listed word is said by some clip, and nothing else is
    assert said_words == vocabulary() == {w for words in DESCRIPTOR_WORDS.values() for w in words}
    assert said_phrases == descriptor_phrases()
    assert {"loose rhythm", "steady onsets", "moderate attack", "sharp attack"} <= descriptor_phrases()
    assert len(descriptor_phrases()) == 9


def test_articles_and_no_unpitched_tonal():
    d = Descriptors(loudness_db=-10, pitch_hz=float("nan"), pitchedness=0.1, brightness_hz=500, noisiness=0.05,
                    onset_rate=2, rhythm_regularity=0.1, attack_s=0.1, sustain=0.9, duration_s=3.0)
    sentence = descriptor_sentence(d)
    assert sentence == ("A loud, unpitched, dull, sustained sound with steady onsets in an irregular rhythm and a "
                        "moderate attack.")
    assert "noisiness" not in descriptor_words(d)
    pitched = dataclasses.replace(d, pitch_hz=300.0, pitchedness=0.9)
    assert descriptor_words(pitched)["noisiness"] == "tonal" and ", tonal," in descriptor_sentence(pitched)


def test_a_clip_measured_before_in_the_process_is_not_measured_again(monkeypatch):
    """The captioner and the acoustic evidence measure a run's clips once between them: the same samples at
    the same rate give the kept descriptors; other samples, or another rate, are measured."""
    import audiodissect.descriptors as module

    monkeypatch.setattr(module, "_measured", type(module._measured)())
    computed = []
    real = module._measure
    monkeypatch.setattr(module, "_measure", lambda x, sr: computed.append(sr) or real(x, sr))
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    first = module.measure(tone, 16000)
    again = module.measure(tone.copy().astype(np.float64), 16000)  # the same samples, another array
    assert again is first and computed == [16000]
    louder = module.measure(tone * 2, 16000)
    assert computed == [16000, 16000] and louder.loudness_db > first.loudness_db + 5
    module.measure(tone, 22050)
    assert computed == [16000, 16000, 22050]
    monkeypatch.setattr(module, "MEASURED_KEPT", 1)
    module.measure(np.roll(tone, 7), 16000)
    assert len(module._measured) == 1  # bounded: the oldest are let go


def test_measure_many_measures_side_by_side_what_measure_measures_one_by_one(monkeypatch):
    import json

    import audiodissect.descriptors as module
    from audiodissect.threads import torch_threads

    rng = np.random.default_rng(5)
    t = np.arange(16000) / 16000
    clips = [(0.3 * np.sin(2 * np.pi * f * t) + 0.01 * rng.normal(size=t.size)).astype(np.float32)
             for f in (110, 440, 1500, 3000)] + [0.2 * rng.normal(size=8000).astype(np.float32)]
    monkeypatch.setattr(module, "_measured", type(module._measured)())
    with torch_threads(2):  # two threads
        many = module.measure_many(clips, 16000)
    monkeypatch.setattr(module, "_measured", type(module._measured)())
    one_by_one = [module.measure(c, 16000) for c in clips]
    assert [json.dumps(d.to_record()) for d in many] == [json.dumps(d.to_record()) for d in one_by_one]
    assert len({d.pitch_hz for d in many}) == len(clips)  # distinct clips, distinct measures

    silent = np.zeros(16000, np.float32)
    with torch_threads(2), pytest.raises(AudioDissectError, match="non-silent"):
        module.measure_many(clips[:2] + [silent] + clips[2:], 16000)
    kept = module.measure_many([clips[0], silent], 16000, unmeasurable="none")
    assert kept[1] is None and json.dumps(kept[0].to_record()) == json.dumps(many[0].to_record())
    with pytest.raises(AudioDissectError, match="unmeasurable"):
        module.measure_many(clips, 16000, unmeasurable="skip")
