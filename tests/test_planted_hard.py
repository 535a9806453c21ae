"""Harder planted units: pitch bands, the speech detector, label units, and the benchmark that plants them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.evidence import LabelEvidence, WithLabels
from audiodissect.planted import (
    BenchmarkSetup,
    ClipIndicator,
    PitchBand,
    SpeechDetector,
    analyse,
    benchmark_setup,
    clip_digest,
    format_table,
    label_detectors,
    plant_units,
    recovery_rows,
    run_planted,
)
from audiodissect.probes.base import ArrayProbeSet, ClipInfo
from audiodissect.progress import silent
from audiodissect.record import record_activations
from audiodissect.rundir import RunDir
from audiodissect.targets.base import Target

SR = 16000


def tone(freq, seconds=1.0, amp=0.5, harmonics=1):
    t = np.arange(int(SR * seconds)) / SR
    return (amp * sum(np.sin(2 * np.pi * h * freq * t) / h for h in range(1, harmonics + 1))).astype(np.float32)


def syllables(seconds=2.0, seed=0):
    """Speech-like: at 4 per second, a 60 ms noise burst, 140 ms of a harmonic voice gliding up 50 Hz, 50 ms pause."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(int(seconds * 4)):
        t = np.arange(int(0.14 * SR)) / SR
        phase = 2 * np.pi * np.cumsum(120 + 50 * t / t[-1] + 10 * (k % 3)) / SR
        parts += [0.1 * rng.standard_normal(int(0.06 * SR)), 0.5 * sum(np.sin(h * phase) / h for h in range(1, 9)),
                  0.001 * rng.standard_normal(int(0.05 * SR))]
    return np.concatenate(parts).astype(np.float32)


def clicks(seconds=2.0):
    x = np.zeros(int(SR * seconds), dtype=np.float32)
    burst = np.random.default_rng(1).standard_normal(800) * np.exp(-np.arange(800) / 100)
    for k in range(int(seconds * 4)):
        x[k * SR // 4:k * SR // 4 + 800] = burst
    return x


def spectra_of(waves):
    lengths = [len(w) for w in waves]
    batch = np.zeros((len(waves), max(lengths)), dtype=np.float32)
    for i, w in enumerate(waves):
        batch[i, :len(w)] = w
    return analyse(torch.from_numpy(batch), torch.tensor(lengths), torch.zeros(len(waves), 1), sample_rate=SR)


def test_pitch_band_peaks_at_its_centre_and_falls_on_both_sides():
    out = PitchBand(440.0, 0.5, "mid-pitched")(spectra_of([tone(f) for f in (110, 220, 440, 880, 1760)])).numpy()
    assert out[2] > 0.9                                   # the centre
    assert 0.05 < out[1] < 0.25 and 0.05 < out[3] < 0.25  # one octave off: about exp(-2) = 0.14
    assert out[0] < 0.01 and out[4] < 0.01                # two octaves off
    assert out[1] < out[2] > out[3]                       # not monotonic in pitch
    with pytest.raises(AudioDissectError, match="positive centre and width"):
        PitchBand(440.0, 0.0, "x")


def test_speech_detector_fires_on_syllables_only():
    waves = [syllables(), syllables(seed=3), tone(150, 2.0, harmonics=5), tone(440, 2.0, harmonics=5), clicks(),
             (0.3 * np.random.default_rng(0).standard_normal(2 * SR)).astype(np.float32)]
    out = SpeechDetector()(spectra_of(waves)).numpy()
    assert out[0] > 0.1 and out[1] > 0.1
    assert out[2:].max() < 0.01                           # held notes, drum clicks, noise


def test_clip_digest_ignores_trailing_zero_padding_only():
    x = tone(300, 0.1)
    assert clip_digest(x) == clip_digest(np.r_[x, np.zeros(50, dtype=np.float32)])
    assert clip_digest(x) != clip_digest(np.r_[np.zeros(1, dtype=np.float32), x])
    assert clip_digest(x) != clip_digest(x * np.float32(1.0001))


class Silent(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(x.shape[0], 2)


def _probe():
    waves = [tone(200, 0.3), tone(300, 0.5), tone(400, 0.3), tone(500, 0.4), tone(600, 0.3)]
    clips = [ClipInfo(id=f"c{i}", label=label) for i, label in enumerate(["sitar", "harp", "sitar", "organ", "harp"])]
    return ArrayProbeSet(name="t", clips=clips, audio=waves, sample_rate=SR, spec={"name": "t"})


def _target():
    return Target(name="silent", module=Silent(), sample_rate=SR, preprocess=lambda w: torch.zeros(len(w), 1),
                  class_names=["a", "b"])


def test_label_units_fire_exactly_on_their_labels_clips_in_any_batch():
    probe = _probe()
    detectors = label_detectors(probe, {"sitar": "group 1", "harp": "group 2"}, sample_rate=SR)
    assert [d.concept for d in detectors] == ["group 1", "group 2"]
    assert all(isinstance(d, ClipIndicator) and d.group == "label" for d in detectors)
    target = plant_units(_target(), detectors)
    for batch_size in (1, 2, 5):                          # padded with clips of other lengths, or alone
        arrays, _ = record_activations(target, probe, ["planted"], batch_size=batch_size, hook=silent)
        np.testing.assert_array_equal(arrays["planted"], [[1, 0], [0, 1], [1, 0], [0, 0], [0, 1]])
    with pytest.raises(AudioDissectError, match="no clips labelled 'flute'"):
        label_detectors(probe, {"flute": "group 3"}, sample_rate=SR)


def test_benchmark_setup_adds_each_extra_and_its_concepts():
    probe = _probe()
    setup = benchmark_setup(["sitar", "harp"], extras=["speech", "labels", "bands", "registers"], probe=probe,
                            sample_rate=SR)
    assert isinstance(setup, BenchmarkSetup)
    assert [d.concept for d in setup.detectors] == [
        "sitar", "harp", "low-pitched", "high-pitched", "noisy", "bright", "dull",
        "low-pitched", "mid-pitched", "high-pitched", "mid-pitched", "speech", "group 1", "group 2"]
    assert [d.group for d in setup.detectors][-7:] == ["band", "band", "band", "acoustic", "speech", "label", "label"]
    assert setup.concepts == ["sitar", "harp", "low-pitched", "high-pitched", "noisy", "bright", "dull", "mid-pitched",
                              "speech", "group 1", "group 2"]
    assert setup.label_names == {"harp": "group 1", "organ": "group 2"}      # the first two labels, sorted
    assert benchmark_setup(["a"], acoustic=False).label_names == {}
    with pytest.raises(AudioDissectError, match="unknown planted extra 'band'"):
        benchmark_setup(["a"], extras=["band"])
    with pytest.raises(AudioDissectError, match="need the probing set"):
        benchmark_setup(["a"], extras=["labels"])


def test_recovery_rows_by_group_and_their_table():
    scores = np.eye(4)
    scores[3] = [0.0, 0.0, 1.0, 0.5]                     # the label unit is named wrongly
    rows = recovery_rows({("tab", "cos"): scores}, np.arange(4), n_classes=1,
                         groups=["class", "acoustic", "band", "label"])
    assert rows == [{"method": "tab", "similarity": "cos", "units": 4, "top1": 75.0, "top5": 100.0,
                     "class_top1": 100.0, "acoustic_top1": 100.0, "band_top1": 100.0, "label_top1": 0.0}]
    text = format_table(rows)
    assert "bands top-1 %" in text and "labels top-1 %" in text and "speech" not in text
    with pytest.raises(AudioDissectError, match="3 unit groups for 4"):
        recovery_rows({("tab", "cos"): scores}, np.arange(4), n_classes=1, groups=["class"] * 3)


def test_label_units_are_named_by_renamed_label_evidence_only(tmp_path):
    # 40 clips of 4 labels; the label units fire on "harp" and "organ" clips, named "group 1" and "group 2"
    rng = np.random.default_rng(0)
    labels = ["harp", "organ", "sitar", "flute"] * 10
    waves = [tone(f, 0.25) for f in rng.uniform(100, 2000, 40)]
    clips = [ClipInfo(id=f"c{i}", label=label) for i, label in enumerate(labels)]
    probe = ArrayProbeSet(name="t", clips=clips, audio=waves, sample_rate=SR, spec={"name": "t"})
    setup = benchmark_setup(None, acoustic=False, extras=["labels"], probe=probe, sample_rate=SR)
    target = plant_units(_target(), setup.detectors)

    class Noise:
        name = "noise"
        cache_dir = None

        def evidence(self, probe_, concepts):
            return np.random.default_rng(1).random((len(probe_.clips), len(concepts))).astype(np.float32)

    def evidence_fn(run, probe_, concepts, methods):
        return {"tab": Noise().evidence(probe_, concepts),
                "labels": WithLabels(Noise(), rename=setup.label_names).evidence(probe_, concepts)}

    from audiodissect import Dissection

    Dissection(target, probe, out=tmp_path / "p", hook=silent).record(["planted"])
    rows = run_planted(RunDir(tmp_path / "p"), target, probe, concepts=setup.concepts + ["piano"],
                       evidence_fn=evidence_fn, methods=["tab", "labels"], similarities=["cos", "wpmi"])
    top1 = {(r["method"], r["similarity"]): r["label_top1"] for r in rows}
    assert top1[("labels", "cos")] == top1[("labels", "wpmi")] == 100.0
    assert LabelEvidence(rename=setup.label_names).covered(["group 1", "harp"], probe).tolist() == [True, False]
