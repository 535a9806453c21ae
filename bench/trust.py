"""Which names to trust: collapse, abstention, sanity of the scores, detection, causal effect and stability.

Prints, for each run directory given (made by ``audiodissect run``; the default run and a YAMNet
run over the soundbank are the ones the README reports):

1. the largest share of a layer's units one concept takes, per method and similarity (the collapse
   check; threshold ``identify.collapse_threshold``, 0.5);
2. the units named confidently, ambiguous and unexplained per layer, with the 95 % Wilson interval of
   the unexplained share;
3. detection scores of the explanations (AUPRC of a unit's top held-out clips against every other
   clip; chance is the positives' share) with bootstrap intervals over units, beside the Spearman
   simulation score;
4. how many names flip under noise of std 0.02 of each waveform, per layer (the stability stage);
5. with ``--causal``, the causal check: specificity of the output change when a named unit is switched
   off, against random units of its layer (the causal stage);

then the NeuronEval sanity tests of every reported score, and with ``--planted DIR`` the planted
benchmark of the names: the demo CNN with known units (class copies, acoustic detectors, pitch bands,
the mid register, a speech detector, and two hidden cohorts of clips no evidence knows), named by the
rule of ``audiodissect.identify.naming``: right and wrong confident names, and abstentions, by group,
without and with labels that record the cohorts.

    python bench/trust.py runs/default runs/yamnet --causal --planted runs/planted-trust
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def collapse_table(run) -> list[dict]:
    from audiodissect.similarity import concept_collapse

    records = run.read_units("identify")
    concepts = run.concepts() or []
    index = {c: i for i, c in enumerate(concepts)}
    groups = defaultdict(list)
    for r in records:
        groups[(r.method, r.similarity, r.layer)].append(index[r.concepts[0]])
    worst: dict[tuple[str, str], dict] = {}
    for (method, similarity, layer), top1 in groups.items():
        found = concept_collapse(np.array(top1), concepts=concepts, threshold=0.5)
        row = worst.setdefault((method, similarity), {"method": method, "similarity": similarity, "share": -1.0,
                                                      "cells_over_half": 0, "cells": 0})
        row["cells"] += 1
        row["cells_over_half"] += int(found.collapsed)
        if found.share > row["share"]:
            row.update(share=found.share, layer=layer, concept=found.name, units=found.units)
    return list(worst.values())


def mean_interval(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(1000, len(values)))].mean(axis=1)
    return float(values.mean()), *np.percentile(means, [2.5, 97.5])


def detection_table(run) -> list[dict]:
    records = run.read_units("score")
    groups = defaultdict(list)
    for r in records:
        groups[(r.predictor, r.explanation)].append(r)
    rows = []
    for (predictor, explanation), group in sorted(groups.items()):
        ap = np.array([np.nan if r.detection_auprc is None else r.detection_auprc for r in group])
        rho = np.array([np.nan if r.spearman is None else r.spearman for r in group])
        hard = np.array([np.nan if r.detection_auprc_hard is None else r.detection_auprc_hard for r in group])
        rows.append({"predictor": predictor, "explanation": explanation, "units": len(group),
                     "ap": mean_interval(ap), "hard": mean_interval(hard), "rho": mean_interval(rho)})
    return rows


def report_run(path: str, *, causal: bool) -> None:
    from audiodissect import Dissection

    d = Dissection.open(path)
    run = d.run_dir
    print(f"\n== {path} ({run.stage('record')['model']}) ==")
    print("\n1. largest share of a layer's units given one concept (cells: layers)")
    print(f"{'method':<7} {'similarity':<13} {'largest':>8}  {'concept':<16} {'layer':<28} cells over 1/2")
    for r in collapse_table(run):
        print(f"{r['method']:<7} {r['similarity'] or '-':<13} {100 * r['share']:>7.0f}%  {str(r['concept']):<16} "
              f"{r['layer']:<28} {r['cells_over_half']} of {r['cells']}")
    print("\n2. names per layer (confident / ambiguous / unexplained; unexplained share, 95% Wilson interval)")
    for r in run.stage("identify").get("names") or []:
        print(f"{r['layer']:<28} {r['units']:>5} units: {r['named']:>5} / {r['ambiguous']:>4} / {r['unexplained']:>4}"
              f"  {100 * r['share_unexplained']:.0f}% ({100 * r['ci_low']:.0f}-{100 * r['ci_high']:.0f}%)")
    output, class_names = run.output_layer(), run.stage("record").get("class_names")
    if output and class_names:
        from audiodissect.class_names import concepts_of_classes

        known = concepts_of_classes(run.concepts() or [], class_names)
        names = {r.index: r for r in run.read_units("names") if r.layer == output}
        counts = {"right": 0, "wrong": 0, "ambiguous": 0, "unexplained": 0}
        for k, concept in known.items():
            r = names[k]
            counts[("right" if r.name == concept else "wrong") if r.status == "named" else r.status] += 1
        print(f"   output units whose class is a concept ({len(known)}, a check the rule was not tuned on): "
              + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if run.has_units("score"):
        n = run.stage("score")["n_clips"]
        print(f"\n3. detection of a unit's top 10% held-out clips among all {n} (AUPRC; chance {0.1:.2f}), "
              "hard negatives (chance 0.5) and Spearman, means with 95% bootstrap intervals over units")
        for r in detection_table(run):
            ap, hard, rho = r["ap"], r["hard"], r["rho"]
            print(f"{r['predictor']:<12} {r['explanation']:<20} {r['units']:>5}  AUPRC {ap[0]:.3f} "
                  f"({ap[1]:.3f}-{ap[2]:.3f})  hard {hard[0]:.3f} ({hard[1]:.3f}-{hard[2]:.3f})  "
                  f"rho {rho[0]:.3f} ({rho[1]:.3f}-{rho[2]:.3f})")
    stability = d.stability()
    from audiodissect.identify import flip_shares

    print("\n4. names that flip under noise of std 0.02 of each waveform (95% Wilson interval), mean bootstrap "
          "survival; then the flips among confident and among ambiguous names")
    status = {r.unit: r.status for r in run.read_units("names")}
    for r in flip_shares(stability):
        split = []
        for kind in ("named", "ambiguous"):
            mine = [s for s in stability if s.layer == r["layer"] and status[s.unit] == kind]
            if mine:
                split.append(f"{kind} {sum(s.noise_flipped for s in mine)} of {len(mine)}")
        print(f"{r['layer']:<28} {r['flipped']:>4} of {r['units']:>5}: {100 * r['share_flipped']:.0f}% "
              f"({100 * r['ci_low']:.0f}-{100 * r['ci_high']:.0f}%), survival {r['survival']:.2f}; "
              + ", ".join(split))
    if causal:
        from audiodissect.prune import causal_summary

        effects = d.causal()
        print("\n5. causal check: specificity of the output change when a named unit is switched off "
              "(clips with its concept against the rest), against random units of its layer")
        for r in causal_summary(effects):
            print(f"{r['layer']:<28} {r['units']} units: {r['specificity']:+.3f} against random "
                  f"{r['random']:+.3f}; {r['beats_random']} of {r['units']} beat random (z > 2)")


def report_sanity() -> None:
    from audiodissect.scoring.sanity import CONTROLS, METRICS, sanity_checks

    print("\n== NeuronEval sanity tests (pass: the complete concept scores higher in all 20 draws) ==")
    for name, result in sanity_checks({**METRICS, **CONTROLS}).items():
        role = "reported" if name in METRICS else "control"
        print(f"{name:<22} ({role:<8}) missing-label {'pass' if result['missing_label'] else 'FAIL'}, "
              f"extra-label {'pass' if result['extra_label'] else 'FAIL'}")


def report_planted(out: str) -> None:
    from audiodissect import Dissection, load_probe
    from audiodissect.captioners import describe_cached, load_captioner, probe_clips
    from audiodissect.evidence import compute_evidence, load_evidence_backend, no_evidence
    from audiodissect.evidence.labels import clip_labels, label_indicators
    from audiodissect.identify import NamingSettings, name_units
    from audiodissect.planted import (PLANTED_LAYER, benchmark_setup, format_naming_table, naming_table,
                                      plant_units)
    from audiodissect.targets import load_target

    probe = load_probe("soundbank")
    base = load_target("demo-cnn")
    setup = benchmark_setup(base.class_names, extras=["bands", "registers", "speech", "cohorts"], probe=probe,
                            sample_rate=base.sample_rate)
    target = plant_units(base, setup.detectors)
    d = Dissection(target, probe, out=out, config={"record": {"window_seconds": 60.0}})
    d.record(layers=[PLANTED_LAYER])
    run = d.run_dir
    rows = run.probe_rows()
    concepts = setup.concepts
    cache = run.probe_cache(probe)
    captioner = load_captioner("tags", probe, cache_dir=cache)
    texts = list(describe_cached(captioner, probe_clips(probe), cache / "descriptions-planted-trust.json"))
    evidence = {"tab": compute_evidence("tab", probe, concepts, backend=load_evidence_backend("tag-bridge+acoustic"),
                                        cache_dir=cache),
                "db": compute_evidence("db", probe, concepts, descriptions=texts, cache_dir=cache),
                "labels": label_indicators(clip_labels(probe), concepts)}
    with_cohorts = evidence["labels"].copy()
    for i, clip in enumerate(probe.clips):
        if clip.id in setup.cohorts:
            with_cohorts[i, concepts.index(setup.cohorts[clip.id])] = 1.0
    acts = {PLANTED_LAYER: np.asarray(run.activations(PLANTED_LAYER))[rows]}
    truth = [det.concept for det in setup.detectors]
    groups = [det.group for det in setup.detectors]
    print(f"\n== planted units ({len(truth)}), named by the naming rule over {len(concepts)} concepts ==")
    for title, sources in (("audio evidence only (tab, db)", {"tab": evidence["tab"], "db": evidence["db"]}),
                           ("and the probe's labels, which do not record the cohorts",
                            {**{m: evidence[m] for m in ("tab", "db")}, "labels": evidence["labels"]}),
                           ("and labels that record the cohorts",
                            {**{m: evidence[m] for m in ("tab", "db")}, "labels": with_cohorts})):
        probe_ev = {m: e[rows] for m, e in sources.items()}
        exclude = {m: list(no_evidence(e, concepts)) for m, e in probe_ev.items()}
        names = name_units(probe_ev, acts, concepts, settings=NamingSettings(), exclude=exclude)
        print(f"\n{title}")
        print(format_naming_table(naming_table(names, truth, groups)))
        wrong = [(t, r.name, r.method) for r, t in zip(names, truth) if r.status == "named" and r.name != t]
        if wrong:
            print("confidently wrong: " + "; ".join(f"{t} named {n!r} by {m}" for t, n, m in wrong))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help="run directories made by `audiodissect run`")
    parser.add_argument("--causal", action="store_true", help="also run the causal check (slow: forward passes)")
    parser.add_argument("--planted", metavar="DIR", help="run the planted benchmark of the names into DIR")
    args = parser.parse_args(argv)
    for path in args.runs:
        if not Path(path).is_dir():
            print(f"no run directory at {path}", file=sys.stderr)
            return 2
        report_run(path, causal=args.causal)
    report_sanity()
    if args.planted:
        report_planted(args.planted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
