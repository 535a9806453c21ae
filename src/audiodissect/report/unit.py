"""The detail page of one unit: what it shows, gathered from a run's data; the markup is ``unit.html.j2``."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from ..records import ranking_key
from .collect import RunData, name_text
from .filters import fmt_number
from .templating import render

#: What a unit's name status says about it.
VERDICTS = {"named": "a confident name", "ambiguous": "a weak or ambiguous name",
            "unexplained": "no evidence source explains this unit significantly"}


def unit_page(data: RunData, unit: str, *, clips: dict[str, Any] | None, media: dict[str, tuple[str, str]],
              index_href: str, moments: Markup = Markup()) -> Markup:
    """The detail page of one unit.

    Parameters
    ----------
    data : RunData
    unit : str
        The unit id, ``<layer>#<index>``.
    clips : dict, optional
        ``{"top": [(clip id, activation)], "bottom": [...]}``; None: no clip cards.
    media : dict of str to (str, str)
        ``{clip id: (wav href, png href)}`` of the clips that have audio.
    index_href : str
        The overview page, relative to this one.
    moments : Markup
        The unit's moments section, as :func:`~audiodissect.report.moments.moment_sections` rendered it.

    Returns
    -------
    Markup
        The HTML document.
    """
    layer, _, index = unit.rpartition("#")
    summary = data.summaries.get(unit)
    icl_concepts = []
    if summary and summary.get("icl_status") is not None:
        from ..summarize.icl import chosen_concepts

        icl_concepts = chosen_concepts(summary)
    return render("unit.html.j2", title=f"Unit {unit}", subtitle=f"{(data.record or {}).get('model') or ''}",
                  script=False, index_href=index_href, unit={"id": unit, "layer": layer, "index": index},
                  named=_named(data, unit), concepts=_concept_rows(data, unit), summary=summary,
                  icl_concepts=icl_concepts, scores=_score_rows(data, unit), clusters=data.uninterpretable.get(unit),
                  moments=moments, clips=_clip_cards(clips, data, media) if clips else None)


def _named(data: RunData, unit: str) -> dict[str, Any] | None:
    """The unit's name, the evidence of each source for it, its stability and causal check."""
    named = data.names.get(unit)
    if named is None:
        return None
    return {"text": name_text(named), "verdict": VERDICTS[named.status], "similarity": named.similarity,
            "candidates": [{"source": method, "concept": c.get("concept"), "score": c.get("score"), "z": c.get("z"),
                            "margin": c.get("margin"), "q": c.get("q_value"), "runner-up": c.get("runner_up"),
                            "names the unit": "yes" if method == named.method else ""}
                           for method, c in named.candidates.items()],
            "stability": data.stability.get(unit), "causal": data.causal.get(unit)}


def _concept_rows(data: RunData, unit: str) -> list[dict[str, Any]]:
    """The closed-set concepts of each identify method, best first, with their scores."""
    return [{"method": r["method"], "similarity": r.get("similarity") or "-",
             "concepts (best first)": ", ".join(
                 str(c) if s is None else f"{c} ({fmt_number(s)})"
                 for c, s in zip(r.get("concepts") or [], list(r.get("scores") or []) + [None] * 5))}
            for r in sorted(data.identify.get(unit, []), key=ranking_key)]


def _score_rows(data: RunData, unit: str) -> list[dict[str, Any]]:
    """How well each explanation of the unit predicts it on held-out clips."""
    ordered = sorted(data.scores.get(unit) or [], key=lambda r: str(r.get("predictor") or ""))  # stable
    return [{"predictor": (r.get("predictor") or "").replace("_", "-"), "explanation": r.get("explanation"),
             "text": r.get("text"), "Spearman": r.get("spearman"), "Pearson": r.get("pearson"),
             "held-out clips": r.get("n_clips")} for r in ordered]


def _clip_cards(clips: dict[str, Any], data: RunData, media: dict[str, tuple[str, str]]) -> dict[str, list]:
    """The top and bottom clips as cards: rank, id, activation, label, media hrefs and description."""
    labels = {c.id: c.label for c in data.clips}

    def cards(entries: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        return [{"rank": rank, "id": cid, "value": value, "label": labels.get(cid),
                 "media": {"wav": media[cid][0], "png": media[cid][1]} if cid in media else None,
                 "desc": data.descriptions.get(cid)} for rank, (cid, value) in enumerate(entries, 1)]

    return {"top": cards(clips["top"]), "bottom": cards(clips["bottom"])}
