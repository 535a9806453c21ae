"""Benchmark: the four figures of scaling, printed in one run.

Run ``python bench/scale.py`` (options: ``--help``; each part can be left
out with ``--skip-<part>``). It prints four parts.

1. **Out-of-core identify.** Synthetic activations, (N clips, U units)
   float32, are written to a ``.npy`` file in row blocks (never whole in
   memory) with synthetic evidence (N, C) (each unit follows one concept's
   evidence plus noise). A fresh subprocess opens the file memory-mapped and
   runs :func:`audiodissect.identify.units.identify_units` on it, as the
   identify stage does on a run's probe rows (``RunDir.probe_activations``:
   a lazy :class:`~audiodissect.arrays.RowSubset`), then
   :func:`audiodissect.summarize.topk.top_bottom_clips` (the summarize
   stage's top/bottom clips). The table gives its peak resident memory
   (``getrusage(RUSAGE_SELF).ru_maxrss``, which counts memory-mapped file
   pages the process holds as well as allocations) against the array's size,
   the time of every step and whether each unit's top concept is the one it
   was built from. ``--in-memory`` adds the same run on the array loaded
   whole (``np.load`` without a memory map), i.e. what reading a layer with
   ``np.asarray`` costs.
2. **Score against record.** Runs (or, with ``--run-dir`` of an existing
   run, reads) ``audiodissect run --model yamnet --layers '*'
   --probe-option clips_per_label=30 --stages record describe identify
   summarize score`` and prints every stage's seconds from the run's
   ``manifest.json``, and score / record.
3. **Local against Ray executor on the default run.** ``audiodissect run``
   with its defaults, once to fill the shared caches (the trained demo CNN,
   the soundbank, its tags and descriptions; not timed), then once with
   ``--executor local`` and once with ``--executor ray`` (a Ray instance
   started on this machine), each into a fresh folder. Prints both runs'
   wall time and stage times, and whether their results are equal:
   activations and logits bit for bit, and every unit record, table and
   score file byte for byte.
4. **HTTP requests/s at concurrency 1 and 4** against llama.cpp's own
   server in this process (:mod:`http_concurrency`, next to this file).

Quick check: ``python bench/scale.py --clips 2000 --units 5000 --skip-yamnet --skip-executors --skip-http``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIMILARITIES = ["cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi"]
YAMNET_RUN = ["run", "--model", "yamnet", "--layers", "*", "--probe-option", "clips_per_label=30",
              "--stages", "record", "describe", "identify", "summarize", "score"]


# ------------------------------------------------------------------ synthetic data

def evidence_matrix(n: int, c: int, *, seed: int = 0) -> np.ndarray:
    """Synthetic evidence, shape (n, c), float32: one strong concept per clip plus noise."""
    rng = np.random.default_rng(seed)
    ev = rng.normal(scale=0.3, size=(n, c)).astype(np.float32)
    ev[np.arange(n), rng.integers(0, c, size=n)] += 3.0
    return ev


def write_activations(path: Path, evidence: np.ndarray, n_units: int, *, seed: int = 1,
                      rows_per_write: int = 256) -> None:
    """Write (N, n_units) float32 activations to `path` as a .npy, a block of rows at a time.

    Unit ``u`` is ``relu(2 * evidence[:, u % C] + noise)``.
    """
    n, c = evidence.shape
    rng = np.random.default_rng(seed)
    concept_of = np.arange(n_units) % c
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                                 "fortran_order": False, "shape": (n, n_units)})
        for lo in range(0, n, rows_per_write):
            hi = min(lo + rows_per_write, n)
            block = rng.standard_normal((hi - lo, n_units), dtype=np.float32)
            block += 2.0 * evidence[lo:hi][:, concept_of]
            np.maximum(block, 0.0, out=block)
            f.write(block.tobytes())


# ------------------------------------------------------------------ measured child

def child(args: argparse.Namespace) -> None:
    """Identify and top/bottom clips on the saved array; print one JSON line of figures."""
    import torch

    from audiodissect.arrays import RowSubset
    from audiodissect.identify.units import identify_units
    from audiodissect.summarize.topk import top_bottom_clips

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    evidence = np.load(args.evidence)
    acts = np.load(args.activations, mmap_mode=None if args.in_memory else "r")
    rows = np.arange(acts.shape[0])  # every row counts as a probe clip
    layer = RowSubset(acts, rows) if not args.in_memory else acts
    concepts = [f"concept {i}" for i in range(evidence.shape[1])]
    times, right = {}, {}
    for name in args.similarities:
        t0 = time.perf_counter()
        records = identify_units({"tab": evidence}, {"layer": layer}, concepts, similarities=[name], top=1)
        times[name] = time.perf_counter() - t0
        top1 = np.array([concepts.index(r["concepts"][0]) for r in records])
        right[name] = float((top1 == np.arange(acts.shape[1]) % evidence.shape[1]).mean())
        del records
    t0 = time.perf_counter()
    top_bottom_clips(layer, k=5)
    times["top/bottom clips"] = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_bytes": peak, "seconds": times, "top1_right": right}))


def measure(activations: Path, evidence: Path, similarities: list[str], *, in_memory: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", "--activations", str(activations), "--evidence", str(evidence),
           "--similarities", *similarities] + (["--in-memory"] if in_memory else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def out_of_core(args: argparse.Namespace) -> None:
    n, u, c = args.clips, args.units, args.concepts
    size = n * u * 4
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        acts_path, ev_path = Path(tmp) / "activations.npy", Path(tmp) / "evidence.npy"
        evidence = evidence_matrix(n, c)
        np.save(ev_path, evidence)
        t0 = time.perf_counter()
        write_activations(acts_path, evidence, u)
        written = time.perf_counter() - t0
        print(f"## Out-of-core identify: N = {n} clips, U = {u} units, C = {c} concepts")
        print(f"activations: {size / 2**30:.2f} GiB float32 in a memory-mapped .npy (written in {written:.0f} s)\n")
        modes = [("memory-mapped", False)] + ([("loaded whole", True)] if args.in_memory else [])
        results = {label: measure(acts_path, ev_path, args.similarities, in_memory=flag) for label, flag in modes}
    steps = list(next(iter(results.values()))["seconds"])
    print("| step | " + " | ".join(f"{label} (s)" for label, _ in modes) + " | top-1 right |")
    print("|---" * (len(modes) + 2) + "|")
    for step in steps:
        times = " | ".join(f"{results[label]['seconds'][step]:.1f}" for label, _ in modes)
        right = next(iter(results.values()))["top1_right"].get(step)
        print(f"| {step} | {times} | {'' if right is None else f'{100 * right:.0f}%'} |")
    print()
    for label, _ in modes:
        peak = results[label]["peak_bytes"]
        print(f"{label}: peak resident memory {peak / 2**30:.2f} GiB = {100 * peak / size:.0f}% of the "
              f"{size / 2**30:.2f} GiB array")
    print()


# ------------------------------------------------------------------ YAMNet run

def stage_seconds(run_dir: Path) -> dict[str, float]:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {name: float(section["seconds"]) for name, section in manifest.get("stages", {}).items()
            if isinstance(section, dict) and "seconds" in section}


def yamnet_run(args: argparse.Namespace) -> None:
    run_dir = Path(args.run_dir) if args.run_dir else Path(args.out)
    if not args.run_dir:
        cmd = [sys.executable, "-m", "audiodissect", *YAMNET_RUN, "--out", str(run_dir)]
        print("$ audiodissect " + " ".join(YAMNET_RUN[:4] + ["'*'"] + YAMNET_RUN[5:]) + f" --out {run_dir}")
        subprocess.run(cmd, check=True)
    seconds = stage_seconds(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    units = sum((manifest.get("stages", {}).get("record", {}).get("layers") or {}).values())
    print(f"\n## Stage times of {run_dir} ({units} units) from manifest.json\n")
    print("| stage | seconds |\n|---|---|")
    for name, s in seconds.items():
        print(f"| {name} | {s:.1f} |")
    if "record" in seconds and "score" in seconds and seconds["record"] > 0:
        print(f"\nscore / record = {seconds['score'] / seconds['record']:.2f}")


# ------------------------------------------------------------------ executors

#: Files of a run compared between executors (besides every layer's activations and the logits).
COMPARED = ["units/identify.jsonl", "units/summarize.jsonl", "units/score.jsonl", "descriptions.json",
            "concepts.txt", "pruning/table.csv", "pruning/class_drop.csv", "score/summary.csv", "evaluation/last_layer.csv"]


def timed_run(out: Path, extra: list[str]) -> float:
    """Wall seconds of ``audiodissect run --out OUT EXTRA`` (the folder is emptied first)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "audiodissect", "run", "--out", str(out), *extra]
    print("$ audiodissect " + " ".join(cmd[3:]))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def same_results(a: Path, b: Path) -> list[tuple[str, bool | None]]:
    """(what, equal) for every layer's activations, the logits and :data:`COMPARED` (None: in neither run)."""
    from audiodissect.rundir import RunDir

    ra, rb = RunDir(a), RunDir(b)
    out: list[tuple[str, bool | None]] = []
    for layer in ra.layers():
        out.append((f"activations {layer}", layer in rb.layers() and
                    np.array_equal(np.load(ra.activation_path(layer)), np.load(rb.activation_path(layer)))))
    out.append(("logits", np.array_equal(ra.logits(), rb.logits())))
    for name in COMPARED:
        fa, fb = a / name, b / name
        out.append((name, None if not (fa.exists() or fb.exists()) else
                    fa.exists() and fb.exists() and fa.read_bytes() == fb.read_bytes()))
    return out


def executors(args: argparse.Namespace) -> None:
    root = Path(args.default_out)
    print("## Local against Ray executor on the default run\n")
    timed_run(root / "warm", [])  # fills the shared caches; not compared
    wall = {name: timed_run(root / name, ["--executor", name]) for name in ("local", "ray")}
    seconds = {name: stage_seconds(root / name) for name in wall}
    print("\n| stage | local (s) | ray (s) |\n|---|---|---|")
    for stage in dict.fromkeys([*seconds["local"], *seconds["ray"]]):
        cells = [f"{seconds[n][stage]:.1f}" if stage in seconds[n] else "-" for n in ("local", "ray")]
        print(f"| {stage} | {cells[0]} | {cells[1]} |")
    print(f"| wall, Ray's start included | {wall['local']:.1f} | {wall['ray']:.1f} |\n")
    checks = same_results(root / "local", root / "ray")
    for what, equal in checks:
        if equal is not None:
            print(f"{'equal' if equal else 'DIFFERENT'}: {what}")
    compared = [e for _, e in checks if e is not None]
    print(f"\n{sum(compared)} of {len(compared)} results equal between the executors\n")


# ------------------------------------------------------------------ HTTP

def http(args: argparse.Namespace) -> None:
    print("## HTTP requests/s at concurrency 1 and 4 (llama.cpp server, SmolLM2)\n")
    sys.path.insert(0, str(Path(__file__).parent))
    import http_concurrency

    http_concurrency.main(["--levels", "1,4", "--prompts", str(args.http_prompts)])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=20_000, help="N, rows of the synthetic activations")
    p.add_argument("--units", type=int, default=50_000, help="U, columns of the synthetic activations")
    p.add_argument("--concepts", type=int, default=20, help="C, concepts of the synthetic evidence")
    p.add_argument("--similarities", nargs="+", default=SIMILARITIES, choices=SIMILARITIES)
    p.add_argument("--in-memory", action="store_true", help="also run on the array loaded whole")
    p.add_argument("--tmp", default=None, help="folder for the synthetic array (default: the system's)")
    p.add_argument("--out", default="/tmp/yamnet_all", help="run directory of the YAMNet run")
    p.add_argument("--run-dir", default=None, help="read the stage times of this finished run instead")
    p.add_argument("--default-out", default="/tmp/executors", help="folder of the default runs (part 3)")
    p.add_argument("--http-prompts", type=int, default=16, help="prompts per concurrency level (part 4)")
    for part in ("identify", "yamnet", "executors", "http"):
        p.add_argument(f"--skip-{part}", action="store_true", help=f"leave out the {part} part")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--activations", help=argparse.SUPPRESS)
    p.add_argument("--evidence", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return
    parts = {"identify": out_of_core, "yamnet": yamnet_run, "executors": executors, "http": http}
    for name, part in parts.items():
        if not getattr(args, f"skip_{name}"):
            part(args)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
