"""The planted-unit benchmark with the harder units, published vs robust similarity functions.

Plants, in the wrapped model (default: the demo CNN), the class copies, the
five acoustic detectors and the harder units of
:func:`audiodissect.planted.benchmark_setup` (``--extras``: pitch bands, the
mid register detector, the speech detector, label units), records the
planted layer over the probing set (default: the soundbank), and reports
top-1 / top-5 recovery per method and similarity function in each variant,
with a top-1 column per group of units. Methods:

- ``tab``: the ``--tab-backend`` evidence (default ``tag-bridge+acoustic``);
- ``tab+labels``: the same with the probe's labels, the label units' labels
  renamed to their code names (:class:`audiodissect.evidence.WithLabels`);
- ``db``: descriptions from ``--captioner`` (default ``tags``), MiniLM.

It also prints how selective the speech detector is (ROC AUC of its values,
speech clips against the rest, over the probe clips) and checks that each
label unit is 1 on exactly its label's probe clips.

Usage::

    python bench/planted_hard.py --out runs/planted_hard [--extras bands registers speech labels]
"""

from __future__ import annotations

import argparse

import numpy as np

SIMILARITIES = ("cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi")


def main() -> None:
    from audiodissect import captioners
    from audiodissect.cache import hash_key
    from audiodissect.describe import load_captioner
    from audiodissect.evidence import WithLabels, compute_evidence, load_evidence_backend
    from audiodissect.planted import (EXTRAS, PLANTED_LAYER, benchmark_setup, format_table, plant_units,
                                      planted_class_count, planted_scores, recovery_rows, run_planted, truth_indices)
    from audiodissect.probes import load_probe
    from audiodissect import Dissection
    from audiodissect.targets import load_target

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="demo-cnn")
    parser.add_argument("--probe", default="soundbank")
    parser.add_argument("--extras", nargs="*", default=list(EXTRAS), choices=EXTRAS)
    parser.add_argument("--tab-backend", default="tag-bridge+acoustic")
    parser.add_argument("--captioner", default="tags")
    args = parser.parse_args()

    probe = load_probe(args.probe)
    base = load_target(args.model)
    setup = benchmark_setup(base.class_names, extras=args.extras, probe=probe, sample_rate=base.sample_rate)
    target = plant_units(base, setup.detectors)
    d = Dissection(target, probe, out=args.out)
    d.record(layers=[PLANTED_LAYER])
    run = d.run_dir
    evidence: dict[str, np.ndarray] = {}

    def evidence_fn(run_, probe_, concepts, methods):
        cache = run_.probe_cache(probe_)
        evidence["tab"] = compute_evidence("tab", probe_, concepts, backend=args.tab_backend, cache_dir=cache)
        labelled = WithLabels(load_evidence_backend(args.tab_backend), rename=setup.label_names)
        evidence["tab+labels"] = compute_evidence("tab", probe_, concepts, backend=labelled, cache_dir=cache)
        captioner = load_captioner(args.captioner, probe_, cache_dir=cache)
        store = cache / f"descriptions-{hash_key(args.captioner)[:12]}.json"
        texts = list(captioners.describe_cached(captioner, captioners.probe_clips(probe_), store))
        evidence["db"] = compute_evidence("db", probe_, concepts, descriptions=texts, cache_dir=cache)
        return evidence

    print(f"{len(setup.detectors)} planted units, {len(setup.concepts)} concepts; label units: {setup.label_names}")
    robust = run_planted(run, target, probe, concepts=setup.concepts, evidence_fn=evidence_fn,
                         methods=["tab", "tab+labels", "db"], similarities=SIMILARITIES, variant="robust")
    rows = run.probe_rows()
    acts = np.asarray(run.activations(PLANTED_LAYER))[rows]
    groups = [d.group for d in setup.detectors]
    truth = truth_indices([d.concept for d in setup.detectors], setup.concepts)
    paper = recovery_rows(planted_scores({m: e[rows] for m, e in evidence.items()}, acts, similarities=SIMILARITIES,
                                         variant="paper"),
                          truth, n_classes=planted_class_count(target), groups=groups)
    print("\npaper (published similarity functions)\n" + format_table(paper))
    print("robust\n" + format_table(robust))

    labels = np.array([probe.clips[i].label for i in rows])
    for i, d in enumerate(setup.detectors):
        if d.group == "speech":
            from sklearn.metrics import roc_auc_score

            print(f"speech detector (unit {i}): ROC AUC speech vs the rest over {len(rows)} probe clips "
                  f"{roc_auc_score(labels == 'speech', acts[:, i]):.3f}")
        if d.group == "label":
            label = next(k for k, v in setup.label_names.items() if v == d.concept)
            exact = np.array_equal(acts[:, i] == 1.0, labels == label) and set(np.unique(acts[:, i])) <= {0.0, 1.0}
            print(f"label unit {i} ({d.concept} = {label!r}): 1 on exactly its {int((labels == label).sum())} "
                  f"probe clips: {exact}")


if __name__ == "__main__":
    main()
