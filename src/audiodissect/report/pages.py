"""The report's pages: the overview (index.html) and one page per detailed unit."""

from __future__ import annotations

from typing import Any

from .collect import RunData, best_explanation_score, calibrated_text, method_key, name_text, top_concept
from .html import chips, esc, facts, figure, fmt_number, page, script_json, section, table


# -- the overview page ----------------------------------------------------------------------------
def _overview(data: RunData, notes: list[str]) -> str:
    rec = data.record or {}
    probe = rec.get("probe")
    n_probe = sum(c.split == "probe" for c in data.clips)
    items = [("model", rec.get("model")),
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
    body = facts(items)
    for stage in data.circular_stages():
        body = (f'<div class="banner" role="alert"><strong>Circular evidence.</strong> The {esc(stage)} stage '
                "used evidence produced by the model being dissected, so its concepts partly explain the model "
                "with itself (the last layer is recovered trivially). Judge hidden-unit concepts with care."
                "</div>") + body
    for note in notes:
        body += f'<div class="banner">{esc(note)}</div>'
    if data.layers:
        described = {}
        for uid in data.summaries:
            layer = uid.rpartition("#")[0]
            described[layer] = described.get(layer, 0) + 1
        rows = [{"layer": layer, "units": n, "summarized": described.get(layer, 0)}
                for layer, n in data.layers.items()]
        body += "<h3>Layers</h3>" + table(rows, ["layer", "units", "summarized"])
    timings = [{"stage": name, "seconds": sec.get("seconds")} for name, sec in data.manifest.get("stages", {}).items()
               if isinstance(sec, dict) and sec.get("seconds") is not None]
    if timings:
        body += "<h3>Stage timings</h3>" + table(timings, ["stage", "seconds"])
    if data.config is not None:
        body += ("<h3>Run settings</h3><details><summary>config.json</summary><pre>"
                 f"{esc(_pretty(data.config))}</pre></details>")
    return section("overview", "Overview", body)


def _pretty(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)


def _unit_table(data: RunData, pages: dict[str, str], *, limit: int) -> str:
    methods = data.methods
    depth = {layer: d for d, layer in enumerate(data.layers)}
    rows = []
    for order, uid in enumerate(data.units()):
        layer, _, index = uid.rpartition("#")
        summary = data.summaries.get(uid)
        concepts = {}
        for m in methods:
            tc = top_concept(data, uid, m)
            if tc is not None:
                concepts[m] = [tc[0], tc[1]]
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
    layer_options = "".join(f'<option value="{esc(layer)}">{esc(layer)}</option>' for layer in data.layers)
    method_select = ""
    if methods:
        options = "".join(f'<option value="{esc(m)}">{esc(m)}</option>' for m in methods)
        method_select = f'<label>method <select id="unit-method">{options}</select></label>'
    payload = script_json({"units": rows, "methods": methods, "limit": limit})
    head = ('<th data-key="unit">unit</th><th data-key="layer">layer</th><th data-key="name">name</th>'
            '<th data-key="concept">concept</th>'
            '<th data-key="score" class="num">score</th><th data-key="rho" class="num">best explanation &rho;</th>'
            '<th data-key="adjectives" class="num">adjectives</th><th data-key="summary">calibrated summary</th>')
    body = (f'<p class="note">{len(rows)} units; units with a link have a detail page '
            f"({len(pages)} pages). The name is the unit's one answer: confident, ambiguous (marked ?) or "
            "unexplained, tested against shuffled clips. Click a column header to sort; the concept and score "
            "are the chosen method's top concept and similarity (comparable within one method).</p>"
            '<div class="controls"><input type="search" id="unit-filter" placeholder="filter: unit, concept, '
            'summary, adjective..." aria-label="filter units">'
            f'<label>layer <select id="unit-layer"><option value="">all layers</option>{layer_options}</select></label>'
            f'{method_select}<span id="units-count" class="note"></span></div>'
            f'<table class="units" id="units"><thead><tr>{head}</tr></thead><tbody></tbody></table>'
            '<noscript><p class="note">The unit table needs JavaScript.</p></noscript>'
            f'<output id="selftest" class="note"></output>'
            f'<script type="application/json" id="units-data">{payload}</script>')
    return section("units", "Units", body)


def _analyses(data: RunData, figures: dict[str, str]) -> str:
    a = data.analysis
    if a is None:
        return ""
    body = ""
    adj = a.get("adjectives")
    if adj:
        if "adjective_counts_png" in figures:
            body += figure(figures["adjective_counts_png"],
                           f"How many units each acoustic adjective describes ({adj['units']} summarized units; "
                           "paper Fig. 3).", alt="bar plot of adjective counts")
        if "adjectives_by_layer_png" in figures:
            body += figure(figures["adjectives_by_layer_png"],
                           "Mean number of acoustic adjectives per unit in each layer, with a least-squares line "
                           "over depth (paper Fig. 5).", alt="adjectives per unit by layer")
        trend = adj.get("trend")
        if trend:
            body += facts([("slope (adjectives per layer)", trend["slope"]), ("p-value of the slope", trend["p_value"]),
                           ("correlation r", trend["r"]), ("layers", trend["n"])])
        if adj.get("trend_note"):
            body += f'<p class="note">{esc(adj["trend_note"])}</p>'
        if adj.get("top"):
            body += "<h3>Most frequent adjectives</h3>" + table(
                [{"adjective": w, "units": c} for w, c in adj["top"]], ["adjective", "units"])
    un = a.get("uninterpretable")
    if un:
        kps = un.get("kprimes", [])
        if "uninterpretable_png" in figures:
            body += figure(figures["uninterpretable_png"],
                           f"Share of units whose top-{un.get('top', 5)} clips do not have K' clips in one of "
                           f"{un['k']} clusters of description sentences (paper Fig. 6). Each clip takes the "
                           "majority cluster of its sentences.", alt="uninterpretable units per layer")
        rows = [{"layer": r["layer"], "units": r["units"], **{f"K'={kp} (%)": 100 * r[f"share_k{kp}"] for kp in kps}}
                for r in un.get("by_layer", [])]
        body += "<h3>Uninterpretable units per layer</h3>" + table(rows)
        clusters = un.get("clusters") or []
        if clusters:
            body += "<details><summary>Sentence clusters</summary>" + table(
                [{"cluster": c["cluster"], "sentences": c["sentences"], "examples": " | ".join(c["examples"])}
                 for c in clusters]) + "</details>"
    for name, reason in (a.get("skipped") or {}).items():
        body += f'<p class="note">Analysis {esc(name)} skipped: {esc(reason)}</p>'
    return section("analyses", "Analyses", body) if body else ""


def _evaluation(data: RunData, figures: dict[str, str]) -> str:
    body = ""
    if data.last_layer:
        body += "<h3>Last-layer dissection accuracy</h3>"
        body += ('<p class="note">The output units are labelled by their class names; the share (in %) whose '
                 "identified concept is the class name, top-1 and among the top-5 (paper Table 2).</p>")
        if "last_layer_png" in figures:
            body += figure(figures["last_layer_png"], "Last-layer accuracy per method and similarity function.",
                           alt="last-layer accuracy bars")
        body += table(data.last_layer)
    if data.pruning:
        body += "<h3>Concept-specific pruning</h3>"
        body += ('<p class="note">Confidence changes on held-out clips after ablating the units chosen for a '
                 "concept: dA on the concept's clips, dR on the others; selectivity = dR - dA (paper Table 4).</p>")
        body += table(data.pruning)
    body += _class_drop(data, figures) + _importance(data, figures)
    if data.scores:
        groups: dict[str, list[dict[str, Any]]] = {}
        for rs in data.scores.values():
            for r in rs:
                groups.setdefault(str(r.get("explanation")), []).append(r)
        rows = []
        for kind, rs in sorted(groups.items()):
            sp = [r["spearman"] for r in rs if r.get("spearman") is not None]
            pe = [r["pearson"] for r in rs if r.get("pearson") is not None]
            rows.append({"explanation": kind, "units": len(rs),
                         "mean Spearman": sum(sp) / len(sp) if sp else None,
                         "mean Pearson": sum(pe) / len(pe) if pe else None})
        body += "<h3>Explanation scores</h3>"
        body += ('<p class="note">How well each kind of explanation predicts its unit\'s activations on held-out '
                 "clips (correlation between predicted and real activations).</p>") + table(rows)
    return section("evaluation", "Evaluation", body) if body else ""


def _class_drop(data: RunData, figures: dict[str, str]) -> str:
    """Per-class confidence change after pruning (paper Fig. 10): the heat maps and the per-strategy summary."""
    strategies = (data.class_drop or {}).get("strategies") or []
    if not strategies:
        return ""
    body = "<h3>Which classes lose confidence when a concept is pruned</h3>"
    if "class_drop_png" in figures:
        body += figure(figures["class_drop_png"],
                       "Mean change of each held-out class's true-class logit (columns) after pruning the units "
                       "chosen for each concept (rows), one panel per strategy; the concept's own class is "
                       "outlined (paper Fig. 10).", alt="heat maps of the per-class confidence change")
    rows = [{"strategy": r["strategy"], "concepts": r["n_concepts"], "classes": r["n_classes"],
             "own class loses most": f"{r['own_first']} of {r['n_concepts']}", "mean rank of own class":
             r["mean_own_rank"], "own class change": r["own_change"], "other classes' change": r["other_change"],
             "gap": r["gap"]} for r in strategies]
    body += ('<p class="note">Rank 1: the concept\'s own class loses the most of all classes. The other classes\' '
             "change is their mean, each class weighted equally; gap = others' change - own change (positive: "
             "the own class loses more).</p>") + table(rows)
    return body


#: Captions of the feature-importance plots, by ranking (``all``: every curve in one plot).
_IMPORTANCE_CAPTIONS = {
    "all": "every ranking in one plot",
    "summary_length": "units with the longest calibrated summaries (words) first (paper Fig. 4b)",
    "adjectives": "units with the most adjectives in their calibrated summaries first (paper Fig. 4c)",
    "nouns": "units with the most nouns in their calibrated summaries first (paper Fig. 4c)",
    "acoustic_adjectives": "units with the most acoustic adjectives first (paper Fig. 4a)",
}


def _importance(data: RunData, figures: dict[str, str]) -> str:
    """Feature importance (paper Fig. 4): accuracy after pruning units ranked by a summary property."""
    imp = data.importance
    if not imp or not imp.get("curves"):
        return ""
    units = imp.get("units")
    body = "<h3>Feature importance</h3>"
    body += (f'<p class="note">Held-out accuracy after pruning the first 2-12 % of '
             f"{units if units is not None else 'the'} summarised units of each ranking, against random rankings "
             f"(mean of {imp['curves'].get('random', [{}])[0].get('n', 0)} seeds, ±1 sd); unpruned accuracy "
             f"{fmt_number(imp.get('baseline_accuracy'))}. A curve below the random one marks the property as "
             "a sign of important units.</p>")
    def caption(name: str) -> str:
        what = _IMPORTANCE_CAPTIONS.get(name, f"units with the most {name.replace('_', ' ')} first")
        return f"Held-out accuracy when pruning {what}, against random rankings."

    shown = "".join(figure(figures[f"importance_{name}_png"], caption(name), alt=f"feature importance: {name}")
                    for name in (imp.get("files") or {}) if f"importance_{name}_png" in figures)
    if shown:
        body += f'<div class="figures">{shown}</div>'
    fractions = sorted({p["fraction"] for points in imp["curves"].values() for p in points})
    rows = []
    for f in fractions:
        row: dict[str, Any] = {"pruned (%)": 100 * f}
        for name, points in imp["curves"].items():
            point = next((p for p in points if p["fraction"] == f), None)
            row[name] = None if point is None else (f"{point['mean']:.3f} ± {point['std']:.3f}"
                                                     if name == "random" else point["mean"])
        rows.append(row)
    body += table(rows)
    stats = imp.get("properties") or {}
    if stats:
        body += table([{"property": name, **values} for name, values in stats.items()],
                      headers={"zero_share": "share of units with none"})
    return body


def _trust(data: RunData) -> str:
    """Which names to believe: confident, ambiguous and unexplained units per layer, collapses, missing evidence."""
    section_ = (data.manifest.get("stages") or {}).get("identify") or {}
    rows = section_.get("names") or []
    if not rows:
        return ""
    body = ('<p class="note">Each unit gets one name, tested against its activations with the clips shuffled: '
            "confident (significant, clearly ahead of the runner-up), ambiguous, or unexplained. The share of "
            "unexplained units comes with its 95% Wilson interval.</p>")
    body += table([{"layer": r["layer"], "units": r["units"], "confident": r["named"], "ambiguous": r["ambiguous"],
                    "unexplained": r["unexplained"],
                    "unexplained share": f"{100 * r['share_unexplained']:.0f}% "
                                         f"({100 * r['ci_low']:.0f}-{100 * r['ci_high']:.0f}%)"} for r in rows])
    for c in section_.get("collapses") or []:
        body += (f'<div class="banner" role="alert"><strong>Collapse.</strong> In {esc(c["layer"])}, '
                 f'{esc(c["method"])}/{esc(c["similarity"])} names {100 * c["share"]:.0f}% of the {esc(c["units"])} '
                 f"units {esc(c['concept'])!s}: those names say more about a factor the layer shares (or the "
                 "evidence) than about what tells its units apart.</div>")
    for method, why in (section_.get("no_evidence") or {}).items():
        body += (f'<p class="note">No evidence in {esc(method)} for: {esc(", ".join(why))} (never chosen by '
                 "it).</p>")
    stages = data.manifest.get("stages") or {}
    flips = (stages.get("stability") or {}).get("layers") or []
    if flips:
        body += ("<h3>Stability</h3><p class=\"note\">Named units whose best concept changes with noise of "
                 f"{esc((stages.get('stability') or {}).get('noise'))} times each waveform's standard deviation, and "
                 "the mean share of bootstrap resamples of the probe clips that keep the name.</p>")
        body += table([{"layer": r["layer"], "named units": r["units"], "flipped": r["flipped"],
                        "flipped share": f"{100 * r['share_flipped']:.0f}% "
                                         f"({100 * r['ci_low']:.0f}-{100 * r['ci_high']:.0f}%)",
                        "bootstrap survival": r["survival"]} for r in flips])
    causal = (stages.get("causal") or {}).get("layers") or []
    if causal:
        body += ("<h3>Causal check</h3><p class=\"note\">Specificity of the output change when a named unit is "
                 "switched off (clips with its concept against the rest), against random units of its layer.</p>")
        body += table([{"layer": r["layer"], "units checked": r["units"], "specificity": r["specificity"],
                        "random units": r["random"], "beat random (z > 2)": r["beats_random"]} for r in causal])
    return section("trust", "Which names to trust", body)


def index_page(data: RunData, *, pages: dict[str, str], figures: dict[str, str], notes: list[str],
               limit: int) -> str:
    """The overview page: run facts, trust in the names, analyses, evaluation tables and the sortable unit table."""
    parts = [_overview(data, notes), _trust(data), _analyses(data, figures), _evaluation(data, figures),
             _unit_table(data, pages, limit=limit)]
    toc = "".join(f'<a href="#{a}">{t}</a>' for a, t in
                  [("overview", "Overview"), ("trust", "Trust"), ("analyses", "Analyses"),
                   ("evaluation", "Evaluation"), ("units", "Units")] if f'id="{a}"' in "".join(parts))
    model = (data.record or {}).get("model") or "unknown model"
    return page("Audio network dissection report", f"{model}: {sum(data.layers.values())} units in "
                f"{len(data.layers)} layers", f'<nav class="toc">{toc}</nav>' + "".join(parts), script=True)


# -- unit pages ------------------------------------------------------------------------------------
def _clip_cards(entries: list[tuple[str, Any]], data: RunData, media: dict[str, tuple[str, str]]) -> str:
    labels = {c.id: c.label for c in data.clips}
    cards = []
    for rank, (cid, value) in enumerate(entries, 1):
        img = audio = ""
        if cid in media:
            wav, png = media[cid]
            img = f'<img src="{esc(png)}" alt="{esc("mel spectrogram of " + cid)}">'
            audio = f'<audio controls preload="none" src="{esc(wav)}"></audio>'
        desc = data.descriptions.get(cid)
        cards.append(
            f'<div class="clip"><div class="head"><span>#{rank} <strong>{esc(cid)}</strong></span>'
            f"<span>activation {fmt_number(value) if value is not None else '?'}</span></div>"
            f'<div class="note">label: {esc(labels.get(cid) or "-")}</div>{img}{audio}'
            + (f'<div class="desc">{esc(desc)}</div>' if desc else "") + "</div>")
    return '<div class="clips">' + "".join(cards) + "</div>"


def unit_page(data: RunData, unit: str, *, clips: dict[str, Any] | None, media: dict[str, tuple[str, str]],
              index_href: str, moments: str = "") -> str:
    """The detail page of one unit: concepts, summaries, open concepts, scores, moments (`moments`, HTML of
    :func:`~audiodissect.report.moments.moment_sections`), top and bottom clips."""
    layer, _, index = unit.rpartition("#")
    body = f'<p><a href="{esc(index_href)}">&larr; back to the overview</a></p>'
    body += facts([("unit", unit), ("layer", layer), ("index", index)])
    named = data.names.get(unit)
    if named is not None:
        verdict = {"named": "a confident name", "ambiguous": "a weak or ambiguous name",
                   "unexplained": "no evidence source explains this unit significantly"}[named.status]
        body += (f'<h2>Name: {esc(name_text(named))}</h2><p class="note">{esc(verdict)}; tested with '
                 f"{esc(named.similarity)} against the clips shuffled (z and margin in null standard deviations, "
                 "q: false discovery rate over the layer).</p>")
        body += table([{"source": method, "concept": c.get("concept"), "score": c.get("score"), "z": c.get("z"),
                        "margin": c.get("margin"), "q": c.get("q_value"), "runner-up": c.get("runner_up"),
                        "names the unit": "yes" if method == named.method else ""}
                       for method, c in named.candidates.items()])
        kept = data.stability.get(unit)
        if kept is not None:
            body += (f'<p class="note">Stability: kept on {100 * kept.bootstrap_survival:.0f}% of bootstrap resamples '
                     f"of the probe clips; with a little noise in the audio the best concept is "
                     f"{esc(kept.noise_name)}{' (flipped)' if kept.noise_flipped else ''}.</p>")
        effect = data.causal.get(unit)
        if effect is not None:
            verdict = ("more than random units of its layer" if effect.z is not None and effect.z > 2 else
                       "no more than random units of its layer")
            body += (f'<p class="note">Causal check: switched off, the unit changes the output '
                     f"{effect.ablate_with:.3g} on {effect.clips_with} held-out clips with {esc(effect.name)} and "
                     f"{effect.ablate_without:.3g} on the {effect.clips_without} others (specificity "
                     f"{effect.specificity:+.2f}, random units {effect.random_mean:+.2f}, z "
                     f"{'-' if effect.z is None else f'{effect.z:.1f}'}): {verdict}.</p>")
    records = data.identify.get(unit, [])
    if records:
        rows = [{"method": r["method"], "similarity": r.get("similarity") or "-",
                 "concepts (best first)": ", ".join(
                     str(c) if s is None else f"{c} ({fmt_number(s)})"
                     for c, s in zip(r.get("concepts") or [], list(r.get("scores") or []) + [None] * 5))}
                for r in sorted(records, key=method_key)]
        body += "<h2>Closed-set concepts</h2>" + table(rows)
    s = data.summaries.get(unit)
    if s:
        body += "<h2>Summaries</h2>"
        body += f"<h3>S_high (top clips)</h3><pre>{esc(s.get('s_high') or '')}</pre>"
        body += f"<h3>S_low (bottom clips)</h3><pre>{esc(s.get('s_low') or '')}</pre>"
        items = [f"<li>{esc(x)}</li>" for x in s.get("kept_sentences") or []]
        items += [f'<li><del class="removed">{esc(r.get("sentence"))}</del> '
                  f'<span class="reason">removed: {esc(r.get("detail") or r.get("reason"))}</span></li>'
                  for r in s.get("removed_sentences") or []]
        body += ("<h3>Calibrated summary</h3>" + (f'<ul class="summary">{"".join(items)}</ul>' if items else
                                                    '<p class="note">no sentences</p>'))
        body += "<h2>Open-set concepts</h2>"
        body += "<h3>Acoustic adjectives</h3>" + chips(s.get("acoustic_adjectives") or [])
        body += "<h3>Nouns</h3>" + chips(s.get("nouns") or [])
        body += "<details><summary>All adjectives, verbs, prepositions</summary>"
        body += "<h3>Adjectives</h3>" + chips(s.get("adjectives") or [])
        body += "<h3>Verbs</h3>" + chips(s.get("verbs") or [])
        body += "<h3>Prepositions</h3>" + chips(s.get("prepositions") or [])
        body += f'<p class="note">summary length: {esc(s.get("summary_length"))} words</p></details>'
        if s.get("icl_status") is not None:
            from ..summarize.icl import chosen_concepts

            body += ("<h3>ICL concept choice</h3>" + chips(chosen_concepts(s))
                     + f'<p class="note">answer: {esc(s.get("icl_status"))}</p>')
            answers = [a for a in (s.get("icl_answer"), s.get("icl_answer_topk")) if a]
            if answers:
                body += ("<details><summary>LLM answers</summary>"
                         + "".join(f"<pre>{esc(a)}</pre>" for a in answers) + "</details>")
    sc = data.scores.get(unit)
    if sc:
        ordered = sorted(sc, key=lambda r: str(r.get("predictor") or ""))  # stable: explanations keep their order
        body += "<h2>Explanation scores</h2>" + table(
            [{"predictor": (r.get("predictor") or "").replace("_", "-"), "explanation": r.get("explanation"),
              "text": r.get("text"), "Spearman": r.get("spearman"), "Pearson": r.get("pearson"),
              "held-out clips": r.get("n_clips")} for r in ordered])
    ui = data.uninterpretable.get(unit)
    if ui:
        body += (f'<p class="note">Top clips sharing one description cluster: {esc(ui["largest_group"])} of '
                 f'{len(ui.get("top_clusters") or [])} (clusters {esc(ui.get("top_clusters"))}).</p>')
    body += moments
    if clips:
        body += "<h2>Highest-activating clips</h2>" + _clip_cards(clips["top"], data, media)
        body += "<h2>Lowest-activating clips</h2>" + _clip_cards(clips["bottom"], data, media)
    return page(f"Unit {unit}", f"{(data.record or {}).get('model') or ''}", body)
