"""A target's CPU forward pass with its convolutions' weights contiguous and channels-last, side by side.

YAMNet (:func:`audiodissect.targets.yamnet.build_yamnet`) and the demo CNN
(:func:`audiodissect.targets.demo_cnn.make_target`) keep their convolutions'
weights channels-last, which runs them on torch's channels-last kernels.
This bench makes a contiguous copy of the target's module and runs both
over the same soundbank probe clips, in the same length-sorted batches of
32, alternating, one untimed pass each first; it prints each pass's wall
and CPU seconds, the ratio of the medians (contiguous / channels-last) and
the largest difference of the clip logits.

Usage: ``python bench/target_layout.py [target] [clips] [rounds]`` (default yamnet, 256 clips, 3 timed passes
each; ``demo-cnn`` for the demo CNN).
"""

from __future__ import annotations

import copy
import statistics
import sys
import time

import torch


def main(argv: list[str]) -> int:
    import audiodissect as ad
    from audiodissect.record import length_batches, read_waveforms
    from audiodissect.targets import load_target

    name = argv[0] if argv else "yamnet"
    n_clips = int(argv[1]) if len(argv) > 1 else 256
    rounds = int(argv[2]) if len(argv) > 2 else 3
    ad.tune_allocator()
    probe = ad.load_probe("soundbank")
    target = load_target(name)
    rows = [i for i, c in enumerate(probe.clips) if c.split == "probe"][:n_clips]
    waves = read_waveforms(probe, rows, sample_rate=target.sample_rate)
    batches = [target.preprocess([waves[int(i)] for i in b]) for b in length_batches([len(w) for w in waves], 32)]
    modules = {"channels-last": target.module.eval(),
               "contiguous": copy.deepcopy(target.module).to(memory_format=torch.contiguous_format).eval()}

    def forward(module: torch.nn.Module) -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([target.forward(module, x) for x in batches])

    logits = {layout: forward(m) for layout, m in modules.items()}  # untimed: buffers and kernels set up
    times: dict[str, list[tuple[float, float]]] = {layout: [] for layout in modules}
    for _ in range(rounds):
        for layout in ("contiguous", "channels-last"):
            cpu, wall = time.process_time(), time.perf_counter()
            forward(modules[layout])
            times[layout].append((time.perf_counter() - wall, time.process_time() - cpu))
            print(f"{name} {layout:13s} {len(rows)} clips: wall {times[layout][-1][0]:.2f} s, "
                  f"cpu {times[layout][-1][1]:.2f} s", flush=True)
    wall = {layout: statistics.median(w for w, _ in t) for layout, t in times.items()}
    cpu = {layout: statistics.median(c for _, c in t) for layout, t in times.items()}
    print(f"median wall: contiguous {wall['contiguous']:.2f} s, channels-last {wall['channels-last']:.2f} s, "
          f"ratio {wall['contiguous'] / wall['channels-last']:.2f}x")
    print(f"median cpu:  contiguous {cpu['contiguous']:.2f} s, channels-last {cpu['channels-last']:.2f} s, "
          f"ratio {cpu['contiguous'] / cpu['channels-last']:.2f}x")
    diff = (logits["contiguous"] - logits["channels-last"]).abs().max().item()
    print(f"largest difference of the clip logits: {diff:.3g} (largest magnitude "
          f"{logits['contiguous'].abs().max().item():.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
