"""Variable-length recording: clips of many lengths batched by exact length, and with length buckets.

Records the demo CNN's default layers (random weights: the cost does not
depend on them) over three sets of 300 seeded noise clips, side by side in
one process, the three timed in turn ``--repeats`` times (the fastest of each kept):

- ``one length``: every clip 0.65 s, batched by exact length (the reference);
- ``exact lengths``: lengths drawn uniformly from 0.3-1.0 s (same mean), batched by
  exact length, so nearly every clip is a batch of its own;
- ``buckets``: the same clips with ``length_bucket`` (default 0.1 s): each clip
  zero-padded at its end to a whole number of buckets, so clips of a bucket
  share batches; the frame layers drop the frames that hold only padding.

It prints each time, its ratio to the reference, the forward passes, and
the share of padded samples. Batch invariance of the buckets is a property
test (``tests/test_frames.py``), not a timing.

Usage::

    python bench/record_lengths.py [--clips 300] [--bucket 0.1] [--batch-size 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    import numpy as np
    import torch

    from audiodissect.progress import silent
    from audiodissect.record.activations import bucket_lengths, length_batches, record_waveform_frames
    from audiodissect.targets.demo_cnn import DemoCNN, make_target

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--bucket", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    target = make_target(DemoCNN(n_classes=10), [str(i) for i in range(10)])
    rate = target.sample_rate
    rng = np.random.default_rng(0)
    seconds = rng.uniform(0.3, 1.0, size=args.clips)
    varied = [(0.1 * rng.standard_normal(int(s * rate))).astype(np.float32) for s in seconds]
    fixed = [(0.1 * rng.standard_normal(int(0.65 * rate))).astype(np.float32) for _ in range(args.clips)]
    layers = target.default_layers
    cases = [("one length", fixed, None), ("exact lengths", varied, None), ("buckets", varied, args.bucket)]

    times = {name: float("inf") for name, _, _ in cases}
    for _ in range(args.repeats):  # the cases interleaved, so that a slow spell of the machine hits all of them
        for name, waves, bucket in cases:
            start = time.perf_counter()
            record_waveform_frames(target, waves, layers, frames=["features*"], batch_size=args.batch_size,
                                   length_bucket=bucket, hook=silent)
            times[name] = min(times[name], time.perf_counter() - start)
    print(f"{args.clips} clips, demo CNN ({', '.join(layers)}; features.* frame by frame), batch size "
          f"{args.batch_size}, {args.threads} torch thread(s), best of {args.repeats}")
    print(f"{'case':<16}{'seconds':>9}{'ratio':>8}{'passes':>8}{'padded':>9}")
    for name, waves, bucket in cases:
        lengths = np.maximum([w.size for w in waves], target.min_samples or 0)
        fed = lengths if bucket is None else bucket_lengths(lengths, int(round(bucket * rate)))
        passes = len(length_batches(fed, args.batch_size))
        padded = 1 - sum(w.size for w in waves) / fed.sum()
        print(f"{name:<16}{times[name]:>9.2f}{times[name] / times['one length']:>8.2f}{passes:>8}{padded:>8.1%}")


if __name__ == "__main__":
    main()
