"""A tiny recorded run for the stage tests: a generated three-label soundbank and a seeded two-layer model.

The soundbank has trumpet, organ and speech clips (6 each, 1 s; 15 probe and
3 held-out clips) and is generated once into the test's cache folder. The
model is Conv1d(1, 4, 256, stride 128) on the raw waveform, ReLU, mean over
time, Linear(4, 3) to one logit per label; its weights come from seed 0.
Descriptions are fixed sentences per label, so DB evidence is exact text.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from audiodissect import Dissection
from audiodissect.probes import load_probe
from audiodissect.progress import silent
from audiodissect.rundir import RunDir
from audiodissect.targets.base import Target

PROBE_OPTIONS = {"clips_per_label": 6, "labels": ["trumpet", "organ", "speech"], "duration": 1.0}
CLASSES = ["organ", "speech", "trumpet"]
SENTENCES = {
    "trumpet": "A bright brassy trumpet plays a short loud melody.",
    "organ": "A sustained church organ chord hums softly.",
    "speech": "A man speaks a few words in a calm voice.",
}


class WaveNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.conv = torch.nn.Conv1d(1, 4, 256, stride=128)
            self.classifier = torch.nn.Linear(4, 3)

    def forward(self, x):
        h = torch.relu(self.conv(x.unsqueeze(1))).mean(dim=2)
        return self.classifier(h)


def make_target() -> Target:
    return Target(name="wave-net", module=WaveNet(), sample_rate=16000,
                  preprocess=lambda ws: torch.tensor(np.stack(ws), dtype=torch.float32),
                  class_names=list(CLASSES), default_layers=["conv", "classifier"])


def tiny_probe():
    return load_probe("soundbank", **PROBE_OPTIONS)


def write_descriptions(path, probe, *, by="id"):
    """A JSON file mapping each clip's id to its label's sentence (plus its index, so texts differ)."""
    data = {c.id: f"{SENTENCES[c.label]} Take {i}." for i, c in enumerate(probe.clips)}
    path.write_text(json.dumps(data), encoding="utf-8")
    return data


def record_run(path) -> RunDir:
    """Record the tiny model over the tiny soundbank into `path` (needs AUDIODISSECT_CACHE set)."""
    Dissection(make_target(), tiny_probe(), out=path, hook=silent).record(["conv", "classifier"])
    return RunDir(path)
