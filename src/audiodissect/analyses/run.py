"""The paper's analyses of a run, as data and PNG plots under ``analysis/``.

Each analysis runs when its inputs exist and is otherwise listed under
``skipped`` with the reason:

- adjectives (needs ``units/summarize.jsonl``): ``adjective_counts.csv``,
  ``adjective_counts.png`` (Fig. 3), ``adjectives_by_layer.csv``,
  ``adjectives_by_layer.png`` with a linear fit over depth (Fig. 5);
- uninterpretable units (needs ``descriptions.json`` and activations):
  ``uninterpretable.csv``, ``uninterpretable_units.jsonl``, ``clusters.json``,
  ``uninterpretable.png`` (Fig. 6);
- last-layer accuracy (needs ``evaluation/last_layer.csv``): ``last_layer.png``.

``analysis/summary.json`` holds the numbers and the names of the files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import RowSubset
from ..cache import read_json, write_json, write_jsonl, write_text
from ..errors import AudioDissectError
from ..progress import ProgressHook, default_hook
from ..config import AnalyzeConfig
from ..rundir import (ADJECTIVE_COUNTS_CSV, ADJECTIVE_COUNTS_PNG, ADJECTIVES_BY_LAYER_CSV, ADJECTIVES_BY_LAYER_PNG,
                      ANALYSIS_SUMMARY, CLUSTERS, LAST_LAYER_PNG, UNINTERPRETABLE_CSV, UNINTERPRETABLE_PNG,
                      UNINTERPRETABLE_UNITS, RunDir, unit_id)
from . import adjectives as adj
from . import interpretability as interp
from . import plots

def read_csv_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a CSV file as dicts; numeric-looking cells become floats, empty cells None."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if value is None or value == "":
                clean[key] = None
                continue
            try:
                clean[key] = float(value)
            except ValueError:
                clean[key] = value
        out.append(clean)
    return out


def _csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c) for c in columns})
    return buf.getvalue()


def analyze_adjectives(run: RunDir, *, field: str, top: int) -> dict[str, Any]:
    """Adjective counts and per-layer means with their depth trend; writes CSVs and two plots."""
    records = run.read_units("summarize")
    layers = run.layers() if "record" in run.manifest()["stages"] else None
    counts = adj.adjective_counts(records, field=field)
    write_text(run.file(ADJECTIVE_COUNTS_CSV),
               _csv_text([{"adjective": w, "units": c} for w, c in counts], ["adjective", "units"]))
    by_layer = adj.adjectives_per_layer(records, layers=layers, field=field)
    write_text(run.file(ADJECTIVES_BY_LAYER_CSV),
               _csv_text(by_layer, ["layer", "depth", "units", "mean", "std"]))
    trend = None
    trend_note = None
    if len(by_layer) >= 3:
        trend = adj.depth_trend([r["depth"] for r in by_layer], [r["mean"] for r in by_layer])
        if not np.isfinite(trend["p_value"]):
            trend_note = "the mean is the same in every layer: no trend to test"
    else:
        trend_note = f"a linear fit needs at least 3 summarized layers, this run has {len(by_layer)}"
    files = {"adjective_counts_csv": _name(ADJECTIVE_COUNTS_CSV), "adjectives_by_layer_csv": _name(ADJECTIVES_BY_LAYER_CSV)}
    if counts:
        plots.plot_adjective_counts(counts, run.file(ADJECTIVE_COUNTS_PNG), n_units=len(records), top=top)
        files["adjective_counts_png"] = _name(ADJECTIVE_COUNTS_PNG)
    if by_layer:
        plots.plot_adjectives_by_layer(by_layer, trend, run.file(ADJECTIVES_BY_LAYER_PNG))
        files["adjectives_by_layer_png"] = _name(ADJECTIVES_BY_LAYER_PNG)
    return {"field": field, "units": len(records), "top": [list(c) for c in counts[:top]],
            "by_layer": by_layer, "trend": trend, "trend_note": trend_note, "files": files}


def analyze_interpretability(run: RunDir, *, k: int, kprimes: Sequence[int], top: int,
                             seed: int, rule: str = interp.DEFAULT_RULE, embedder=None) -> dict[str, Any]:
    """Cluster description sentences and count uninterpretable units per layer under both rules.

    `rule` (``any``: the paper's; ``majority``) is the one ``share_k<K'>`` reports;
    ``share_k<K'>_any`` and ``share_k<K'>_majority`` give both. Writes data and a plot.
    """
    path = run.descriptions_path
    if not path.exists():
        raise AudioDissectError(f"{run.path} holds no clip descriptions", hint="run `audiodissect describe` first")
    descriptions = read_json(path)
    clips = run.clips()
    sentences, owners = interp.description_sentences(descriptions, [c.id for c in clips])
    if embedder is None:
        from ..text_embedder import load_text_embedder

        embedder = load_text_embedder("minilm")
    labels = interp.cluster_sentences(embedder.encode(sentences), k=k, seed=seed)
    n_clusters = int(labels.max()) + 1
    memberships = interp.clip_memberships(labels, owners, len(clips), n_clusters=n_clusters)
    rows_probe = run.probe_rows()
    layer_rows, unit_rows = [], []
    for depth, layer in enumerate(run.layers()):
        acts = run.activations(layer)
        top_clip_rows = rows_probe[interp.top_rows(RowSubset(acts, rows_probe), top)]  # (U, top) clip positions
        result = interp.layer_interpretability(memberships, top_clip_rows, kprimes=kprimes, rule=rule)
        layer_rows.append(interp.layer_row(result, layer=layer, depth=depth))
        unit_rows.extend(interp.unit_rows(result, memberships, top_clip_rows, layer=layer,
                                          unit_ids=[unit_id(layer, u) for u in range(acts.shape[1])]))
    write_text(run.file(UNINTERPRETABLE_CSV), _csv_text(layer_rows, interp.layer_columns(kprimes)))
    write_jsonl(run.file(UNINTERPRETABLE_UNITS), unit_rows)
    examples = interp.cluster_examples(sentences, labels)
    write_json(run.file(CLUSTERS), examples)
    plots.plot_uninterpretable(layer_rows, kprimes, run.file(UNINTERPRETABLE_PNG), k=int(labels.max()) + 1)
    return {"k": int(labels.max()) + 1, "k_requested": k, "kprimes": list(kprimes), "top": top, "seed": seed,
            "sentences": len(sentences), "described_clips": int(memberships["any"].any(axis=1).sum()),
            "rule": rule, "rules": {"any": "a clip counts in every cluster one of its sentences falls in (the paper's)",
                                    "majority": "a clip counts in the majority cluster of its sentences"},
            "by_layer": layer_rows, "clusters": examples,
            "files": {"uninterpretable_csv": _name(UNINTERPRETABLE_CSV),
                      "uninterpretable_png": _name(UNINTERPRETABLE_PNG),
                      "uninterpretable_units": _name(UNINTERPRETABLE_UNITS), "clusters": _name(CLUSTERS)}}


def analyze_last_layer(run: RunDir) -> dict[str, Any]:
    """Plot the last-layer accuracy table the last-layer stage wrote."""
    path = run.last_layer_path
    if not path.exists():
        raise AudioDissectError(f"{run.path} has no last-layer evaluation",
                                hint="run `audiodissect evaluate last-layer` first")
    rows = read_csv_rows(path)
    if rows and {"method", "top1", "top5"} <= set(rows[0]):
        plots.plot_last_layer(rows, run.file(LAST_LAYER_PNG))
        return {"rows": rows, "files": {"last_layer_png": _name(LAST_LAYER_PNG)}}
    return {"rows": rows, "files": {}}


def _name(path: str) -> str:
    """A run-directory file's name inside ``analysis/`` (what ``summary.json`` lists)."""
    return Path(path).name


def check_settings(settings: AnalyzeConfig) -> None:
    """Refuse K' values outside 1..top (a unit's top clips can hold at most `top` in one cluster)."""
    if any(x < 1 or x > settings.top for x in settings.kprimes):
        raise AudioDissectError(f"every K' must lie in 1..{settings.top}, got {list(settings.kprimes)}")


def write_analyses(run: RunDir, settings: AnalyzeConfig, *, embedder=None,
                   hook: ProgressHook | None = None) -> dict[str, Any]:
    """Run every analysis whose inputs exist and write ``analysis/``.

    Parameters
    ----------
    run : RunDir
    settings : AnalyzeConfig
        ``k`` clusters of description sentences; thresholds ``kprimes`` (K': a
        unit is uninterpretable when fewer than K' of its ``top`` clips share a
        cluster); k-means ``seed``; the summarize-record ``field`` counted as
        adjectives; ``top_adjectives`` bars in the adjective plot; the
        uninterpretable-unit ``rule``.
    embedder : TextEmbedder, optional
        Sentence embedder; the packaged MiniLM when None.
    hook : ProgressHook, optional

    Returns
    -------
    dict
        The content of ``analysis/summary.json``.
    """
    check_settings(settings)
    hook = hook or default_hook()
    steps = [("adjectives", lambda: analyze_adjectives(run, field=settings.field, top=settings.top_adjectives)),
             ("uninterpretable", lambda: analyze_interpretability(run, k=settings.k, kprimes=settings.kprimes,
                                                                  top=settings.top, seed=settings.seed,
                                                                  rule=settings.rule, embedder=embedder)),
             ("last_layer", lambda: analyze_last_layer(run))]
    summary: dict[str, Any] = {"skipped": {}}
    hook("analyze", None, completed=0, total=len(steps))
    for done, (name, fn) in enumerate(steps, 1):
        try:
            summary[name] = fn()
        except AudioDissectError as exc:
            summary["skipped"][name] = str(exc)
        hook("analyze", None, completed=done, total=len(steps))
    write_json(run.file(ANALYSIS_SUMMARY), summary)
    return summary
