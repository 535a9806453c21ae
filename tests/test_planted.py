"""Planted ground-truth units: exact detector outputs, recording, recovery arithmetic, the runner."""

import functools

import numpy as np
import pytest
import signals
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.planted import (
    ACOUSTIC_CONCEPTS,
    BandEnergy,
    ClassCopy,
    Noisiness,
    PitchRange,
    benchmark_concepts,
    default_detectors,
    format_table,
    plant_units,
    planted_class_count,
    planted_concepts,
    recovery,
    recovery_rows,
    run_planted,
)
from audiodissect.probes.base import ArrayProbeSet, ClipInfo
from audiodissect.progress import silent
from audiodissect.record import record_activations
from audiodissect.rundir import RunDir
from audiodissect.targets.base import Target

SR = 8000


tone = functools.partial(signals.tone, rate=SR)
noise = functools.partial(signals.noise, rate=SR)


class Stats(torch.nn.Module):
    """Logits = Linear(2, 3) of each clip's (RMS, peak): a tiny model with known outputs."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(2, 3)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]]))
            self.head.bias.copy_(torch.tensor([0.0, 0.5, -0.5]))

    def forward(self, x):
        return self.head(x)


def stats_target():
    def preprocess(waves):
        return torch.tensor(np.array([[np.sqrt(np.mean(w ** 2)), np.abs(w).max()] for w in waves],
                                     dtype=np.float32))

    return Target(name="stats", module=Stats(), sample_rate=SR, preprocess=preprocess,
                  class_names=["quiet thing", "peaky thing", "odd thing"])


def planted_outputs(target, waves):
    inputs = target.preprocess(waves)
    logits = target.forward(target.module.model, inputs["model_inputs"])
    with torch.no_grad():
        return target.module.planted(inputs["waveform"], inputs["lengths"], logits).numpy(), logits.numpy()


def test_class_copy_units_equal_the_wrapped_logits_and_logits_are_unchanged():
    base = stats_target()
    planted = plant_units(base, default_detectors(base.class_names))
    waves = [tone(200), noise(), tone(1000, amp=0.1)]
    out, logits = planted_outputs(planted, waves)
    np.testing.assert_array_equal(out[:, :3], logits)
    np.testing.assert_array_equal(planted.logits(waves).numpy(), base.logits(waves).numpy())
    assert planted_concepts(planted) == ["quiet thing", "peaky thing", "odd thing", *ACOUSTIC_CONCEPTS]
    assert planted_class_count(planted) == 3
    with pytest.raises(AudioDissectError, match="no planted layer"):
        planted_class_count(base)
    assert planted.default_layers == ["planted"] and planted.name == "planted:stats"


def test_band_energy_prefers_tones_in_its_band():
    target = plant_units(stats_target(), [BandEnergy(0, 500, "dull"), BandEnergy(2000, 4000, "bright")])
    out, _ = planted_outputs(target, [tone(200), tone(3000)])
    assert out[0, 0] > 0.99 and out[1, 0] < 0.01      # low band: the 200 Hz tone only
    assert out[1, 1] > 0.99 and out[0, 1] < 0.01      # high band: the 3 kHz tone only


def test_pitch_range_and_noise_detectors():
    target = plant_units(stats_target(), [PitchRange(40, 220, "low-pitched"), PitchRange(880, 4000, "high-pitched"),
                                          Noisiness("noisy")])
    out, _ = planted_outputs(target, [tone(110), tone(1200), noise(), tone(440)])
    low, high, noisy = out.T
    assert low[0] > 0.8 and low[1] < 0.05 and low[3] < 0.1
    assert high[1] > 0.8 and high[0] < 0.05 and high[3] < 0.1
    assert noisy[2] > 0.4 and noisy[0] < 0.05 and noisy[1] < 0.05
    assert low[2] < 0.2 and high[2] < 0.2          # noise is not pitched


def test_padding_is_ignored():
    target = plant_units(stats_target(), [Noisiness("noisy"), BandEnergy(0, 500, "dull")])
    alone, _ = planted_outputs(target, [tone(200, seconds=0.3)])
    padded, _ = planted_outputs(target, [tone(200, seconds=0.3), noise(seconds=1.0)])
    np.testing.assert_allclose(padded[0], alone[0], atol=1e-6)


def test_standard_recorder_records_the_planted_layer():
    base = stats_target()
    target = plant_units(base, default_detectors(base.class_names))
    waves = [tone(110), noise(), tone(1200), tone(300, amp=0.2)]
    clips = [ClipInfo(id=f"c{i}", label="x") for i in range(len(waves))]
    probe = ArrayProbeSet(name="t", clips=clips, audio=waves, sample_rate=SR, spec={"name": "t"})
    arrays, logits = record_activations(target, probe, ["planted"], batch_size=3, hook=silent)
    want, want_logits = planted_outputs(target, waves)
    assert arrays["planted"].shape == (4, 8)
    np.testing.assert_allclose(arrays["planted"], want, atol=1e-5)
    np.testing.assert_allclose(logits, want_logits, atol=1e-6)


def test_class_index_outside_the_model_is_an_error():
    with pytest.raises(AudioDissectError, match="outside the model's 3 classes"):
        plant_units(stats_target(), [ClassCopy(3, "x")])


def test_recovery_on_a_hand_made_case():
    scores = np.array([[0.9, 0.1, 0.0],    # truth 0: best
                       [0.5, 0.5, 0.2],    # truth 1: tied with 0 -> not top-1, still top-2
                       [0.3, 0.2, 0.1]])   # truth 2: last
    top1, top2 = recovery(scores, np.array([0, 1, 2]), k=2)
    assert top1.tolist() == [True, False, False]
    assert top2.tolist() == [True, True, False]
    rows = recovery_rows({("db", "cos3"): scores}, np.array([0, 1, 2]), n_classes=2)
    assert rows == [{"method": "db", "similarity": "cos3", "units": 3, "top1": 33.3, "top5": 100.0,
                     "class_top1": 50.0, "acoustic_top1": 0.0}]
    assert "classes top-1 %" in format_table(rows)


def test_benchmark_concepts():
    assert benchmark_concepts(["piano", "noisy"]) == ["piano", "noisy", "low-pitched", "high-pitched", "bright",
                                                      "dull"]


@pytest.mark.parametrize("variant,similarity", [("paper", "cos3"), ("robust", "cos")])
def test_run_planted_recovers_units_from_matching_evidence(tmp_path, variant, similarity):
    """Evidence that is a noisy copy of each planted unit must recover every unit at top-1.

    (The robust cos3 compares only a unit's upper half, so a copy of the whole column is not
    sure to win there: it is not the function to check copies with.)
    """
    base = stats_target()
    target = plant_units(base, default_detectors(base.class_names))
    rng = np.random.default_rng(0)
    waves = [tone(f, amp=a) for f, a in zip(rng.uniform(60, 3000, 24), rng.uniform(0.05, 0.9, 24))]
    waves += [noise(seed=s) * a for s, a in enumerate(rng.uniform(0.1, 2.0, 8))]
    clips = [ClipInfo(id=f"c{i}", label="x", split="probe" if i % 4 else "heldout") for i in range(len(waves))]
    probe = ArrayProbeSet(name="t", clips=clips, audio=waves, sample_rate=SR, spec={"name": "t"})
    concepts = benchmark_concepts(base.class_names)

    def evidence_fn(run, probe_, concepts_, methods):
        acts = np.asarray(run.activations("planted"))
        z = (acts - acts.mean(0)) / acts.std(0)
        return {"tab": z + 0.05 * rng.normal(size=z.shape)}

    from audiodissect import Dissection

    run = RunDir(tmp_path / "planted")
    with pytest.raises(AudioDissectError, match="no results of the .record. stage"):
        run_planted(run, target, probe, concepts=concepts, evidence_fn=evidence_fn)
    Dissection(target, probe, out=run.path, hook=silent).record(["planted"])
    rows = run_planted(run, target, probe, concepts=concepts, evidence_fn=evidence_fn, methods=["tab"],
                       similarities=[similarity], variant=variant)
    assert rows[0]["top1"] == 100.0
    assert (run.path / "planted" / "table.csv").read_text().splitlines()[0] == \
        "method,similarity,units,top1,top5,class_top1,acoustic_top1"
    units = run.read_units("planted")
    assert [u["truth"] for u in units] == concepts and all(u["concepts"][0] == u["truth"] for u in units)
