"""``audiodissect analyze``: the paper's analyses of a run, as data and PNG plots under ``analysis/``.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import RowSubset
from ..cache import hash_file, read_json, write_json, write_jsonl, write_text
from ..errors import AudioDissectError
from ..progress import ProgressHook, default_hook
from ..rundir import RunDir, unit_id
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


def analyze_adjectives(run: RunDir, out: Path, *, field: str, top: int) -> dict[str, Any]:
    """Adjective counts and per-layer means with their depth trend; writes CSVs and two plots."""
    records = run.read_units("summarize")
    layers = run.layers() if "record" in run.manifest()["stages"] else None
    counts = adj.adjective_counts(records, field=field)
    write_text(out / "adjective_counts.csv",
               _csv_text([{"adjective": w, "units": c} for w, c in counts], ["adjective", "units"]))
    by_layer = adj.adjectives_per_layer(records, layers=layers, field=field)
    write_text(out / "adjectives_by_layer.csv",
               _csv_text(by_layer, ["layer", "depth", "units", "mean", "std"]))
    trend = None
    trend_note = None
    if len(by_layer) >= 3:
        trend = adj.depth_trend([r["depth"] for r in by_layer], [r["mean"] for r in by_layer])
        if not np.isfinite(trend["p_value"]):
            trend_note = "the mean is the same in every layer: no trend to test"
    else:
        trend_note = f"a linear fit needs at least 3 summarized layers, this run has {len(by_layer)}"
    files = {"adjective_counts_csv": "adjective_counts.csv", "adjectives_by_layer_csv": "adjectives_by_layer.csv"}
    if counts:
        plots.plot_adjective_counts(counts, out / "adjective_counts.png", n_units=len(records), top=top)
        files["adjective_counts_png"] = "adjective_counts.png"
    if by_layer:
        plots.plot_adjectives_by_layer(by_layer, trend, out / "adjectives_by_layer.png")
        files["adjectives_by_layer_png"] = "adjectives_by_layer.png"
    return {"field": field, "units": len(records), "top": [list(c) for c in counts[:top]],
            "by_layer": by_layer, "trend": trend, "trend_note": trend_note, "files": files}


def analyze_interpretability(run: RunDir, out: Path, *, k: int, kprimes: Sequence[int], top: int,
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
    write_text(out / "uninterpretable.csv", _csv_text(layer_rows, interp.layer_columns(kprimes)))
    write_jsonl(out / "uninterpretable_units.jsonl", unit_rows)
    examples = interp.cluster_examples(sentences, labels)
    write_json(out / "clusters.json", examples)
    plots.plot_uninterpretable(layer_rows, kprimes, out / "uninterpretable.png", k=int(labels.max()) + 1)
    return {"k": int(labels.max()) + 1, "k_requested": k, "kprimes": list(kprimes), "top": top, "seed": seed,
            "sentences": len(sentences), "described_clips": int(memberships["any"].any(axis=1).sum()),
            "rule": rule, "rules": {"any": "a clip counts in every cluster one of its sentences falls in (the paper's)",
                                    "majority": "a clip counts in the majority cluster of its sentences"},
            "by_layer": layer_rows, "clusters": examples,
            "files": {"uninterpretable_csv": "uninterpretable.csv", "uninterpretable_png": "uninterpretable.png",
                      "uninterpretable_units": "uninterpretable_units.jsonl", "clusters": "clusters.json"}}


def analyze_last_layer(run: RunDir, out: Path) -> dict[str, Any]:
    """Plot the last-layer accuracy table written by ``audiodissect evaluate last-layer``."""
    path = run.last_layer_path
    if not path.exists():
        raise AudioDissectError(f"{run.path} has no last-layer evaluation",
                                hint="run `audiodissect evaluate last-layer` first")
    rows = read_csv_rows(path)
    if rows and {"method", "top1", "top5"} <= set(rows[0]):
        plots.plot_last_layer(rows, out / "last_layer.png")
        return {"rows": rows, "files": {"last_layer_png": "last_layer.png"}}
    return {"rows": rows, "files": {}}


@dataclass(frozen=True)
class AnalysisSettings:
    """Settings of the analyses (see :func:`write_analyses`)."""

    k: int = interp.DEFAULT_K
    kprimes: tuple[int, ...] = tuple(interp.DEFAULT_KPRIMES)
    top: int = interp.DEFAULT_TOP
    seed: int = 0
    field: str = adj.DEFAULT_FIELD
    top_adjectives: int = 20
    rule: str = interp.DEFAULT_RULE

    def __post_init__(self) -> None:
        if self.rule not in interp.RULES:
            raise AudioDissectError(f"unknown uninterpretable-unit rule {self.rule!r}",
                                    hint="one of " + ", ".join(interp.RULES))
        kprimes = tuple(int(x) for x in self.kprimes)
        if any(x < 1 or x > self.top for x in kprimes):
            raise AudioDissectError(f"every K' must lie in 1..{self.top}, got {list(kprimes)}")
        object.__setattr__(self, "kprimes", kprimes)


def analysis_inputs(run: RunDir) -> dict[str, Any]:
    """What the analyses read: the recording, the summaries, the descriptions and the last-layer table."""
    files = {"summaries": run.units_path("summarize"), "descriptions": run.descriptions_path,
             "last_layer": run.last_layer_path}
    record = run.manifest()["stages"].get("record", {}).get("key")
    return {"record": record, **{name: hash_file(p) if p.exists() else None for name, p in files.items()}}


def write_analyses(run: RunDir, settings: AnalysisSettings = AnalysisSettings(), *, embedder=None,
                   hook: ProgressHook | None = None) -> dict[str, Any]:
    """Run every analysis whose inputs exist and write ``analysis/``.

    Parameters
    ----------
    run : RunDir
    settings : AnalysisSettings
        ``k`` clusters of description sentences; thresholds ``kprimes`` (K': a
        unit is uninterpretable when fewer than K' of its ``top`` clips share a
        cluster); k-means ``seed``; the summarize-record ``field`` counted as
        adjectives; ``top_adjectives`` bars in the adjective plot.
    embedder : TextEmbedder, optional
        Sentence embedder; the packaged MiniLM when None.
    hook : ProgressHook, optional

    Returns
    -------
    dict
        The content of ``analysis/summary.json``.
    """
    hook = hook or default_hook()
    out = run.analysis_dir
    steps = [("adjectives", lambda: analyze_adjectives(run, out, field=settings.field, top=settings.top_adjectives)),
             ("uninterpretable", lambda: analyze_interpretability(run, out, k=settings.k, kprimes=settings.kprimes,
                                                                  top=settings.top, seed=settings.seed,
                                                                  rule=settings.rule, embedder=embedder)),
             ("last_layer", lambda: analyze_last_layer(run, out))]
    summary: dict[str, Any] = {"skipped": {}}
    hook("analyze", None, completed=0, total=len(steps))
    for done, (name, fn) in enumerate(steps, 1):
        try:
            summary[name] = fn()
        except AudioDissectError as exc:
            summary["skipped"][name] = str(exc)
        hook("analyze", None, completed=done, total=len(steps))
    write_json(out / "summary.json", summary)
    return summary


def run_analyses(run: RunDir, *, k: int = interp.DEFAULT_K, kprimes: Sequence[int] = interp.DEFAULT_KPRIMES,
                 top: int = interp.DEFAULT_TOP, seed: int = 0, field: str = adj.DEFAULT_FIELD,
                 top_adjectives: int = 20, rule: str = interp.DEFAULT_RULE, embedder=None,
                 hook: ProgressHook | None = None, force: bool = False) -> dict[str, Any]:
    """Run the analyze stage on `run` (:func:`write_analyses`); nothing is recomputed when its inputs are unchanged.

    Returns the content of ``analysis/summary.json``.
    """
    from ..config import RunConfig
    from ..stage import Context, Runner
    from .stage import AnalyzeStage

    settings = AnalysisSettings(k=k, kprimes=tuple(kprimes), top=top, seed=seed, field=field,
                                top_adjectives=top_adjectives, rule=rule)
    ctx = Context(run, RunConfig(), hook=hook)
    return Runner(run)(AnalyzeStage(settings, embedder=embedder), ctx, force=force).value
