"""Planted superposition: do SAE latents recover concepts that no single neuron carries?

The demo CNN (or ``--model``) gets a ``planted`` layer of ``--units`` units,
each a fixed mix of the model's C class probabilities (the first U rows of a
seeded random C x C rotation; :mod:`audiodissect.sae.superposition`). The
run records the mixed layer and the unmixed concepts (``planted.concepts``),
trains an SAE on the mixed layer (probe clips), records its latents
(``sae:planted``), describes the clips and identifies every unit with every
method and similarity (the default concept set: the labels and five
acoustic words). A planted concept counts as recovered by a layer when one
of its units is named that concept at top-1 and correlates with it at
Pearson >= ``--purity`` on the held-out clips, more than with any other
concept (:func:`audiodissect.sae.superposition.recovery`).

Printed per (method, similarity): the recovered share for the mixed neurons,
the SAE latents and, as a reference, the unmixed concept units themselves;
``named`` is the share recovered without the purity condition.

Usage::

    python bench/sae_superposition.py --out runs/superposition [--units 8] [--k 1] [--expansion-factor 4]
                                      [--labels-only]
"""

from __future__ import annotations

import argparse

import numpy as np


def top1_names(records, layer: str, method: str, similarity: str, units: int) -> list[str | None]:
    names: list[str | None] = [None] * units
    for r in records:
        if r.layer == layer and r.method == method and r.similarity == similarity and r.concepts:
            names[r.index] = r.concepts[0]
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="run directory")
    parser.add_argument("--model", default="demo-cnn")
    parser.add_argument("--units", type=int, default=8, help="mixed units (fewer than the classes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rotation")
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--expansion-factor", type=float, default=4.0)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--purity", type=float, default=0.8)
    parser.add_argument("--labels-only", action="store_true",
                        help="name units among the probe's labels only (no acoustic words: the paper's concept set)")
    args = parser.parse_args()

    import audiodissect as ad
    from audiodissect.sae.superposition import CONCEPTS_LAYER, recovery, superposed_target
    from audiodissect.scoring.score import heldout_rows
    from audiodissect.targets import load_target

    base = load_target(args.model)
    target = superposed_target(base, units=args.units, seed=args.seed)
    d = ad.Dissection(target, probe="soundbank", out=args.out, echo=print,
                      config={"identify": {"acoustic_concepts": not args.labels_only}})
    d.record(layers=[CONCEPTS_LAYER, "planted"])
    training = d.train_sae("planted", k=args.k, expansion_factor=args.expansion_factor, epochs=args.epochs,
                           lr=args.lr)
    acts = d.record(layers=[CONCEPTS_LAYER, "planted", "sae:planted"])
    d.describe()
    records = d.identify().records
    concepts = target.module.planted.names
    rows = heldout_rows(d.run_dir)
    truth = np.asarray(acts[CONCEPTS_LAYER])[rows]
    layers = {"neurons": "planted", "latents": "sae.planted", "concepts (unmixed)": CONCEPTS_LAYER}
    pairs = sorted({(r.method, r.similarity) for r in records})
    print(f"\n{len(concepts)} planted concepts (class probabilities) mixed into {args.units} units by a random "
          f"rotation (seed {args.seed}); SAE: {training.report.summary()}")
    print(f"recovered: named at top-1 and Pearson >= {args.purity} with that concept on {len(rows)} held-out clips "
          "(named: without the Pearson condition)")
    header = f"{'method':7} {'similarity':13}" + "".join(f" {name:>26}" for name in layers)
    print(header)
    print("-" * len(header))
    best = {name: (0.0, "") for name in layers}
    for method, similarity in pairs:
        cells = []
        for name, layer in layers.items():
            units = acts[layer].shape[1]
            result = recovery(np.asarray(acts[layer])[rows], truth,
                              top1_names(records, layer, method, similarity, units), concepts, purity=args.purity)
            cells.append(f"{100 * result['recovered']:5.1f} % (named {100 * result['named_only']:5.1f} %)")
            if result["recovered"] > best[name][0]:
                best[name] = (result["recovered"], f"{method}/{similarity}")
        print(f"{method:7} {similarity:13}" + "".join(f" {cell:>26}" for cell in cells))
    print("best: " + ", ".join(f"{name} {100 * share:.1f} % ({pair or 'every pair'})"
                               for name, (share, pair) in best.items()))


if __name__ == "__main__":
    main()
