"""The CPU forward pass with glibc's allocator as it comes and as :func:`audiodissect.tune_allocator` sets it.

The setting holds for a whole process and cannot be undone, so each side runs
in its own child process, the two alternating: each child reads the probe
clips of the soundbank, adds noise to a copy of each waveform (as the
stability stage does, so that both sets of waveforms are in memory), runs
demo-cnn's bare forward pass over the noisy copies once untimed, then
``repeats`` times timed (wall and CPU seconds), and prints them. The
parent prints every timing and the ratio of the medians, default / tuned.

Usage: ``python bench/allocator.py [repeats] [rounds]`` (default 5 timed passes per child, 2 children per
side). Linux with glibc only (elsewhere the tuning does nothing).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
import audiodissect as ad
from audiodissect.identify.stability import noisy_waveforms
from audiodissect.record import length_batches, read_waveforms
from audiodissect.targets import load_target
import torch

tuned = ad.tune_allocator()
probe = ad.load_probe("soundbank")
target = load_target("demo-cnn")
rows = [i for i, c in enumerate(probe.clips) if c.split == "probe"]
waves = read_waveforms(probe, rows, sample_rate=target.sample_rate)
noisy = noisy_waveforms(waves, noise=0.02, seed=0)

def forward():
    module = target.module.eval()
    with torch.inference_mode():
        for batch in length_batches([len(w) for w in noisy], 32):
            target.forward(module, target.preprocess([noisy[int(i)] for i in batch]))

forward()
times = []
for _ in range(int(sys.argv[1])):
    cpu, wall = time.process_time(), time.perf_counter()
    forward()
    times.append([time.perf_counter() - wall, time.process_time() - cpu])
print(json.dumps({"tuned": tuned, "clips": len(noisy), "times": times}))
"""


def child(tuned: bool, repeats: int) -> dict:
    env = {**os.environ, "AUDIODISSECT_MALLOC_TUNING": "1" if tuned else "0"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(repeats)], env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    repeats = int(argv[0]) if argv else 5
    rounds = int(argv[1]) if len(argv) > 1 else 2
    times: dict[bool, list[list[float]]] = {False: [], True: []}
    for _ in range(rounds):
        for tuned in (False, True):
            result = child(tuned, repeats)
            if result["tuned"] != tuned:
                print(f"the allocator could not be {'set' if tuned else 'left alone'} here", file=sys.stderr)
                return 1
            times[tuned] += result["times"]
            print(f"{'tuned  ' if tuned else 'default'} {result['clips']} clips: wall "
                  + " ".join(f"{w:.2f}" for w, _ in result["times"]) + " s; cpu "
                  + " ".join(f"{c:.2f}" for _, c in result["times"]) + " s", flush=True)
    wall = {t: statistics.median(w for w, _ in times[t]) for t in times}
    cpu = {t: statistics.median(c for _, c in times[t]) for t in times}
    print(f"median wall: default {wall[False]:.2f} s, tuned {wall[True]:.2f} s, ratio {wall[False] / wall[True]:.2f}x")
    print(f"median cpu:  default {cpu[False]:.2f} s, tuned {cpu[True]:.2f} s, ratio {cpu[False] / cpu[True]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
