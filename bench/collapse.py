"""How much of a layer one concept names, per method and similarity, published vs robust functions.

For every run directory given (recorded activations and the identify stage's
evidence, ``evidence/tab.npy`` and ``evidence/db.npy``), this scores every
recorded layer's probe rows with every similarity function in each variant
(:data:`audiodissect.similarity.VARIANTS`) and reports

- **share**: the largest share of the layer's units given one concept at
  top-1, and that concept (:func:`audiodissect.similarity.concept_collapse`);
- **last layer**: top-1 of the output units against their class names among
  the concepts that are class names (the paper's protocol,
  :func:`audiodissect.scoring.last_layer.last_layer_table`), where the run's
  target has class names;
- **PC1**: per layer, the share of the variance of its units' normal scores
  (each unit's activations ranked over the clips and mapped to normal
  quantiles) on their first principal component: how much one factor the
  units share dominates the layer.

DB is scored over all clips on every layer (the run's ``db_scope`` is not
read). With ``--diagnose`` it also prints what section 1 of
``bench/results/collapse.md`` reads: per evidence column, its mean, median and
the norm of its centred cube (cos3's floor is 1e-3) and the share of clips
whose ``softmax(10 P)`` favours it; per layer and method, the concept whose
soft-WPMI ``log p(c | u)`` varies least over the units, and per layer the
range of the activations, their median skew, and the label of the clip most
units reach their minimum on. A second part scores synthetic evidence: N clips of C labels, one
unit tuned to each concept, the evidence of every concept its label
indicator plus noise, then each concept's column rescaled by its own
``a_c p_c + b_c``; it prints each variant's top-1 (units named their own
concept) and largest share.

Usage::

    python bench/collapse.py RUN [RUN ...] [--variants paper robust] [--synthetic] [--diagnose]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SIMILARITIES = ("cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi")


def class_names_of(run: Path) -> list[str] | None:
    """The run's target's class names (None when the target has none or cannot be loaded)."""
    from audiodissect.targets import load_target

    target = json.loads((run / "target.json").read_text())
    if target.get("kind") != "spec":
        return None
    return load_target(target["spec"]).class_names


def run_rows(path: Path, variants: list[str]) -> tuple[list[dict], dict]:
    """Largest shares per (layer, method, similarity, variant); last-layer top-1 per (method, similarity, variant)."""
    from audiodissect.identify.units import identify_units
    from audiodissect.rundir import RunDir
    from audiodissect.scoring.last_layer import last_layer_table
    from audiodissect.similarity import concept_collapse

    run = RunDir(path, create=False)
    concepts = run.concepts()
    rows = run.probe_rows()
    evidence = {m: np.load(run.evidence_path(m))[rows] for m in ("tab", "db") if run.evidence_path(m).exists()}
    acts = {layer: np.asarray(run.activations(layer))[rows].astype(np.float32) for layer in run.layers()}
    output = run.output_layer()
    class_names = class_names_of(path) if output else None
    shares, last = [], {}
    for variant in variants:
        records = identify_units(evidence, acts, concepts, similarities=SIMILARITIES, top=5,
                                 output_layer=output, variant=variant)
        groups: dict[tuple[str, str, str], list[int]] = {}
        for r in records:
            groups.setdefault((r["layer"], r["method"], r["similarity"]), []).append(concepts.index(r["concepts"][0]))
        for (layer, method, sim), top1 in groups.items():
            c = concept_collapse(np.array(top1), concepts=concepts)
            shares.append({"layer": layer, "method": method, "similarity": sim, "variant": variant,
                           "units": c.units, "share": c.share, "concept": c.name})
        if class_names:
            for row in last_layer_table(records, layer=output, class_names=class_names, concepts=concepts):
                last[(row["method"], row["similarity"], variant)] = row["top1_classes"]
    return shares, last


def pc1_share(acts: np.ndarray) -> float:
    """Share of the variance of the columns' normal scores on their first principal component."""
    import torch

    from audiodissect.similarity._ranks import normal_scores

    z = normal_scores(torch.as_tensor(acts, dtype=torch.float64))
    z = z - z.mean(dim=0, keepdim=True)
    s = torch.linalg.svdvals(z).square()
    return float(s[0] / s.sum()) if float(s.sum()) > 0 else 0.0


def print_run(path: Path, variants: list[str]) -> None:
    from audiodissect.rundir import RunDir

    shares, last = run_rows(path, variants)
    run = RunDir(path, create=False)
    rows = run.probe_rows()
    print(f"\n### {path}\n")
    print("PC1 share per layer: " + ", ".join(
        f"{layer} {100 * pc1_share(np.asarray(run.activations(layer))[rows]):.0f} %" for layer in run.layers()) + "\n")
    print("| layer | units | method | similarity | " + " | ".join(f"{v}: largest share" for v in variants) + " |")
    print("|---|---|---|---|" + "---|" * len(variants))
    by = {(r["layer"], r["method"], r["similarity"], r["variant"]): r for r in shares}
    for layer, method, sim in sorted({k[:3] for k in by}):
        cells = []
        for v in variants:
            r = by[(layer, method, sim, v)]
            cells.append(f"{100 * r['share']:.0f} % {r['concept']}")
        units = by[(layer, method, sim, variants[0])]["units"]
        print(f"| {layer} | {units} | {method} | {sim} | " + " | ".join(cells) + " |")
    for v in variants:
        over = sum(1 for r in shares if r["variant"] == v and r["share"] > 0.5 and r["units"] >= 8)
        total = sum(1 for r in shares if r["variant"] == v)
        print(f"\n{v}: {over} of {total} (layer, method, similarity) cells give one concept more than half the layer")
    if last:
        print("\nlast layer, top-1 % among class-name concepts:\n")
        print("| method | similarity | " + " | ".join(variants) + " |")
        print("|---|---|" + "---|" * len(variants))
        for method, sim in sorted({k[:2] for k in last}):
            print(f"| {method} | {sim} | " + " | ".join(f"{last[(method, sim, v)]:.1f}" for v in variants) + " |")


def diagnose(path: Path) -> None:
    """Evidence columns and activation tails of a run, as section 1 of the results reads them."""
    from collections import Counter

    import torch

    from audiodissect.rundir import RunDir
    from audiodissect.similarity import soft_wpmi_log_likelihood

    run = RunDir(path, create=False)
    concepts, rows = run.concepts(), run.probe_rows()
    labels = np.array([c.label for c in run.clips()])[rows]
    print(f"\n### diagnosis of {path}\n")
    evidence = {m: np.load(run.evidence_path(m))[rows] for m in ("tab", "db") if run.evidence_path(m).exists()}
    for method, ev in evidence.items():
        cube = np.linalg.norm((ev - ev.mean(axis=0)) ** 3, axis=0)
        favoured = np.bincount(torch.softmax(10.0 * torch.as_tensor(ev, dtype=torch.float64), dim=1).argmax(dim=1),
                               minlength=len(concepts)) / len(ev)
        print(f"{method}: concept, mean, median, centred-cube norm, share of clips softmax(10 P) favours it")
        for c, name in enumerate(concepts):
            print(f"  {name:16s} {ev[:, c].mean():9.3g} {np.median(ev[:, c]):9.3g} {cube[c]:9.3g} {favoured[c]:6.3f}")
    for layer in run.layers():
        acts = np.asarray(run.activations(layer))[rows].astype(np.float64)
        centred = acts - acts.mean(axis=0)
        skew = (centred ** 3).mean(axis=0) / np.maximum(acts.std(axis=0), 1e-12) ** 3
        label, count = Counter(labels[acts.argmin(axis=0)]).most_common(1)[0]
        print(f"{layer}: activations {acts.min():.3g} to {acts.max():.3g}, median skew {np.median(skew):.2f}; "
              f"{count} of {acts.shape[1]} units reach their minimum on a {label!r} clip")
        for method, ev in evidence.items():
            spread = soft_wpmi_log_likelihood(ev, acts).numpy().std(axis=0)
            order = np.argsort(spread)
            print(f"  {method} soft-WPMI log p(c|u) spread over units: least {concepts[order[0]]!r} "
                  f"{spread[order[0]]:.3g}, next {spread[order[1]]:.3g}, largest {spread[order[-1]]:.3g}")


def synthetic(variants: list[str], *, n: int = 145, c: int = 11, seed: int = 0) -> None:
    """Units tuned to each concept; evidence columns rescaled per concept; top-1 and largest share."""
    from audiodissect.similarity import VARIANTS, concept_collapse

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    base = (labels[:, None] == np.arange(c)).astype(np.float64) + 0.3 * rng.standard_normal((n, c))
    units = 4 * c
    truth = np.arange(units) % c
    acts = base[:, truth] + 0.5 * rng.standard_normal((n, units))
    cases = {
        "as drawn": base,
        "concept 3 offset +5": base + 5.0 * (np.arange(c) == 3),
        "concept 3 x4": base * np.where(np.arange(c) == 3, 4.0, 1.0),
        "all x0.01, concept 3 x4": 0.01 * base * np.where(np.arange(c) == 3, 4.0, 1.0),
        "random a_c in [0.1, 3], b_c in [-2, 2]": base * rng.uniform(0.1, 3.0, c) + rng.uniform(-2.0, 2.0, c),
        "concept 3 constant": np.where(np.arange(c) == 3, 0.7, base),
    }
    print(f"\n### synthetic: {n} clips, {c} labels, {units} units (4 tuned to each concept)\n")
    print("| evidence | " + " | ".join(f"{v} {f}" for v in variants for f in SIMILARITIES) + " |")
    print("|---|" + "---|" * (len(variants) * len(SIMILARITIES)))
    for name, ev in cases.items():
        cells = []
        for v in variants:
            for f in SIMILARITIES:
                scores = VARIANTS[v][f](ev, acts).numpy()
                top1 = scores.argmax(axis=1)
                cells.append(f"{np.mean(top1 == truth):.2f} / {concept_collapse(scores).share:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\ncells: top-1 (units named their own concept) / largest share of units given one concept")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--variants", nargs="+", default=["paper", "robust"])
    parser.add_argument("--synthetic", action="store_true", help="also score the synthetic rescaled evidence")
    parser.add_argument("--diagnose", action="store_true", help="also print the evidence columns and activation tails")
    args = parser.parse_args()
    for path in args.runs:
        print_run(path, args.variants)
        if args.diagnose:
            diagnose(path)
    if args.synthetic:
        synthetic(args.variants)


if __name__ == "__main__":
    main()
