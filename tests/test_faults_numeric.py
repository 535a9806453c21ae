"""Fault injection, part 3: numbers that are not numbers (NaN, infinities, overflow).

A bad clip among good ones is named and left out, and every later stage runs
on the others; a unit that is NaN everywhere is named and zeroed; a model
whose weights are NaN, or that gives nothing finite, or that was never
loaded (the meta device), is a clear error before anything is written.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import audiodissect as ad
from audiodissect import Dissection
from audiodissect.errors import AudioDissectError
from audiodissect.progress import silent
from stage_fixtures import CLASSES, WaveNet

RATE = 16000


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))


def tones(n_per_label: int = 4) -> tuple[list[np.ndarray], list[str]]:
    """Seeded half-second tones of three labels."""
    rng = np.random.default_rng(0)
    t = np.arange(RATE // 2) / RATE
    waves, labels = [], []
    for k, label in enumerate(CLASSES):
        for i in range(n_per_label):
            waves.append((0.3 * np.sin(2 * np.pi * (200 + 300 * k + 7 * i) * t)
                          + 0.02 * rng.standard_normal(t.size)).astype(np.float32))
            labels.append(label)
    return waves, labels


def dissection(tmp_path, waves, labels, module=None, **options):
    probe = ad.clips(waves, sample_rate=RATE, labels=labels)
    module = module if module is not None else WaveNet()
    return Dissection(module, probe, out=tmp_path / "run", sample_rate=RATE, hook=silent,
                      preprocess=lambda ws: torch.tensor(np.stack(ws)), class_names=list(CLASSES), **options)


def describe_file(tmp_path, ids, labels):
    path = tmp_path / "descriptions.json"
    path.write_text(json.dumps({i: f"A {label} sound, take {k}." for k, (i, label) in enumerate(zip(ids, labels))}))
    return path


def test_one_clip_at_3e38_is_named_left_out_and_the_run_goes_on(tmp_path):
    waves, labels = tones()
    waves[5] = np.full_like(waves[5], 3e38)  # finite, but any weighted sum of it overflows
    lines = []
    d = dissection(tmp_path, waves, labels, echo=lines.append)
    acts = d.record(layers=["conv", "classifier"])
    bad = "clip00005"
    section = d.run_dir.stage("record")
    assert [c["id"] for c in section["dropped_clips"]] == [bad]
    assert "NaN or infinite values in layer 'conv'" in section["dropped_clips"][0]["reason"]
    assert any("left out 1 clips with NaN or infinite values: clip00005" in line for line in lines), lines
    assert [c.id for c in d.run_dir.clips()] == [f"clip{i:05d}" for i in range(len(waves)) if i != 5]
    assert acts["conv"].shape == (len(waves) - 1, 4) and np.isfinite(acts["conv"]).all()
    assert np.isfinite(d.run_dir.logits()).all() and len(d.run_dir.logits()) == len(waves) - 1
    # every later stage runs on the other clips, and so does the run reopened in another process
    ids = [f"clip{i:05d}" for i in range(len(waves))]
    d.describe(f"file:{describe_file(tmp_path, ids, labels)}")
    assert len(d.run_dir.descriptions()) == len(waves) - 1
    units = d.identify(methods=["db"], similarities=["cos3"])
    summaries = d.summarize()
    assert len(units) > 0 and len(summaries) > 0
    assert all(bad not in s["top_clips"] + s["bottom_clips"] for s in summaries)
    assert d.report().exists()
    again = Dissection.open(d.path, target=WaveNet(), probe=d.context.source_probe, sample_rate=RATE,
                            preprocess=lambda ws: torch.tensor(np.stack(ws)), class_names=list(CLASSES), hook=silent)
    assert len(again.probe) == len(waves) - 1 and bad not in {c.id for c in again.probe.clips}
    assert len(again.summarize()) == len(summaries)  # reused, nothing changed


def test_a_clip_with_nan_samples_is_named_and_never_reaches_the_model(tmp_path, caplog):
    waves, labels = tones()
    waves[2][100:103] = np.nan
    seen = []

    class Watch(WaveNet):
        def forward(self, x):
            seen.append(bool(torch.isfinite(x).all()))
            return super().forward(x)

    d = dissection(tmp_path, waves, labels, module=Watch())
    d.record(layers=["conv", "classifier"])
    (dropped,) = d.run_dir.stage("record")["dropped_clips"]
    assert dropped == {"id": "clip00002", "reason": "its audio holds 3 NaN or infinite samples of 8000"}
    assert all(seen)  # the model never saw a NaN
    assert any("clip00002 is left out" in r.getMessage() for r in caplog.records)


class NanUnit(torch.nn.Module):
    """Identity that makes unit 2 NaN on every clip (a unit's own fault, e.g. 0/0 in one channel)."""

    def forward(self, x):
        y = x.clone()
        y[:, 2] = float("nan")
        return y


class WithNanUnit(WaveNet):
    def __init__(self):
        super().__init__()
        self.probe_layer = NanUnit()

    def forward(self, x):
        h = torch.relu(self.conv(x.unsqueeze(1))).mean(dim=2)
        self.probe_layer(h)
        return self.classifier(h)


def test_a_unit_nan_on_every_clip_is_zeroed_and_named_and_no_clip_is_lost(tmp_path):
    waves, labels = tones()
    lines = []
    d = dissection(tmp_path, waves, labels, module=WithNanUnit(), echo=lines.append)
    acts = d.record(layers=["probe_layer", "classifier"])
    section = d.run_dir.stage("record")
    assert section["nonfinite_units"] == {"probe_layer": [2]} and section["dropped_clips"] == []
    assert (np.asarray(acts["probe_layer"])[:, 2] == 0).all() and np.isfinite(acts["probe_layer"]).all()
    assert len(d.run_dir.clips()) == len(waves)
    assert any("units of layer 'probe_layer' that are NaN or infinite on every clip" in line for line in lines)


def test_a_model_that_returns_nan_for_every_clip_is_a_clear_error(tmp_path):
    class Broken(WaveNet):
        def forward(self, x):
            return super().forward(x) * float("nan")

    waves, labels = tones()
    d = dissection(tmp_path, waves, labels, module=Broken())
    with pytest.raises(AudioDissectError, match="every value of the logits is NaN or infinite, on all 12 clips"):
        d.record(layers=["conv", "classifier"])
    assert not d.run_dir.has_stage("record")


def test_nan_weights_in_a_module_are_named_before_anything_runs(tmp_path):
    model = WaveNet()
    with torch.no_grad():
        model.classifier.weight[1, 2] = float("nan")
    waves, labels = tones()
    d = dissection(tmp_path, waves, labels, module=model)
    with pytest.raises(AudioDissectError, match=r"NaN or infinite weights in 1 tensors: classifier.weight \(1 of 12\)"):
        d.record(layers=["conv", "classifier"])
    assert not (tmp_path / "run" / "activations").exists()


def test_nan_weights_in_a_beats_checkpoint_are_named(tmp_path):
    from test_targets_beats import PRE_NORM, random_state

    from audiodissect.targets import load_target

    state = random_state(PRE_NORM, 0)
    state["encoder.layers.1.fc1.weight"][0, 0] = float("inf")
    torch.save({"cfg": dict(PRE_NORM), "model": state}, tmp_path / "nan.pt")
    with pytest.raises(AudioDissectError, match=r"NaN or infinite weights in 1 tensors: encoder.layers.1.fc1.weight"):
        load_target(f"beats:{tmp_path / 'nan.pt'}")


def test_a_model_on_the_meta_device_is_a_clear_error(tmp_path):
    with torch.device("meta"):
        model = WaveNet()
    waves, labels = tones()
    d = dissection(tmp_path, waves, labels, module=model)
    with pytest.raises(AudioDissectError, match="on the meta device") as info:
        d.record(layers=["conv", "classifier"])
    assert "load_state_dict" in info.value.hint
