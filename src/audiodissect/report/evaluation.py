"""What the overview's analyses and evaluation sections show: their table rows and figures, from a run's data.

The sections' text and markup are the templates ``analyses.html.j2``,
``evaluation.html.j2``, ``class_drop.html.j2`` and ``importance.html.j2``.
"""

from __future__ import annotations

from typing import Any

from .collect import RunData

#: Captions of the feature-importance plots, by ranking (``all``: every curve in one plot).
IMPORTANCE_CAPTIONS = {
    "all": "every ranking in one plot",
    "summary_length": "units with the longest calibrated summaries (words) first (paper Fig. 4b)",
    "adjectives": "units with the most adjectives in their calibrated summaries first (paper Fig. 4c)",
    "nouns": "units with the most nouns in their calibrated summaries first (paper Fig. 4c)",
    "acoustic_adjectives": "units with the most acoustic adjectives first (paper Fig. 4a)",
}


def analyses_context(data: RunData) -> dict[str, Any]:
    """The analyses section: acoustic adjectives (paper Figs. 3 and 5) and uninterpretable units (Fig. 6).

    Returns
    -------
    dict
        ``adjectives`` and ``uninterpretable`` (None when not analysed) and
        ``skipped`` (``{analysis: reason}``).
    """
    a = data.analysis or {}
    adj = a.get("adjectives")
    adjectives = None
    if adj:
        adjectives = {"units": adj.get("units"), "trend": adj.get("trend"), "trend_note": adj.get("trend_note"),
                      "top": [{"adjective": w, "units": c} for w, c in adj.get("top") or []]}
    un = a.get("uninterpretable")
    uninterpretable = None
    if un:
        kps = un.get("kprimes", [])
        uninterpretable = {
            "top": un.get("top", 5), "k": un["k"],
            "by_layer": [{"layer": r["layer"], "units": r["units"],
                          **{f"K'={kp} (%)": 100 * r[f"share_k{kp}"] for kp in kps}} for r in un.get("by_layer", [])],
            "clusters": [{"cluster": c["cluster"], "sentences": c["sentences"], "examples": " | ".join(c["examples"])}
                         for c in un.get("clusters") or []]}
    return {"adjectives": adjectives, "uninterpretable": uninterpretable, "skipped": a.get("skipped") or {}}


def evaluation_context(data: RunData, figures: dict[str, str]) -> dict[str, Any]:
    """The evaluation section: last-layer accuracy, pruning, class drop, feature importance, explanation scores.

    Parameters
    ----------
    data : RunData
    figures : dict of str to str
        The copied plots, ``{key: href}``.

    Returns
    -------
    dict
        Table rows by part (empty or None when the run has none).
    """
    return {"last_layer": data.last_layer, "pruning": data.pruning, "class_drop": _class_drop_rows(data),
            "importance": _importance(data, figures), "scores": _score_rows(data)}


def _score_rows(data: RunData) -> list[dict[str, Any]]:
    """Mean Spearman and Pearson correlation of each kind of explanation."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for rs in data.scores.values():
        for r in rs:
            groups.setdefault(str(r.get("explanation")), []).append(r)
    rows = []
    for kind, rs in sorted(groups.items()):
        sp = [r["spearman"] for r in rs if r.get("spearman") is not None]
        pe = [r["pearson"] for r in rs if r.get("pearson") is not None]
        rows.append({"explanation": kind, "units": len(rs), "mean Spearman": sum(sp) / len(sp) if sp else None,
                     "mean Pearson": sum(pe) / len(pe) if pe else None})
    return rows


def _class_drop_rows(data: RunData) -> list[dict[str, Any]]:
    """Per-strategy summary of the per-class confidence change after pruning (paper Fig. 10)."""
    return [{"strategy": r["strategy"], "concepts": r["n_concepts"], "classes": r["n_classes"],
             "own class loses most": f"{r['own_first']} of {r['n_concepts']}", "mean rank of own class":
             r["mean_own_rank"], "own class change": r["own_change"], "other classes' change": r["other_change"],
             "gap": r["gap"]} for r in (data.class_drop or {}).get("strategies") or []]


def _importance(data: RunData, figures: dict[str, str]) -> dict[str, Any] | None:
    """Feature importance (paper Fig. 4): the plots, accuracy by pruned share and the properties' statistics."""
    imp = data.importance
    if not imp or not imp.get("curves"):
        return None
    shown = [{"name": name, "src": figures[f"importance_{name}_png"],
              "what": IMPORTANCE_CAPTIONS.get(name, f"units with the most {name.replace('_', ' ')} first")}
             for name in (imp.get("files") or {}) if f"importance_{name}_png" in figures]
    fractions = sorted({p["fraction"] for points in imp["curves"].values() for p in points})
    rows = []
    for f in fractions:
        row: dict[str, Any] = {"pruned (%)": 100 * f}
        for name, points in imp["curves"].items():
            point = next((p for p in points if p["fraction"] == f), None)
            row[name] = None if point is None else (f"{point['mean']:.3f} ± {point['std']:.3f}"
                                                     if name == "random" else point["mean"])
        rows.append(row)
    return {"units": imp.get("units"), "seeds": imp["curves"].get("random", [{}])[0].get("n", 0),
            "baseline": imp.get("baseline_accuracy"), "figures": shown, "rows": rows,
            "properties": [{"property": name, **values} for name, values in (imp.get("properties") or {}).items()]}
