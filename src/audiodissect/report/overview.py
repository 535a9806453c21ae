"""The report's overview page (index.html): run facts, trust in the names, analyses, evaluation, the unit table.

This module gathers what each section shows; the text and markup are the
templates ``index.html.j2`` and the section templates it includes.
"""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from .collect import RunData, best_explanation_score, calibrated_text, name_text, top_concepts
from .evaluation import analyses_context, evaluation_context
from .templating import render


def index_page(data: RunData, *, pages: dict[str, str], figures: dict[str, str], notes: list[str],
               limit: int) -> Markup:
    """The overview page.

    Parameters
    ----------
    data : RunData
    pages : dict of str to str
        The detail page of each unit that has one, ``{unit: href}``.
    figures : dict of str to str
        The copied plots, ``{key: href}``.
    notes : list of str
        Notes shown as banners (e.g. why audio is missing).
    limit : int
        Rows the unit table shows at once.

    Returns
    -------
    Markup
        The HTML document.
    """
    model = (data.record or {}).get("model") or "unknown model"
    return render("index.html.j2", title="Audio network dissection report",
                  subtitle=f"{model}: {sum(data.layers.values())} units in {len(data.layers)} layers", script=True,
                  figures=figures, overview=_overview(data, notes), trust=_trust(data),
                  analyses=analyses_context(data), evaluation=evaluation_context(data, figures),
                  units=_units(data, pages, limit=limit))


def _overview(data: RunData, notes: list[str]) -> dict[str, Any]:
    """The run's facts, warnings, layers, stage timings and settings."""
    rec = data.record or {}
    probe = rec.get("probe")
    n_probe = sum(c.split == "probe" for c in data.clips)
    facts = [("model", rec.get("model")),
             ("probing set", (probe or {}).get("name") if isinstance(probe, dict) else probe),
             ("probing set spec", None if probe is None else _pretty(probe)),
             ("clips", f"{len(data.clips)} ({n_probe} probe, {len(data.clips) - n_probe} held-out)"
              if data.clips else None),
             ("pooling over time", rec.get("pool")),
             ("sample rate (Hz)", rec.get("sample_rate")),
             ("output classes", len(rec["class_names"]) if rec.get("class_names") else None),
             ("concept set", f"{len(data.concepts)} concepts" if data.concepts else None),
             ("described clips", len(data.descriptions) or None),
             ("run directory", str(data.path))]
    described: dict[str, int] = {}
    for uid in data.summaries:
        layer = uid.rpartition("#")[0]
        described[layer] = described.get(layer, 0) + 1
    timings = [{"stage": name, "seconds": sec.get("seconds")} for name, sec in data.manifest.get("stages", {}).items()
               if isinstance(sec, dict) and sec.get("seconds") is not None]
    return {"facts": facts, "circular": list(data.circular_stages()), "notes": notes,
            "layers": [{"layer": layer, "units": n, "summarized": described.get(layer, 0)}
                       for layer, n in data.layers.items()],
            "timings": timings, "config": None if data.config is None else _pretty(data.config)}


def _pretty(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)


def _trust(data: RunData) -> dict[str, Any]:
    """Which names to believe: names per layer, collapses, missing evidence, stability and causal checks."""
    stages = data.manifest.get("stages") or {}
    identify = stages.get("identify") or {}
    stability = stages.get("stability") or {}
    return {
        "names": [{"layer": r["layer"], "units": r["units"], "confident": r["named"], "ambiguous": r["ambiguous"],
                   "unexplained": r["unexplained"], "unexplained share": _share(r, "share_unexplained")}
                  for r in identify.get("names") or []],
        "collapses": identify.get("collapses") or [],
        "no_evidence": identify.get("no_evidence") or {},
        "noise": stability.get("noise"),
        "stability": [{"layer": r["layer"], "named units": r["units"], "flipped": r["flipped"],
                       "flipped share": _share(r, "share_flipped"), "bootstrap survival": r["survival"]}
                      for r in stability.get("layers") or []],
        "causal": [{"layer": r["layer"], "units checked": r["units"], "specificity": r["specificity"],
                    "random units": r["random"], "beat random (z > 2)": r["beats_random"]}
                   for r in (stages.get("causal") or {}).get("layers") or []]}


def _share(row: dict[str, Any], key: str) -> str:
    """A share with its confidence interval, in percent: ``50% (9-91%)``."""
    return f"{100 * row[key]:.0f}% ({100 * row['ci_low']:.0f}-{100 * row['ci_high']:.0f}%)"


def _units(data: RunData, pages: dict[str, str], *, limit: int) -> dict[str, Any]:
    """The unit table's rows (short keys, read by ``report.js``), layers, methods and row limit."""
    depth = {layer: d for d, layer in enumerate(data.layers)}
    methods = data.methods
    rows = []
    for order, uid in enumerate(data.units()):
        layer, _, index = uid.rpartition("#")
        summary = data.summaries.get(uid)
        found = top_concepts(data, uid)
        concepts = {m: list(found[m]) for m in methods if m in found}
        text = calibrated_text(summary)
        named = data.names.get(uid)
        rows.append({"u": uid, "l": layer, "i": int(index), "o": order, "d": depth.get(layer, 0), "c": concepts,
                     "n": name_text(named), "t": named.status if named is not None else "none",
                     "s": text[:220] + ("..." if len(text) > 220 else ""),
                     "k": " ".join(list((summary or {}).get("acoustic_adjectives") or [])
                                   + list((summary or {}).get("nouns") or [])),
                     "x": best_explanation_score(data, uid),
                     "a": len((summary or {}).get("acoustic_adjectives") or []) if summary else None,
                     "p": pages.get(uid)})
    return {"rows": rows, "pages": len(pages), "layers": list(data.layers), "methods": methods,
            "limit": limit}
