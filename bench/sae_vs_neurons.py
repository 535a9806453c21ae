"""Neurons against SAE latents on one layer of a run: confident names, explanation scores, pruning selectivity.

Opens a run directory (a copy: the run gains an SAE and its latents), trains
an SAE on ``--layer`` (probe clips; :meth:`audiodissect.Dissection.train_sae`),
records its latents beside the run's layers (``sae:<layer>``), runs describe,
identify, summarize and score (earlier results are reused where unchanged),
then prints, neurons beside latents (:mod:`audiodissect.sae.compare`):

- the identify stage's **names**: the share of live units named (a
  significant concept with a clear margin), ambiguous and unexplained;
- the share of **confidently named** units per method/similarity: the top-1
  concept is the same on at least 90 % of 20 bootstrap resamples of the probe
  clips, and how many distinct concepts those names cover;
- the mean held-out **explanation scores** (the score stage's Spearman between
  simulated and real activations) per explanation and predictor, with 95 %
  bootstrap intervals over units, and the same for the detection score
  (average precision of telling the unit's top held-out clips from others);
- **pruning selectivity**: per class, the layer's units (then its latents)
  whose top-3 concepts by ``--prune-method``/``--prune-similarity`` include
  the class are switched off on the held-out clips (latents: their decoder
  contributions removed from the layer's output), against as many random units
  of the same layer (``random~<group>/<method>``). Units constant on the probe
  clips (dead latents) are left out of the shares and of pruning.

Usage::

    cp -r runs/default runs/sae_default
    python bench/sae_vs_neurons.py runs/sae_default --layer fc [--k 8] [--expansion-factor 4] [--epochs 200]
"""

from __future__ import annotations

import argparse
import math


def _cell(mean: float, low: float, high: float, n: int) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] ({n})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="run directory (it gains the SAE: use a copy)")
    parser.add_argument("--layer", required=True, help="recorded layer to train the SAE on")
    parser.add_argument("--architecture", default="topk", choices=("topk", "batchtopk"))
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--expansion-factor", type=float, default=4.0)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", nargs="+", default=["tab/cos3", "tab/soft_wpmi", "db/cos3", "db/cos"],
                        help="method/similarity pairs for the confident-name shares")
    parser.add_argument("--prune-method", default="tab")
    parser.add_argument("--prune-similarity", default="soft_wpmi")
    parser.add_argument("--concepts", nargs="+", default=["all"], help="classes to prune (all, sample:N, names)")
    parser.add_argument("--seeds", type=int, default=1, help="random draws per pruning selection")
    parser.add_argument("--no-prune", action="store_true")
    args = parser.parse_args()

    import audiodissect as ad
    from audiodissect.prune.evaluate import format_table
    from audiodissect.sae import latent_name, latent_path
    from audiodissect.sae.compare import name_status_rows, naming_rows, pruning_rows, score_rows

    d = ad.Dissection.open(args.run, echo=print)
    training = d.train_sae(args.layer, architecture=args.architecture, k=args.k,
                           expansion_factor=args.expansion_factor, epochs=args.epochs, lr=args.lr, seed=args.seed)
    latents = latent_path(args.layer)
    layers = [name for name in d.run_dir.layers() if name != latents]
    d.record(layers=layers + [latent_name(args.layer)])
    d.describe()
    d.identify()
    d.summarize()
    d.score()
    run = d.run_dir
    groups = {"neurons": args.layer, "latents": latents}
    pairs = [tuple(pair.split("/", 1)) for pair in args.pairs]

    print(f"\nlayer {args.layer}: {run.stage('record')['layers'][args.layer]} neurons; "
          f"SAE {training.report.summary()}")
    print("\nnames (identify): shares of the live units")
    print(f"{'group':8} {'units':>5} {'live':>5} {'named':>7} {'ambiguous':>9} {'unexplained':>11} "
          f"{'distinct named':>14}")
    for row in name_status_rows(run, groups):
        print(f"{row['group']:8} {row['units']:>5} {row['live']:>5} {100 * row['named']:>6.1f}% "
              f"{100 * row['ambiguous']:>8.1f}% {100 * row['unexplained']:>10.1f}% {row['distinct']:>14}")

    print("\nconfidently named: top-1 concept kept on >= 90 % of 20 bootstrap resamples of the probe clips")
    print("(live: units that vary over the probe clips; confident: share of the live units, all: of every unit)")
    print(f"{'group':8} {'method/similarity':18} {'units':>5} {'live':>5} {'confident':>9} {'all':>6} "
          f"{'distinct concepts':>17}")
    for row in naming_rows(run, groups, pairs=pairs, variant=d.config.identify.similarity_variant):
        print(f"{row['group']:8} {row['method'] + '/' + row['similarity']:18} {row['units']:>5} {row['live']:>5} "
              f"{100 * row['confident']:>8.1f}% {100 * row['confident_all']:>5.1f}% {row['distinct']:>17}")

    for measure, title in (("spearman", "simulation: Spearman of predicted and real activations"),
                           ("detection_auprc", "detection: average precision of the unit's top clips")):
        print(f"\nexplanation scores, {title}: held-out mean [95 % bootstrap interval] (units)")
        print(f"{'explanation':20} {'predictor':12} {'neurons':>32} {'latents':>32}")
        for row in score_rows(run, groups, measure=measure):
            print(f"{row['explanation']:20} {row['predictor']:12} "
                  f"{_cell(row['neurons'], row['neurons_low'], row['neurons_high'], row['neurons_n']):>32} "
                  f"{_cell(row['latents'], row['latents_low'], row['latents_high'], row['latents_n']):>32}")

    if not args.no_prune:
        table, _ = pruning_rows(run, d.target, d.probe, groups, concepts=args.concepts, method=args.prune_method,
                                similarity=args.prune_similarity, seeds=args.seeds,
                                batch_size=d.config.record.batch_size)
        print(f"\npruning within the layer ({args.prune_method}/{args.prune_similarity} top-3; held-out confidence "
              "change; dA: the concept's clips, dR: the rest)")
        print(format_table(table), end="")


if __name__ == "__main__":
    main()
