"""Offline LLM backends compared on the same units: summaries, calibration, open concepts, ICL.

Takes a finished run (record, describe, identify done), draws `per_layer`
units of every layer (seeded), and runs the summarise stage
(:func:`audiodissect.summarize.units.summarize_units`, the run's default
settings) on those units once per backend. Each backend's explanations
(raw summary S_high, calibrated summary, open concepts, ICL concept) are
scored like ``audiodissect score`` does: predict the unit's activations on
the run's held-out clips from the text alone (description similarity, and
audio-text similarity through the run's TAB backend) and take the Spearman
correlation with the real activations. Also reported: wall time, LLM
prompts sent and seconds per prompt (answers are cached in
``<cache>/llm.sqlite``: delete it to time again), and how ICL answers were read.

Usage: ``nice python bench/llm_backends.py RUN [--per-layer N] [--seed S]
[--backends extractive,llamacpp] [--out DIR] [--cache DIR]``; writes
``DIR/llm_backends.md`` (default ``bench/results``) and
``<cache>/llm_backends.jsonl`` (the records; default cache ``runs/llm-bench``).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np


def pick_units(layers: dict[str, int], per_layer: int, seed: int) -> dict[str, list[int]]:
    """`per_layer` distinct unit indices of each layer, sorted, from one seeded generator."""
    rng = np.random.default_rng(seed)
    return {layer: sorted(int(i) for i in rng.choice(n, size=min(per_layer, n), replace=False))
            for layer, n in layers.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--per-layer", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backends", default="extractive,llamacpp")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--cache", default="runs/llm-bench")
    args = ap.parse_args(argv)

    from audiodissect.config import RunConfig, from_dict
    from audiodissect.cache import read_json
    from audiodissect.evidence import load_evidence_backend
    from audiodissect.llm import CachedLLM
    from audiodissect.summarize.llms import load_llm
    from audiodissect.pipeline import reopen_probe
    from audiodissect.progress import silent
    from audiodissect.rundir import RunDir
    from audiodissect.scoring.audio_text import AudioTextEvidence
    from audiodissect.scoring.score import (DescriptionEvidence, collect_explanations, description_map,
                                            heldout_descriptions, heldout_rows, score_explanations)
    from audiodissect.summarize.nlp import load_nlp
    from audiodissect.summarize.units import make_summarize_settings, summarize_units
    from audiodissect.text_embedder import load_text_embedder

    run = RunDir(args.run)
    config = from_dict(RunConfig, read_json(run.path / "config.json"))
    cfg = config.summarize
    out = Path(args.out)
    cache = Path(args.cache)
    for folder in (out, cache):
        folder.mkdir(parents=True, exist_ok=True)
    acts = run.probe_activations()
    units = pick_units({layer: a.shape[1] for layer, a in acts.items()}, args.per_layer, args.seed)
    clips = run.clips()
    descriptions = description_map(read_json(run.path / "descriptions.json"))
    texts = [descriptions[clips[i].id] for i in run.probe_rows()]
    concepts = run.concepts()
    settings = make_summarize_settings(k=cfg.k, threshold=cfg.threshold, adjective_filter=cfg.adjective_filter,
                                       temperature=cfg.temperature, max_tokens=cfg.max_tokens)
    embedder = load_text_embedder(config.identify.text_embedder)
    nlp = load_nlp(None)

    rows = heldout_rows(run)
    predictors = {"description": DescriptionEvidence(heldout_descriptions(run, rows), embedder=embedder),
                  "audio_text": AudioTextEvidence(load_evidence_backend(config.identify.tab_backend),
                                                  reopen_probe(run), rows, cache_dir=run.path / "cache")}
    wanted = set(units)
    held = {layer: np.asarray(run.activations(layer))[rows] for layer in run.layers() if layer in wanted}

    results, all_records = {}, []
    for spec in args.backends.split(","):
        llm = CachedLLM(load_llm(spec), cache / "llm.sqlite")
        start = time.perf_counter()
        records = summarize_units(acts, texts, llm=llm, embedder=embedder, concepts=concepts, settings=settings,
                                  units=units, hook=silent, nlp=nlp)
        seconds = time.perf_counter() - start
        scores = score_explanations(collect_explanations([], records), held, predictors, hook=silent)
        results[spec] = {"seconds": seconds, "calls": llm.calls, "hits": llm.hits, "records": records,
                         "scores": scores}
        for r in records:
            all_records.append({"backend": spec, **r})
        print(f"{spec}: {len(records)} units, {seconds:.1f} s, {llm.calls} prompts sent, {llm.hits} cached",
              file=sys.stderr)

    n_units = sum(len(v) for v in units.values())
    lines = [f"# LLM backends on the same units: `python bench/llm_backends.py {args.run} --per-layer "
             f"{args.per_layer} --seed {args.seed} --backends {args.backends}`", "",
             f"{n_units} units ({args.per_layer} per layer, seed {args.seed}) of `{args.run}`; "
             f"scores on its {len(rows)} held-out clips. Spearman mean over the units that have the "
             f"explanation (n); a unit without one (empty calibrated summary, unmatched ICL answer) is "
             f"not counted.", "",
             "| backend | seconds | prompts sent | s / prompt | ICL matched | calibrated empty |",
             "|---|---|---|---|---|---|"]
    for spec, res in results.items():
        status = collections.Counter(r.get("icl_status") for r in res["records"])
        empty = sum(not r["calibrated_summary"] for r in res["records"])
        per = res["seconds"] / res["calls"] if res["calls"] else float("nan")
        lines.append(f"| {spec} | {res['seconds']:.1f} | {res['calls']} | {per:.2f} | "
                     f"{status.get('matched', 0)}/{n_units} | {empty}/{n_units} |")
    lines += ["", "| backend | predictor | explanation | n | Spearman mean |", "|---|---|---|---|---|"]
    for spec, res in results.items():
        groups = collections.defaultdict(list)
        for s in res["scores"]:
            groups[(s["predictor"], s["explanation"])].append(0.0 if s["spearman"] is None else s["spearman"])
        for (pred, kind), values in sorted(groups.items()):
            lines.append(f"| {spec} | {pred} | {kind} | {len(values)} | {np.mean(values):.3f} |")
    lines += ["", "Examples (first 4 units):", ""]
    for spec, res in results.items():
        for r in res["records"][:4]:
            lines.append(f"- {spec} `{r['unit']}`: S_high {r['s_high']!r}; calibrated "
                         f"{r['calibrated_summary']!r}; ICL answer {r.get('icl_answer')!r} -> {r.get('icl_top1')!r}")
    (out / "llm_backends.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open(cache / "llm_backends.jsonl", "w", encoding="utf-8") as f:
        for r in all_records:
            f.write(json.dumps(r) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
