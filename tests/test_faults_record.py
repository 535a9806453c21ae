"""Fault injection, part 5: models whose shape the recording must not guess (layers called several times, outputs
that are tuples or dicts, layouts from the command line, clips shorter than the model's input, tiny labels).

The models are tiny hand-built modules with known weights, so the expected
activations are exact numbers.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

import audiodissect as ad
from audiodissect import Dissection
from audiodissect.progress import silent
from audiodissect.record import record_waveforms
from audiodissect.targets import from_module
from stage_fixtures import CLASSES, WaveNet
from test_faults import cli

RATE = 16000


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))


class Scale(torch.nn.Module):
    """Multiplies its input by a fixed weight per unit: (B, T, 2) -> (B, T, 2)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]), requires_grad=False)

    def forward(self, x):
        return x * self.weight


class Chunked(torch.nn.Module):
    """Runs `cell` once per chunk of the input (a recurrent cell's pattern): chunks of 2, 3 and 1 frames."""

    def __init__(self):
        super().__init__()
        self.cell = Scale()
        self.head = torch.nn.Linear(2, 3)

    def forward(self, x):  # x: (B, 6, 2)
        outs = [self.cell(x[:, :2]), self.cell(x[:, 2:5]), self.cell(x[:, 5:])]
        return self.head(torch.cat(outs, dim=1).mean(dim=1))


def frames_target(module):
    """Each clip's 12 samples as 6 frames of 2 values: (B, 6, 2); units on the last axis."""
    return from_module(module, sample_rate=RATE, preprocess=lambda ws: torch.tensor(np.stack(ws)).reshape(-1, 6, 2),
                       layouts={"cell": "BTC"})


@pytest.mark.parametrize("pool", ["mean", "max", "first"])
def test_a_layer_called_per_chunk_is_pooled_over_every_call(pool, caplog):
    waves = [np.arange(12, dtype=np.float32) + 10 * k for k in range(3)]
    with caplog.at_level(logging.WARNING, logger="audiodissect"):
        acts, _ = record_waveforms(frames_target(Chunked()), waves, ["cell"], pool=pool, hook=silent)
    frames = np.stack(waves).reshape(3, 6, 2) * np.array([1.0, -2.0])  # every call's output, stacked along time
    expected = {"mean": frames.mean(axis=1), "max": frames.max(axis=1), "first": frames[:, 0]}[pool]
    np.testing.assert_allclose(acts["cell"], expected, rtol=1e-6)
    assert any("layer 'cell' runs 3 times in one forward pass" in r.getMessage() for r in caplog.records)


def test_calls_with_different_unit_counts_are_a_clear_error():
    class Shifting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = torch.nn.Identity()

        def forward(self, x):
            self.cell(x[:, :, :1])
            return self.cell(x)

    target = frames_target(Shifting())
    with pytest.raises(ad.AudioDissectError, match=r"layer 'cell' ran several times .* different unit counts \(1, "
                                                   r"then 2\)"):
        record_waveforms(target, [np.zeros(12, np.float32) + 1], ["cell"], hook=silent)


@pytest.mark.parametrize("shape", ["tuple", "dict"])
def test_logits_inside_a_tuple_or_dict_are_found(shape, caplog):
    class Wrapped(WaveNet):
        def forward(self, x):
            h = torch.relu(self.conv(x.unsqueeze(1))).mean(dim=2)
            logits = self.classifier(h)
            return (h.unsqueeze(1).repeat(1, 5, 1), logits) if shape == "tuple" else {"hidden": h, "logits": logits}

    waves = [np.sin(np.arange(4000) * (0.01 + 0.01 * k)).astype(np.float32) for k in range(3)]
    target = from_module(Wrapped(), sample_rate=RATE, preprocess=lambda ws: torch.tensor(np.stack(ws)))
    with caplog.at_level(logging.WARNING, logger="audiodissect"):
        acts, logits = record_waveforms(target, waves, ["classifier"], hook=silent)
    assert logits.shape == (3, 3)
    np.testing.assert_allclose(logits, acts["classifier"], rtol=1e-6)
    assert not [r for r in caplog.records if "no clip logits" in r.getMessage()]
    assert target.logits(waves).shape == (3, 3)


def test_an_output_without_logits_is_said_once():
    class Hidden(WaveNet):
        def forward(self, x):
            return {"hidden": torch.relu(self.conv(x.unsqueeze(1)))}

    waves = [np.ones(4000, np.float32) * (k + 1) for k in range(2)]
    target = from_module(Hidden(), sample_rate=RATE, preprocess=lambda ws: torch.tensor(np.stack(ws)))
    logger = logging.getLogger("audiodissect")
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        _, logits = record_waveforms(target, waves + [np.ones(3000, np.float32)], ["conv"], hook=silent)
    finally:
        logger.removeHandler(handler)
    assert logits.shape == (3, 0)
    warned = [m for m in seen if "no clip logits" in m]
    assert len(warned) == 1 and "a dict with keys 'hidden'" in warned[0] and "output_layout" in warned[0]


def test_layouts_from_the_command_line(tmp_path, capsys):
    audio = tmp_path / "audio"
    for label in ("a", "b"):
        (audio / label).mkdir(parents=True)
        for k in range(3):
            import soundfile as sf

            sf.write(audio / label / f"{label}{k}.wav", (0.1 * np.sin(np.arange(12000) * (k + 1) * 0.01)).astype(
                np.float32), RATE)
    factory_dir = tmp_path / "pkg"
    factory_dir.mkdir()
    (factory_dir / "frames_model.py").write_text(FRAMES_MODEL)
    import sys

    sys.path.insert(0, str(factory_dir))
    try:
        from audiodissect.cli._options import parse_layouts

        assert parse_layouts(["cell=BTC", "head.*=(BT)C"]) == {"cell": "BTC", "head.*": "(BT)C"}
        with pytest.raises(ad.AudioDissectError, match="layout 'BXQ' for layer 'cell' lacks the clip axis B or the unit axis C"):
            parse_layouts(["cell=BXQ"])
        # without a layout the unit axis of `cell` (an Identity) cannot be told: an error asking for it
        d = Dissection(factory="frames_model:build", probe=str(audio), out=tmp_path / "plain", hook=silent)
        with pytest.raises(ad.AudioDissectError, match="cell"):
            d.record(layers=["cell"])
        code, out, err = cli(capsys, "record", "--model", "demo-cnn", "--layout", "cell", "--out", tmp_path / "x")
        assert code == 2 and "malformed --layout 'cell'" in err
        config = ad.RunConfig(out=str(tmp_path / "run"))
        config.probe.name, config.probe.root = "folder", str(audio)
        config.record.layouts = {"cell": "BTC"}
        d = Dissection(factory="frames_model:build", config=config, hook=silent)
        acts = d.record(layers=["cell"])
        assert acts["cell"].shape == (6, 2)
        assert json.loads((tmp_path / "run" / "config.json").read_text())["record"]["layouts"] == {"cell": "BTC"}
    finally:
        sys.path.remove(str(factory_dir))


FRAMES_MODEL = '''
import numpy as np
import torch
from audiodissect.targets import from_module


class Frames(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = torch.nn.Identity()

    def forward(self, x):
        return self.cell(x).mean(dim=1)


def build():
    return from_module(Frames(), sample_rate=16000,
                       preprocess=lambda ws: torch.tensor(np.stack(ws))[:, :12000].reshape(len(ws), 6000, 2))
'''


def test_clips_shorter_than_the_models_input_are_counted_by_the_stated_rule(tmp_path):
    rng = np.random.default_rng(0)
    lengths = [100, 200, 300, 4000, 4000, 4000]
    waves = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]
    target = ad.Target(name="wave-net", module=WaveNet(), sample_rate=RATE, min_samples=1000,
                       preprocess=lambda ws: torch.tensor(np.stack(ws)), class_names=list(CLASSES))
    lines = []
    d = Dissection(target, ad.clips(waves, sample_rate=RATE, labels=["a", "b"] * 3), out=tmp_path / "run",
                   hook=silent, echo=lines.append)
    acts = d.record(layers=["conv"])
    section = d.run_dir.stage("record")
    assert section["padded_clips"] == 3 and section["padded_examples"] == ["clip00000", "clip00001", "clip00002"]
    assert "3 of 6 clips are shorter than the model's shortest input (0.0625 s) and were zero-padded to it" in lines
    padded = np.pad(waves[0], (0, 900))  # the rule: zero-padded at the end to min_samples
    alone, _ = record_waveforms(target, [padded], ["conv"], hook=silent)
    np.testing.assert_allclose(acts["conv"][0], alone["conv"][0], rtol=1e-6)


def test_a_label_with_one_clip_is_named(tmp_path, caplog):
    rng = np.random.default_rng(1)
    waves = [(0.1 * rng.standard_normal(4000)).astype(np.float32) for _ in range(11)]
    labels = ["organ"] * 5 + ["speech"] * 5 + ["trumpet"]
    lines = []
    d = Dissection(WaveNet(), ad.clips(waves, sample_rate=RATE, labels=labels), out=tmp_path / "run",
                   sample_rate=RATE, preprocess=lambda ws: torch.tensor(np.stack(ws)), class_names=list(CLASSES),
                   hook=silent, echo=lines.append)
    with caplog.at_level(logging.WARNING, logger="audiodissect"):
        d.record(layers=["conv"])
    one = d.run_dir.stage("record")["one_split_labels"]
    assert one == {"trumpet": {"split": "probe", "clips": 1}}
    assert any("1 labels have clips in one split only: 'trumpet' (1 clip, all probe)" in line for line in lines)
    assert any("'trumpet' (1 clip, all probe)" in r.getMessage() for r in caplog.records)
