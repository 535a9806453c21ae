"""Recording overhead: all hooks on, pooling and writing vs a bare forward pass.

Runs demo-cnn over the same soundbank clips both ways, alternating, and
prints the ratio of the medians. Usage: ``python bench/record.py [n_clips]``.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import torch

from audiodissect.probes import load_probe
from audiodissect.progress import silent
from audiodissect.record import length_batches, record_activations
from audiodissect.targets import load_target


def main(n_clips: int = 256, repeats: int = 5, batch_size: int = 32) -> None:
    probe = load_probe("soundbank")
    target = load_target("demo-cnn")
    indices = np.arange(n_clips)
    layers = target.default_layers
    waves = [probe.audio(int(i), sample_rate=target.sample_rate) for i in indices]

    def bare() -> None:
        with torch.inference_mode():
            for rows in length_batches([len(w) for w in waves], batch_size):
                target.forward(target.module, target.preprocess([waves[r] for r in rows]))

    def recorded() -> None:
        record_activations(target, probe, layers, indices=indices, batch_size=batch_size, hook=silent)

    bare(), recorded()  # warm up
    times = {"bare": [], "record": []}
    for _ in range(repeats):
        for name, fn in (("bare", bare), ("record", recorded)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    b, r = statistics.median(times["bare"]), statistics.median(times["record"])
    print(f"demo-cnn, {n_clips} clips, {len(layers)} layers hooked, median of {repeats}")
    print(f"bare forward {b:.3f} s   recording {r:.3f} s   ratio {r / b:.3f}")
    print("(recording also reads each clip's audio from the probing set; bare forward reuses it)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 256)
