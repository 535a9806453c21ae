"""Does the default run print the same tables on another machine? Two runs, compared.

Both runs start from an empty user cache (so the soundbank, YAMNet's tags, the
descriptions and every embedding are computed again); the second runs with
torch's kernels held to another machine's: no vector instructions in ATen
(``ATEN_CPU_CAPABILITY=default``), SSE4.1 in oneDNN, SSE4.2 in MKL, one
thread. A float32 sum then adds in another order, as on a CPU of another kind
or core count. Printed: whether the stage output (stage times and progress
lines left out) is the same, and per record file how many records differ,
in which fields, by how much at most, and how many concept rankings or unit
names change.

Usage::

    python bench/other_machine.py --out runs/other-machine   # about 2 x 3 minutes on 2 cores, more under load
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

#: The second run's environment: another machine's kernels, on this one.
OTHER_KERNELS = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                 "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "OMP_NUM_THREADS": "1"}
RECORDS = ("identify", "names", "stability", "summarize", "score")


def tables(stdout: str) -> list[str]:
    """The run's printed lines without stage times, progress lines, the first-use notes and paths."""
    lines = []
    for line in stdout.splitlines():
        if re.match(r"^\d\d:\d\d:\d\d \[", line) or line.startswith(("INFO:", "report:", "results:")):
            continue
        lines.append(re.sub(r"done in [0-9.]+ s", "done", line))
    return lines


def compare_records(a: Path, b: Path) -> dict:
    """How the records of one file differ between two runs."""
    left = [json.loads(x) for x in a.read_text(encoding="utf-8").splitlines() if x.strip()]
    right = [json.loads(x) for x in b.read_text(encoding="utf-8").splitlines() if x.strip()]
    fields, largest, reordered, differ = set(), 0.0, 0, 0
    for x, y in zip(left, right):
        if x == y:
            continue
        differ += 1
        for key in x:
            if x.get(key) != y.get(key):
                fields.add(key)
                pairs = zip(x[key], y[key]) if isinstance(x[key], list) and isinstance(y[key], list) else \
                    [(x[key], y[key])]
                for u, v in pairs:
                    if isinstance(u, float) and isinstance(v, float):
                        largest = max(largest, abs(u - v))
        reordered += x.get("concepts") != y.get("concepts") or (x.get("name"), x.get("status")) != (
            y.get("name"), y.get("status"))
    return {"records": len(left), "same count": len(left) == len(right), "differ": differ,
            "fields": sorted(fields), "largest difference": largest, "rankings or names changed": reordered}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/other-machine", help="folder for the two runs and their caches")
    args = parser.parse_args(argv)
    out = Path(args.out)
    printed = {}
    for name, extra in (("this", {}), ("other", OTHER_KERNELS)):
        env = {**os.environ, **extra, "AUDIODISSECT_CACHE": str(out / f"cache-{name}")}
        done = subprocess.run([sys.executable, "-m", "audiodissect", "run", "--out", str(out / name)], env=env,
                              capture_output=True, text=True)
        if done.returncode:
            print(done.stdout, done.stderr, sep="\n")
            return done.returncode
        printed[name] = tables(done.stdout)
    same = printed["this"] == printed["other"]
    print(f"printed tables: {'the same' if same else 'DIFFERENT'} ({len(printed['this'])} lines)")
    if not same:
        for a, b in zip(printed["this"], printed["other"]):
            if a != b:
                print(f"  this:  {a}\n  other: {b}")
    for stage in RECORDS:
        a, b = out / "this" / "units" / f"{stage}.jsonl", out / "other" / "units" / f"{stage}.jsonl"
        if a.exists() and b.exists():
            print(f"{stage}.jsonl: {compare_records(a, b)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
