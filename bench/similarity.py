"""Benchmark: vectorised similarity functions against a per-unit loop.

Run ``python bench/similarity.py`` (options: ``--help``). For every function
it times

- the vectorised function of :mod:`audiodissect.similarity` on all U units
  (best of ``--repeats`` runs after a warm-up on a few units), and
- a per-unit loop: the same computation one unit at a time, in torch, each
  unit vectorised over clips and concepts and everything that does not depend
  on the unit computed once outside the loop. The loop runs on a random sample
  of ``--loop-units`` units and its time is scaled to U (the table says so);
  its scores on the sample are checked against the vectorised ones.

Peak memory: each function runs in its own subprocess; "peak MB" is the
process's peak resident set size after the first full vectorised call
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) minus its resident set size
just before that call (``/proc/self/statm``). It counts everything the call
allocates, torch's CPU allocator included, but not the inputs, which are
already resident. (tracemalloc would not see torch's allocations.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

NAMES = ["cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi"]


# ----------------------------------------------------------------- per-unit loops

def loop_cos(P, A, units):
    p = P / torch.linalg.vector_norm(P, dim=0).clamp_min(1e-12)
    out = torch.empty((len(units), P.shape[1]))
    for i, u in enumerate(units):
        a = A[:, u]
        out[i] = (a / torch.linalg.vector_norm(a).clamp_min(1e-12)) @ p
    return out


def _cube(x):
    y = (x - x.mean(dim=0, keepdim=True)) ** 3
    return y / torch.linalg.vector_norm(y, dim=0, keepdim=True).clamp_min(1e-3)


def loop_cos3(P, A, units):
    p = _cube(P)
    out = torch.empty((len(units), P.shape[1]))
    for i, u in enumerate(units):
        out[i] = _cube(A[:, u]) @ p
    return out


def loop_rank_reorder(P, A, units):
    from audiodissect.similarity.rank_reorder import N_ORDERINGS, random_orderings, top_count

    n = top_count(P.shape[0], 0.05)
    perms = random_orderings(n, n_orderings=N_ORDERINGS, seed=0)
    out = torch.empty((len(units), P.shape[1]))
    for i, u in enumerate(units):
        top, ids = torch.topk(A[:, u], n)  # (n,)
        e = P[ids]  # (n, C)
        order = torch.sort(e, dim=0, descending=True, stable=True).indices
        error = (top.unsqueeze(1) - top[order]).abs().pow(3).mean(dim=0)  # (C,)
        rand = (top.unsqueeze(0) - top[perms]).abs().pow(3).mean()
        strength = torch.relu(e.mean(dim=0)).pow(0.5).clamp_min(1e-12)
        out[i] = -(error / rand.clamp_min(1e-12) / strength)
    return out


def _combine(cond, lam):
    return cond - lam * (torch.logsumexp(cond, dim=0) - math.log(cond.shape[0]))


def loop_wpmi(P, A, units, *, a=2.0, k=28, lam=0.6):
    log_q = torch.log(torch.softmax(a * P, dim=1) + 1e-7)
    cond = torch.empty((A.shape[1], P.shape[1]))
    for u in units:
        cond[u] = log_q[torch.topk(A[:, u], k).indices].sum(dim=0)
    return cond  # the prior needs every unit; it is applied once, see run_one


def loop_soft_wpmi(P, A, units, *, a=10.0, k=100):
    q = torch.softmax(a * P, dim=1)
    w = torch.linspace(0.998, 0.97, k).unsqueeze(1)
    cond = torch.empty((A.shape[1], P.shape[1]))
    for u in units:
        ids = torch.topk(A[:, u], k).indices
        cond[u] = torch.log(1 + w * (q[ids] - 1) + 1e-7).sum(dim=0)
    return cond


LOOPS = {"cos": loop_cos, "cos3": loop_cos3, "rank_reorder": loop_rank_reorder,
         "wpmi": loop_wpmi, "soft_wpmi": loop_soft_wpmi}


# ----------------------------------------------------------------- one function

def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_one(name: str, *, clips: int, units: int, concepts: int, loop_units: int,
            repeats: int, seed: int) -> dict:
    from audiodissect import similarity as S

    rng = np.random.default_rng(seed)
    P = rng.random((clips, concepts), dtype=np.float32)
    A = rng.standard_normal((clips, units), dtype=np.float32)
    f = S.get(name)
    f(P[:200], A[:200, :64])  # warm-up: kernels, imports

    rss_before = _rss_bytes()
    t0 = time.perf_counter()
    scores = f(P, A)
    times = [time.perf_counter() - t0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        f(P, A)
        times.append(time.perf_counter() - t0)

    sample = np.sort(rng.choice(units, size=min(loop_units, units), replace=False))
    Pt, At = torch.from_numpy(P), torch.from_numpy(A)
    t0 = time.perf_counter()
    looped = LOOPS[name](Pt, At, sample.tolist())
    loop_s = (time.perf_counter() - t0) * units / len(sample)
    if name in ("wpmi", "soft_wpmi"):
        # The loop filled log p(c|u) for the sample only; check it with the
        # vectorised likelihood, whose prior step is a single (U, C) logsumexp.
        lik = {"wpmi": S.wpmi_log_likelihood, "soft_wpmi": S.soft_wpmi_log_likelihood}[name]
        expected = lik(P, A[:, sample])
        looped = looped[sample]
    else:
        expected = scores[sample]
    agree = bool(torch.allclose(looped, expected, rtol=1e-3, atol=1e-3))
    vec_s = min(times)
    return {"function": name, "loop_s": loop_s, "loop_units": len(sample), "vec_s": vec_s,
            "ratio": loop_s / vec_s, "peak_mb": max(0, peak - rss_before) / 2**20, "agree": agree}


# ----------------------------------------------------------------- table

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=2000, help="N (default 2000)")
    ap.add_argument("--units", type=int, default=20000, help="U (default 20000)")
    ap.add_argument("--concepts", type=int, default=50, help="C (default 50)")
    ap.add_argument("--loop-units", type=int, default=2000,
                    help="units the per-unit loop runs on; its time is scaled to U (default 2000)")
    ap.add_argument("--repeats", type=int, default=3, help="vectorised runs, best kept (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=NAMES, action="append", help="run only these functions")
    ap.add_argument("--one", choices=NAMES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    settings = dict(clips=args.clips, units=args.units, concepts=args.concepts,
                    loop_units=args.loop_units, repeats=args.repeats, seed=args.seed)
    if args.one:
        print(json.dumps(run_one(args.one, **settings)))
        return 0

    print(f"N={args.clips} clips, U={args.units} units, C={args.concepts} concepts, float32, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"loop s: per-unit loop timed on {min(args.loop_units, args.units)} random units, "
          f"scaled to {args.units}; vectorised s: all units, best of {args.repeats}; "
          "peak MB: peak RSS rise during the first vectorised call (own subprocess)")
    header = f"{'function':<13} {'loop s':>9} {'vectorised s':>13} {'ratio':>8} {'peak MB':>8}  agree"
    print(header)
    print("-" * len(header))
    ok = True
    for name in args.only or NAMES:
        cmd = [sys.executable, os.path.abspath(__file__), "--one", name]
        for key, value in settings.items():
            cmd += [f"--{key.replace('_', '-')}", str(value)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            print(f"{name:<13} failed:\n{res.stderr}")
            ok = False
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        ok &= r["agree"]
        print(f"{name:<13} {r['loop_s']:>9.2f} {r['vec_s']:>13.3f} {r['ratio']:>7.1f}x "
              f"{r['peak_mb']:>8.0f}  {'yes' if r['agree'] else 'NO'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
