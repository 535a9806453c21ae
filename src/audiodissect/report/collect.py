"""Read whatever a run directory holds into plain data for the report.

Every source is optional: a missing stage leaves its field empty, so a report
can be built after any stage.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import RowSubset
from ..cache import read_json, read_jsonl
from ..records import (CausalEffect, ConceptRanking, ExplanationScore, NameStability, UnitName, UnitSummary,
                       ranking_key)
from ..rundir import (ANALYSIS_SUMMARY, CLASS_DROP_JSON, IMPORTANCE_JSON, PRUNING_TABLE, UNINTERPRETABLE_UNITS, RunDir,
                      parse_unit_id, unit_id)

#: Identify methods shown first in the unit table, in this order (the paper's choices for pruning).
METHOD_PREFERENCE = ("tab/soft_wpmi", "db/cos3", "icl")


@dataclasses.dataclass
class RunData:
    """Everything the report shows, read from a run directory."""

    path: Path
    manifest: dict[str, Any]
    record: dict[str, Any] | None
    config: dict[str, Any] | None
    layers: dict[str, int]
    clips: list[Any]
    descriptions: dict[str, str]
    identify: dict[str, list[ConceptRanking]]
    summaries: dict[str, UnitSummary]
    scores: dict[str, list[ExplanationScore]]
    uninterpretable: dict[str, dict[str, Any]]
    analysis: dict[str, Any] | None
    last_layer: list[dict[str, Any]]
    pruning: list[dict[str, Any]]
    concepts: list[str]
    #: ``pruning/importance.json``: feature-importance curves (paper Fig. 4), when computed
    importance: dict[str, Any] | None = None
    #: ``pruning/class_drop.json``: per-class confidence changes after pruning (paper Fig. 10), when computed
    class_drop: dict[str, Any] | None = None
    #: ``units/names.jsonl``: each unit's one answer, by unit id
    names: dict[str, UnitName] = dataclasses.field(default_factory=dict)
    #: ``units/stability.jsonl``: whether each named unit keeps its name, by unit id
    stability: dict[str, NameStability] = dataclasses.field(default_factory=dict)
    #: ``units/causal.jsonl``: the causal check of a sample of named units, by unit id
    causal: dict[str, CausalEffect] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def methods(self) -> list[str]:
        """Identify method keys present, preferred ones first (found once: every unit's rankings are read)."""
        found = {ranking_key(r) for rs in self.identify.values() for r in rs}
        return [m for m in METHOD_PREFERENCE if m in found] + sorted(found - set(METHOD_PREFERENCE))

    def units(self) -> list[str]:
        """All unit ids, layer by layer in recording order, then by index."""
        return [unit_id(layer, i) for layer, n in self.layers.items() for i in range(n)]

    def circular_stages(self) -> list[str]:
        """Stages whose manifest section flags its evidence as circular."""
        return [name for name, sec in self.manifest.get("stages", {}).items()
                if isinstance(sec, dict) and sec.get("circular")]


def _by_unit(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(r["unit"], []).append(r)
    return out


def _maybe_jsonl(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path) if path.exists() else []


def _maybe_units(run: RunDir, stage: str) -> list[Any]:
    return run.read_units(stage) if run.has_units(stage) else []


def name_text(named: UnitName | None) -> str:
    """How a unit's name reads in tables: the name, ``name?`` when ambiguous, ``unexplained``, or empty."""
    if named is None:
        return ""
    if named.name is None:
        return "unexplained"
    return named.name if named.confident else f"{named.name}?"


def collect(run: RunDir) -> RunData:
    """Read a run directory; absent files give empty fields."""
    from ..analyses.run import read_csv_rows

    manifest = run.manifest()
    record = manifest.get("stages", {}).get("record")
    identify = _by_unit(_maybe_units(run, "identify"))
    summaries = {r.unit: r for r in _maybe_units(run, "summarize")}
    scores = _by_unit(_maybe_units(run, "score"))
    if record is not None:
        layers = {str(k): int(v) for k, v in record["layers"].items()}
    else:  # no recording: list the units that have records, with the highest index seen
        layers = {}
        for uid in list(identify) + list(summaries) + list(scores):
            layer, index = parse_unit_id(uid)
            layers[layer] = max(layers.get(layer, 0), index + 1)
    clips = run.clips() if run.has_clips() else []
    desc_path = run.descriptions_path
    analysis_path = run.file(ANALYSIS_SUMMARY)
    last_layer_path = run.last_layer_path
    concepts_path = run.concepts_path
    importance_path = run.file(IMPORTANCE_JSON)
    class_drop_path = run.file(CLASS_DROP_JSON)
    return RunData(
        path=run.path, manifest=manifest, record=record,
        config=run.read_config(),
        layers=layers, clips=clips,
        descriptions={str(k): str(v) for k, v in read_json(desc_path).items()} if desc_path.exists() else {},
        identify=identify, summaries=summaries, scores=scores,
        uninterpretable={r["unit"]: r for r in _maybe_jsonl(run.file(UNINTERPRETABLE_UNITS))},
        analysis=read_json(analysis_path) if analysis_path.exists() else None,
        last_layer=read_csv_rows(last_layer_path) if last_layer_path.exists() else [],
        pruning=_maybe_jsonl(run.file(PRUNING_TABLE)),
        concepts=[line.strip() for line in concepts_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if concepts_path.exists() else [],
        importance=read_json(importance_path) if importance_path.exists() else None,
        class_drop=read_json(class_drop_path) if class_drop_path.exists() else None,
        names={r.unit: r for r in _maybe_units(run, "names")},
        stability={r.unit: r for r in _maybe_units(run, "stability")},
        causal={r.unit: r for r in _maybe_units(run, "causal")},
    )


def top_concept(data: RunData, unit: str, method: str) -> tuple[str, float | None] | None:
    """The unit's best concept and its score under `method`, if identified."""
    return top_concepts(data, unit).get(method)


def top_concepts(data: RunData, unit: str) -> dict[str, tuple[str, float | None]]:
    """The unit's best concept and its score under each method that identified one, from one pass over its
    rankings (the first ranking of each method counts)."""
    found: dict[str, tuple[str, float | None]] = {}
    for r in data.identify.get(unit, []):
        key = ranking_key(r)
        if key in found or not r.get("concepts"):
            continue
        scores = r.get("scores") or []
        score = scores[0] if scores else None
        found[key] = str(r["concepts"][0]), (float(score) if score is not None and np.isfinite(score) else None)
    return found


def best_explanation_score(data: RunData, unit: str) -> float | None:
    """The highest Spearman correlation among the unit's scored explanations."""
    values = [r.get("spearman") for r in data.scores.get(unit, [])]
    values = [float(v) for v in values if v is not None and np.isfinite(v)]
    return max(values) if values else None


def calibrated_text(summary: dict[str, Any] | None) -> str:
    """The unit's calibrated summary as one string."""
    if not summary:
        return ""
    text = summary.get("calibrated_summary")
    if isinstance(text, str) and text.strip():
        return text.strip()
    return " ".join(summary.get("kept_sentences") or [])


def extreme_clips(data: RunData, run: RunDir, units: list[str], *, k: int = 5) -> dict[str, dict[str, Any]]:
    """Top-k and bottom-k probe clips of `units` with their activations.

    The clips are the summarize records' (the ones the summaries describe)
    where present, else the unit's top and bottom `k` probe clips; the
    activations are read from the recorded activations.

    Returns
    -------
    dict
        ``{unit: {"top": [(clip_id, activation)], "bottom": [...]}}``.
    """
    if data.record is None or not data.clips:
        return {}
    from ..analyses.interpretability import top_rows

    rows = run.probe_rows()
    ids = [c.id for c in data.clips]
    position = {ids[r]: p for p, r in enumerate(rows)}  # clip id -> position among probe rows
    by_layer: dict[str, list[int]] = {}
    for uid in units:
        layer, index = parse_unit_id(uid)
        by_layer.setdefault(layer, []).append(index)
    out: dict[str, dict[str, Any]] = {}
    for layer, indices in by_layer.items():
        acts = RowSubset(run.activations(layer), rows)[:, indices]  # (n_probe, u): only these units read
        top, bottom = top_rows(acts, k), top_rows(-acts, k)  # (u, k) positions among probe rows
        for j, index in enumerate(indices):
            s = data.summaries.get(unit_id(layer, index)) or {}
            chosen = {}
            for side, default in (("top", top[j]), ("bottom", bottom[j])):
                named = [position[c] for c in s.get(f"{side}_clips") or [] if c in position]
                chosen[side] = [(ids[rows[p]], float(acts[p, j])) for p in (named or default)]
            out[unit_id(layer, index)] = chosen
    return out
