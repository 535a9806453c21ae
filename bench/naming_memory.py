"""The permutation null's peak memory, made whole or a chunk of copies at a time, side by side.

Names the units of one synthetic layer (seeded evidence and activations) twice, each in its own
process: once with the null's shuffled copies made whole (``NULL_BYTES`` and ``NULL_SCORES_BYTES``
unbounded: every copy of every source at once, and every unit's scores against all of them, as the
naming did before its memory was bounded), once with the package's defaults (whole when the copies
fit ``NULL_BYTES``, else ``NULL_CHUNK_BYTES`` of copies at a time). Prints each process's peak resident
memory and CPU seconds, their ratio, and whether the names are the same.

Usage::

    python bench/naming_memory.py                          # 5,000 clips, two sources of 100 concepts, 64 units
    python bench/naming_memory.py --clips 2000 --concepts 50 --units 512
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, pickle, resource, sys, time
import numpy as np
from audiodissect.identify import naming

clips, concepts, units, whole, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
if whole:
    naming.NULL_BYTES = naming.NULL_SCORES_BYTES = 1 << 62
rng = np.random.default_rng(0)
evidence = {"tab": rng.random((clips, concepts), dtype=np.float32),
            "db": rng.random((clips, concepts), dtype=np.float32)}
acts = {"L": (evidence["tab"][:, rng.integers(0, concepts, units)] + rng.normal(size=(clips, units))).astype(np.float32)}
cpu = time.process_time()
names = naming.name_units(evidence, acts, [f"c{i}" for i in range(concepts)])
cpu = time.process_time() - cpu
pickle.dump(names, open(out, "wb"))
print(json.dumps({"cpu": cpu, "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                  "named": sum(r.name is not None for r in names)}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=5000)
    parser.add_argument("--concepts", type=int, default=100, help="per source (two sources)")
    parser.add_argument("--units", type=int, default=64)
    args = parser.parse_args(argv)
    rows, names = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, whole in [("whole", "1"), ("bounded", "0")]:
            out = Path(tmp) / f"{label}.pkl"
            done = subprocess.run([sys.executable, "-c", CHILD, str(args.clips), str(args.concepts), str(args.units),
                                   whole, str(out)], capture_output=True, text=True, check=True)
            rows[label] = json.loads(done.stdout.strip().splitlines()[-1])
            names[label] = pickle.loads(out.read_bytes())
    print(f"{args.clips} clips, two sources of {args.concepts} concepts, 99 permutations, {args.units} units")
    print(f"{'null':8s} {'peak GB':>8s} {'cpu s':>7s} {'named':>6s}")
    for label, row in rows.items():
        print(f"{label:8s} {row['peak_gb']:8.2f} {row['cpu']:7.2f} {row['named']:6d}")
    print(f"peak memory ratio (whole / bounded): {rows['whole']['peak_gb'] / rows['bounded']['peak_gb']:.2f}x; "
          f"names the same: {names['whole'] == names['bounded']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
