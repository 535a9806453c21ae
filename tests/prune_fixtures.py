"""A hand-weighted two-class model and a recorded run directory for the pruning tests.

Model: x (B, 4) -> hidden = Linear(4, 3) with identity weights (h_k = x_k) -> ReLU ->
classifier = Linear(3, 2) with logit_trumpet = 2 h0 + h2 and logit_organ = 3 h1 + h2 + 0.5.
Trumpet clips are [t, 0, 0.5, 0] and organ clips [0, o, 0.5, 0], so hidden#0
carries "trumpet", hidden#1 "organ" and hidden#2 both.
"""

from __future__ import annotations

import numpy as np
import torch

from audiodissect import Dissection
from audiodissect.errors import AudioDissectError
from audiodissect.probes.base import ArrayProbeSet, ClipInfo
from audiodissect.progress import silent
from audiodissect.rundir import RunDir
from audiodissect.targets.base import Target

CLASSES = ["trumpet", "organ"]
W_OUT = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 1.0]])
B_OUT = np.array([0.0, 0.5])


class TwoClassNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(4, 3)
        self.act = torch.nn.ReLU()
        self.classifier = torch.nn.Linear(3, 2)
        self.calls = 0
        with torch.no_grad():
            self.hidden.weight.copy_(torch.eye(3, 4))
            self.hidden.bias.zero_()
            self.classifier.weight.copy_(torch.tensor(W_OUT, dtype=torch.float32))
            self.classifier.bias.copy_(torch.tensor(B_OUT, dtype=torch.float32))

    def forward(self, x):
        self.calls += 1
        return self.classifier(self.act(self.hidden(x)))


def reference_logits(x: np.ndarray, ablated=()) -> np.ndarray:
    """numpy logits of TwoClassNet for inputs (n, 4) with hidden units `ablated` (indices) zeroed."""
    h = np.maximum(x[:, :3], 0.0)
    h[:, list(ablated)] = 0.0
    return h @ W_OUT.T + B_OUT


class GuardedProbe(ArrayProbeSet):
    """Raises when a probe-split clip is read while ``guard`` is on."""

    guard = False

    def _read(self, index):
        if self.guard and self.clips[index].split != "heldout":
            raise AssertionError(f"probe clip {self.clips[index].id} was read during evaluation")
        return super()._read(index)


# (id, label, split, x)
CLIPS = [
    ("p0", "trumpet", "probe", [1.5, 0, 0.5, 0]),
    ("p1", "organ", "probe", [0, 1.5, 0.5, 0]),
    ("p2", "trumpet", "probe", [3.0, 0, 0.5, 0]),
    ("h0", "trumpet", "heldout", [1.0, 0, 0.5, 0]),
    ("h1", "trumpet", "heldout", [2.0, 0, 0.5, 0]),
    ("h2", "organ", "heldout", [0, 1.0, 0.5, 0]),
    ("h3", "organ", "heldout", [0, 2.0, 0.5, 0]),
    ("h4", "noise", "heldout", [0, 0, 0.5, 0]),
]
HELDOUT_X = np.array([c[3] for c in CLIPS if c[2] == "heldout" and c[1] in CLASSES])
HELDOUT_Y = np.array([CLASSES.index(c[1]) for c in CLIPS if c[2] == "heldout" and c[1] in CLASSES])


def make_target() -> Target:
    return Target(name="two-class", module=TwoClassNet(), sample_rate=100,
                  preprocess=lambda ws: torch.tensor(np.stack(ws), dtype=torch.float32), class_names=list(CLASSES))


def make_probe() -> GuardedProbe:
    clips = [ClipInfo(id=i, label=label, split=split) for i, label, split, _ in CLIPS]
    audio = [np.array(x, dtype=np.float32) for *_, x in CLIPS]
    return GuardedProbe(name="two-class", clips=clips, audio=audio, sample_rate=100, spec={"name": "two-class"})


def _identify(unit, method, similarity, concepts):
    layer, index = unit.split("#")
    return {"unit": unit, "layer": layer, "index": int(index), "method": method, "similarity": similarity,
            "concepts": concepts, "scores": [1.0 - 0.1 * k for k in range(len(concepts))]}


IDENTIFY = [
    _identify("hidden#0", "tab", "soft_wpmi", ["trumpet", "brass", "horn", "organ", "piano"]),
    _identify("hidden#1", "tab", "soft_wpmi", ["organ", "piano", "keys", "trumpet", "wind"]),
    _identify("hidden#2", "tab", "soft_wpmi", ["noise", "wind", "trumpet", "organ", "piano"]),
    _identify("classifier#0", "tab", "soft_wpmi", ["trumpet", "organ", "noise", "wind", "piano"]),
    _identify("classifier#1", "tab", "soft_wpmi", ["organ", "trumpet", "noise", "wind", "piano"]),
    _identify("hidden#0", "tab", "cos", ["organ", "trumpet", "noise", "wind", "piano"]),
    _identify("hidden#0", "db", "cos3", ["noise", "wind", "piano", "keys", "trumpet"]),
    _identify("hidden#1", "db", "cos3", ["Trumpet", "organ", "noise", "wind", "piano"]),
    _identify("hidden#2", "db", "cos3", ["organ", "noise", "wind", "piano", "keys"]),
]


def _summary(unit, nouns, acoustic):
    layer, index = unit.split("#")
    return {"unit": unit, "layer": layer, "index": int(index), "nouns": nouns, "acoustic_adjectives": acoustic,
            "adjectives": acoustic, "verbs": [], "prepositions": [], "kept_sentences": [" ".join(nouns)] if nouns else [],
            "removed_sentences": [], "summary_length": 10, "calibrated_summary": " ".join(nouns)}


SUMMARIZE = [
    _summary("hidden#0", ["trumpets", "brass"], ["bright"]),
    _summary("hidden#1", ["organs", "keys", "church"], []),
    _summary("hidden#2", ["wind"], ["loud", "harsh", "steady"]),
    _summary("classifier#0", ["trumpet"], []),
    _summary("classifier#1", ["organ"], []),
]


def make_run(path, *, with_units: bool = True):
    """Record the two-class model into a run directory; returns (run, target, probe) with the probe guarded."""
    target, probe = make_target(), make_probe()
    Dissection(target, probe, out=path, config={"record": {"batch_size": 3}}, hook=silent).record(
        ["hidden", "classifier"])
    run = RunDir(path)
    if with_units:
        run.write_units("identify", IDENTIFY)
        run.write_units("summarize", SUMMARIZE)
    probe.guard = True
    target.module.calls = 0
    return run, target, probe


def fake_encoder(table: dict[str, list[float]]):
    """An ``encode`` that looks texts up in `table` (rows normalised); unknown text is an error."""

    def encode(texts):
        rows = []
        for t in texts:
            if t not in table:
                raise AudioDissectError(f"no test vector for {t!r}")
            v = np.asarray(table[t], dtype=np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows)

    return encode
