"""The audio-text predictor's scores with the explanations in the tag bridge's template or as they are.

The score stage's audio-text predictor (the run's ``identify.tab_backend``, the
tag bridge with measured acoustic words by default) maps each explanation text
onto YAMNet's 521 class names by MiniLM name similarity. The tag names are
embedded in the template "This is a sound of {}."; the explanation texts were
too, until the score stage embedded them as they are, the embedding the
description predictor computes for the same texts, so that each text is
embedded once (``TagBridge.explanation_template``). This script scores a run's
explanations on its held-out clips with the audio-text predictor three ways, in
one process, and prints the score stage's summary side by side:

* ``templated``: the explanations in the template, the tags too (the former
  score stage);
* ``plain``: the explanations as they are, the tags in the template (the
  default now);
* ``plain tags``: the explanations and the tag names as they are.

For each explanation kind: the number of units, the mean Spearman correlation
(undefined counted as 0) with its 95 % bootstrap interval over the units
(``score/summary.csv``'s), the paired difference from ``templated`` with its
95 % bootstrap interval over the units, the correlation over the units of the
two variants' Spearman scores, the median over the explanations of the
correlation of their predictions on the held-out clips, and the detection
AUPRC (all negatives, and hard negatives). The last line says which variant
the run's own ``units/score.jsonl`` matches.

Usage::

    python bench/score_template.py runs/default          # after `audiodissect run --out runs/default`
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np

#: Resamples of the units for the paired differences' intervals.
BOOTSTRAP = 1000


def variants() -> dict[str, dict[str, str]]:
    """Name -> the tag bridge's (explanation_template, template) of each variant."""
    from audiodissect.evidence.tag_bridge import TEMPLATE

    return {"templated": {"explanation_template": TEMPLATE, "template": TEMPLATE},
            "plain": {"explanation_template": "{}", "template": TEMPLATE},
            "plain tags": {"explanation_template": "{}", "template": "{}"}}


def find_bridge(backend):
    """The tag bridge inside an evidence backend (``+acoustic`` and ``+labels`` wrap it as ``base``)."""
    while backend is not None and not hasattr(backend, "explanation_template"):
        backend = getattr(backend, "base", None)
    return backend


def paired_interval(diff: np.ndarray, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(BOOTSTRAP, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def column_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of `a` with the same column of `b` (n, T) -> (T,); NaN where constant."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    norm = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (a * b).sum(axis=0) / norm, np.nan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run directory with identify, summarize and describe done")
    args = parser.parse_args(argv)

    import audiodissect as ad
    from audiodissect.arrays import RowSubset
    from audiodissect.progress import silent
    from audiodissect.scoring.score import (collect_explanations, heldout_rows, score_explanations,
                                            summarize_scores, unit_rows)
    from audiodissect.scoring.stage import ScoreStage

    d = ad.Dissection.open(args.run, hook=silent)
    run, ctx = d.run_dir, d.context
    if not ctx.config.score.audio_text:
        raise SystemExit("the run's settings turn the audio-text predictor off")
    explanations = collect_explanations(run.read_units("identify") if run.has_units("identify") else [],
                                        run.read_units("summarize") if run.has_units("summarize") else [])
    rows = heldout_rows(run)
    predictors = {}
    for name, templates in variants().items():
        predictor = ScoreStage().audio_text_predictor(ctx)
        bridge = find_bridge(predictor.backend)
        if bridge is None:
            raise SystemExit(f"the run's audio-text backend {predictor.name!r} has no tag bridge")
        for attribute, value in templates.items():
            setattr(bridge, attribute, value)
        predictors[name] = predictor
    names = list(predictors)
    texts = list(dict.fromkeys(e["text"] for e in explanations))
    predictions = {name: np.asarray(p(texts), dtype=np.float64) for name, p in predictors.items()}
    text_corr = {name: dict(zip(texts, column_correlations(predictions[names[0]], predictions[name])))
                 for name in names[1:]}
    embedding = predictors[names[0]].clip_embedding()
    wanted = {e["layer"] for e in explanations}
    activations = {layer: RowSubset(run.activations(layer), rows) for layer in run.layers() if layer in wanted}
    cfg = ctx.config.score
    records = score_explanations(explanations, activations, predictors, hook=silent, bootstrap=cfg.bootstrap,
                                 embedding=None if embedding is None else unit_rows(embedding), seed=cfg.seed)
    table = {(r["predictor"], r["explanation"]): r for r in summarize_scores(records) if r["layer"] == "all"}
    rho: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for r in records:
        rho[(r["predictor"], r["explanation"])][r["unit"]] = 0.0 if r["spearman"] is None else r["spearman"]
    text_of = {(e["unit"], e["explanation"]): e["text"] for e in explanations}
    kinds = sorted({e["explanation"] for e in explanations}, key=lambda k: ("/" not in k, k))

    print(f"{args.run}: {len(explanations)} explanations ({len(texts)} distinct texts), {len(rows)} held-out "
          f"clips, audio-text predictor {predictors[names[0]].name}")
    print("mean Spearman (95 % interval over units); difference from templated (95 % paired interval); "
          "r units: correlation of the units' Spearman scores with templated's; r pred: median over the "
          "explanations of the correlation of their predictions with templated's")
    print()
    head = ["explanation", "n", *(f"rho {n}" for n in names), *(f"{n} - templated" for n in names[1:]),
            *(f"r units {n}" for n in names[1:]), *(f"r pred {n}" for n in names[1:])]
    print("| " + " | ".join(head) + " |")
    print("|---" * len(head) + "|")
    for kind in kinds:
        cells = [kind, str(table[(names[0], kind)]["n"])]
        for name in names:
            t = table[(name, kind)]
            cells.append(f"{t['spearman_mean']:.3f} ({t['spearman_mean_low']:.3f}-{t['spearman_mean_high']:.3f})")
        base = rho[(names[0], kind)]
        units = list(base)
        a = np.array([base[u] for u in units])
        corr_cells, pred_cells = [], []
        for name in names[1:]:
            b = np.array([rho[(name, kind)][u] for u in units])
            low, high = paired_interval(b - a)
            cells.append(f"{(b - a).mean():+.3f} ({low:+.3f} to {high:+.3f})")
            corr_cells.append(f"{np.corrcoef(a, b)[0, 1]:.3f}")
            pred_cells.append(f"{np.nanmedian([text_corr[name][text_of[(u, kind)]] for u in units]):.3f}")
        print("| " + " | ".join(cells + corr_cells + pred_cells) + " |")
    print()
    head = ["explanation", *(f"AP {n}" for n in names), *(f"AP hard {n}" for n in names)]
    print("| " + " | ".join(head) + " |")
    print("|---" * len(head) + "|")
    for kind in kinds:
        cells = [kind, *(f"{table[(n, kind)]['detection_auprc']:.3f}" for n in names),
                 *(f"{table[(n, kind)]['detection_auprc_hard']:.3f}" for n in names)]
        print("| " + " | ".join(cells) + " |")
    print()
    if run.has_units("score"):
        stored = {(r["unit"], r["explanation"]): r["spearman"] for r in run.read_units("score")
                  if r["predictor"] == "audio_text"}
        for name in names:
            mine = {(r["unit"], r["explanation"]): r["spearman"] for r in records if r["predictor"] == name}
            same = mine.keys() == stored.keys() and all(
                (mine[k] is None) == (stored[k] is None) and (mine[k] is None or abs(mine[k] - stored[k]) < 1e-6)
                for k in mine)
            print(f"the run's units/score.jsonl (audio_text) {'matches' if same else 'does not match'} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
