"""Batch invariance and peak memory of activation recording on the demo CNN (random init).

``python bench/record_batch_invariance.py invariance``: five 1 s and five 4 s
clips recorded with batch size 32 and with batch size 1; prints the largest
relative difference of the 1 s clips' pooled activations per layer and how
many of them change predicted class.

``python bench/record_batch_invariance.py memory``: one 10-minute clip among
31 clips of 1 s, batch size 32; run it under ``/usr/bin/time -v`` for the
peak memory (maximum resident set size).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from audiodissect.progress import silent
from audiodissect.record import record_waveforms
from audiodissect.targets.demo_cnn import DemoCNN, make_target

SR = 16000


def demo_target():
    torch.manual_seed(0)
    model = DemoCNN(n_classes=10)
    return make_target(model, [f"c{i}" for i in range(10)])


def clips(seconds, seed):
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(int(s * SR))).astype(np.float32) for s in seconds]


def invariance() -> None:
    target = demo_target()
    waves = clips([1.0] * 5 + [4.0] * 5, 0)
    layers = ["features.conv1", "features.conv2", "features.conv3", "features.conv4", "fc", "classifier"]
    big, big_logits = record_waveforms(target, waves, layers, batch_size=32, hook=silent)
    one, one_logits = record_waveforms(target, waves, layers, batch_size=1, hook=silent)
    for name in layers:
        a, b = big[name][:5], one[name][:5]
        rel = np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)
        print(f"{name:16s} max |A32 - A1| / max |A1| on the 1 s clips: {100 * rel:.4g} %")
    changed = int((big_logits[:5].argmax(1) != one_logits[:5].argmax(1)).sum())
    print(f"1 s clips whose predicted class changes: {changed} of 5")


def memory() -> None:
    target = demo_target()
    waves = clips([600.0] + [1.0] * 31, 1)
    acts, _ = record_waveforms(target, waves, ["features.conv1", "fc"], batch_size=32, hook=silent)
    print("recorded", {k: v.shape for k, v in acts.items()})


if __name__ == "__main__":
    torch.set_num_threads(1)
    {"invariance": invariance, "memory": memory}[sys.argv[1]]()
