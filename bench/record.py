"""Recording overhead: all hooks on, pooling and writing vs a bare forward pass.

Audio reading and preprocessing are outside both sides: the clips are read
once and turned into log-mel batches (length-sorted, as
:func:`audiodissect.record.record_waveforms` batches them) before timing.
The bare side runs demo-cnn on each batch and copies the logits to the host;
the recording side runs an identical copy of the model with a recording hook
on every default layer (:func:`audiodissect.record.hooks.recording`): pooling where
the output lies, one host copy of the pooled values per batch and the write
into the preallocated (N, U) arrays, plus the same logits copy. The two run
batch by batch, alternating which goes first, so a load change on the
machine hits both; the figure is the median over repeats of the ratio of
their totals. ``--end-to-end`` also times
:func:`~audiodissect.record.record_waveforms` (preprocessing included) against
preprocessing plus the bare forward pass.

Usage: ``python bench/record.py [n_clips] [repeats] [--end-to-end]`` (default 256 clips, 9 repeats).
"""

from __future__ import annotations

import copy
import statistics
import sys
import time

import numpy as np
import torch

from audiodissect.record.hooks import recording
from audiodissect.probes import load_probe
from audiodissect.progress import silent
from audiodissect.record import length_batches, read_waveforms, record_waveforms
from audiodissect.targets import load_target


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def hooks_only(target, waves, layers, *, repeats: int, batch_size: int) -> list[tuple[float, float]]:
    """(bare, recording) seconds per repeat, over preprocessed batches."""
    batches = length_batches([len(w) for w in waves], batch_size)
    inputs = [target.preprocess([waves[int(r)] for r in rows]) for rows in batches]
    bare_model = target.module.eval()
    hooked_model = copy.deepcopy(bare_model)
    totals = []
    with recording(hooked_model, layers, n_rows=len(waves)) as recorder, torch.inference_mode():
        def bare(x):
            bare_model(x).float().cpu().numpy()

        def record(rows, x):
            recorder.rows = rows
            hooked_model(x).float().cpu().numpy()
            recorder.flush()

        for rows, x in zip(batches, inputs):  # warm up
            bare(x), record(rows, x)
        for _ in range(repeats):
            t_bare = t_rec = 0.0
            for i, (rows, x) in enumerate(zip(batches, inputs)):
                if i % 2:
                    t_rec += timed(lambda: record(rows, x))
                    t_bare += timed(lambda: bare(x))
                else:
                    t_bare += timed(lambda: bare(x))
                    t_rec += timed(lambda: record(rows, x))
            totals.append((t_bare, t_rec))
    assert all(np.isfinite(a).all() for a in recorder.arrays.values())
    return totals


def end_to_end(target, waves, layers, *, repeats: int, batch_size: int) -> list[tuple[float, float]]:
    """(preprocessing + bare forward, record_waveforms) seconds per repeat."""
    batches = length_batches([len(w) for w in waves], batch_size)

    def bare():
        with torch.inference_mode():
            for rows in batches:
                target.module(target.preprocess([waves[int(r)] for r in rows])).float().cpu().numpy()

    def record():
        record_waveforms(target, waves, layers, batch_size=batch_size, hook=silent)

    bare(), record()
    totals = []
    for i in range(repeats):
        pair = (timed(bare), timed(record)) if i % 2 == 0 else tuple(reversed((timed(record), timed(bare))))
        totals.append(pair)
    return totals


def report(name: str, totals: list[tuple[float, float]]) -> None:
    ratios = [r / b for b, r in totals]
    b = statistics.median(t[0] for t in totals)
    r = statistics.median(t[1] for t in totals)
    print(f"{name}: bare {b:.3f} s, recording {r:.3f} s, ratio {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


def main(n_clips: int = 256, repeats: int = 9, batch_size: int = 32, *, full: bool = False) -> None:
    probe = load_probe("soundbank")
    target = load_target("demo-cnn")
    layers = target.default_layers
    waves = read_waveforms(probe, np.arange(n_clips), sample_rate=target.sample_rate)
    print(f"demo-cnn, {n_clips} clips, {len(layers)} layers hooked, batch {batch_size}, "
          f"{repeats} repeats, {torch.get_num_threads()} threads")
    report("hooks, pooling, writing (preprocessed batches)",
           hooks_only(target, waves, layers, repeats=repeats, batch_size=batch_size))
    if full:
        report("end to end (preprocessing in both)",
               end_to_end(target, waves, layers, repeats=repeats, batch_size=batch_size))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 256, int(args[1]) if len(args) > 1 else 9, full="--end-to-end" in sys.argv)
