"""The HTML report: structure follows the run's contents, media files, escaping of untrusted text."""

import json
import re
from pathlib import Path

import numpy as np
import torch
from markupsafe import escape

from audiodissect.cache import write_text
from audiodissect.probes.base import ArrayProbeSet, ClipInfo
from audiodissect.progress import silent
from audiodissect import Dissection
from audiodissect.config import ReportConfig
from audiodissect.report import build_report, detail_units
from audiodissect.report.collect import collect
from audiodissect.report.filters import fmt_number, script_json
from audiodissect.report.templating import environment
from audiodissect.rundir import RunDir, unit_id
from audiodissect.targets.base import Target

XSS = "<script>alert(1)</script>"
XSS_IMG = '<img src=x onerror="document.body.dataset.pwned = \'y\' + \'es\'">'
RATE = 8000


class Tiny(torch.nn.Module):
    """(B, T) -> frames (B, F, 16) -> proj Linear(16, 4) -> ReLU -> mid Linear(4, 3) -> head Linear(3, 2), mean over F."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(16, 4)
        self.act = torch.nn.ReLU()
        self.mid = torch.nn.Linear(4, 3)
        self.head = torch.nn.Linear(3, 2)

    def forward(self, x):
        h = self.head(self.mid(self.act(self.proj(x.reshape(x.shape[0], -1, 16)))))
        return h.mean(dim=1)


def make_probe(n=10):
    rng = np.random.default_rng(0)
    t = np.arange(1600) / RATE
    waves = [(0.3 * np.sin(2 * np.pi * (200 + 150 * i) * t) + 0.01 * rng.normal(size=t.size)).astype(np.float32)
             for i in range(n)]
    labels = ["dog", "rain"]
    clips = [ClipInfo(id=f"clip{i}" if i != 3 else f"clip3{XSS}", label=labels[i % 2] if i != 1 else XSS_IMG,
                      split="probe" if i < n - 2 else "heldout") for i in range(n)]
    return ArrayProbeSet(name="tiny", clips=clips, audio=waves, sample_rate=RATE, spec={"name": "tiny-missing"})


def make_run(tmp_path, *, full=True):
    """A recorded run; with `full`, every later stage's records hand-written (with hostile strings)."""
    probe = make_probe()
    target = Target(name="tiny", module=Tiny(), sample_rate=RATE,
                    preprocess=lambda ws: torch.tensor(np.stack(ws)), class_names=["dog", "rain"])
    Dissection(target, probe, out=tmp_path / "run", hook=silent).record(["proj", "mid", "head"])
    run = RunDir(tmp_path / "run")
    if not full:
        return run, probe
    ids = [c.id for c in probe.clips]
    write_text(run.path / "concepts.txt", "dog\nrain\n")
    (run.path / "descriptions.json").write_text(json.dumps({cid: f"A dog barks {XSS}. Sound {i}."
                                                            for i, cid in enumerate(ids)}))
    identify, summarize, score = [], [], []
    for layer, n in run.stage("record")["layers"].items():
        for u in range(n):
            uid = unit_id(layer, u)
            for method, sim in [("tab", "soft_wpmi"), ("db", "cos3")]:
                concepts = [XSS, "dog", "rain"] if (layer, u, method) == ("mid", 1, "tab") else ["dog", "rain"]
                identify.append({"unit": uid, "layer": layer, "index": u, "method": method, "similarity": sim,
                                 "concepts": concepts, "scores": [float(u) + 0.5, 0.1, 0.0][:len(concepts)]})
            if u < 2:
                summarize.append({
                    "unit": uid, "layer": layer, "index": u, "top_clips": ids[:5], "bottom_clips": ids[5:8],
                    "s_high": f"Loud barking {XSS}.", "s_low": "Quiet rain.",
                    "calibrated_summary": "The clips contain loud high-pitched barking.",
                    "kept_sentences": ["The clips contain loud high-pitched barking."],
                    "removed_sentences": [{"sentence": f"They are recorded {XSS_IMG} outdoors.",
                                           "reason": "similar", "detail": "similar to S_low"}],
                    "adjectives": ["loud", "high-pitched"], "acoustic_adjectives": ["loud", "high-pitched"],
                    "nouns": ["barking", XSS], "verbs": [], "prepositions": [], "summary_length": 6,
                    "icl_top1": "dog", "icl_status": "matched", "icl_answer": f"dog {XSS}",
                    "icl_topk": ["dog", "rain"], "icl_answer_topk": "dog, rain"})
                score.append({"unit": uid, "layer": layer, "index": u, "explanation": "calibrated",
                              "predictor": "audio_text", "text": f"barking {XSS}", "spearman": 0.5 + 0.1 * u, "pearson": 0.4, "n_clips": 2})
    run.write_units("identify", identify)
    run.write_units("summarize", summarize)
    run.write_units("score", score)
    run.finish_stage("identify", "k1", {"circular": True, "seconds": 1.5})
    write_text(run.path / "evaluation" / "last_layer.csv",
               "method,similarity,top1,top5,units,left_out\ndb,cos3,100.0,100.0,2,0\ntab,soft_wpmi,50.0,100.0,2,0\n")
    write_text(run.path / "pruning" / "table.jsonl",
               json.dumps({"strategy": "ocp", "concept": XSS, "units": 3, "dA": -1.5, "dR": -0.2,
                           "selectivity": 1.3}) + "\n")
    return run, probe


def html_files(root: Path):
    return sorted(root.rglob("*.html"))


def test_full_report_has_every_section_media_and_unit_pages(tmp_path):
    run, probe = make_run(tmp_path)
    index = build_report(run, probe=probe, hook=silent, settings=ReportConfig(units_per_layer=2))
    text = index.read_text()
    for anchor in ['id="overview"', 'id="evaluation"', 'id="units"']:
        assert anchor in text
    assert "Circular evidence" in text and "Last-layer dissection accuracy" in text
    assert "Concept-specific pruning" in text and "Explanation scores" in text
    assert 'id="analyses"' not in text  # analyze not run
    data = json.loads(re.search(r'<script type="application/json" id="units-data">(.*?)</script>', text,
                                re.S).group(1))
    assert len(data["units"]) == 4 + 3 + 2
    assert data["methods"] == ["tab/soft_wpmi", "db/cos3"]
    pages = sorted((index.parent / "units").glob("*.html"))
    assert len(pages) == 2 + 2 + 2
    assert sum(u["p"] is not None for u in data["units"]) == 6
    page = next(p for p in pages if "mid_1" in p.name).read_text()
    assert "<del class=\"removed\">" in page and "similar to S_low" in page
    assert "<li>The clips contain loud high-pitched barking.</li>" in page
    assert "<th>predictor</th>" in page and "<td>audio-text</td>" in page
    # the clip cards show the summarised clips with their recorded activations
    mid = np.asarray(run.activations("mid"))
    for i in range(5):
        assert f"activation {fmt_number(float(mid[i, 1]))}" in page
    assert "summary length: 6 words" in page
    assert "ICL concept choice" in page and "answer: matched" in page and "<pre>dog, rain</pre>" in page
    assert "Highest-activating clips" in page and "Lowest-activating clips" in page
    srcs = re.findall(r'<audio controls preload="none" src="([^"]+)"', page)
    assert len(srcs) == 5 + 3
    import soundfile as sf

    for src in srcs + re.findall(r'<img src="([^"]+)"', page):
        path = (index.parent / "units" / src).resolve()
        assert path.exists() and path.parent == (index.parent / "media").resolve()
    info = sf.info(str((index.parent / "units" / srcs[0]).resolve()))
    assert info.samplerate == RATE and info.subtype == "PCM_16" and info.frames == 1600
    # 10 clips, each clip's media written once
    assert len(list((index.parent / "media").glob("*.wav"))) == 8


def test_untrusted_strings_stay_inert_text(tmp_path):
    run, probe = make_run(tmp_path)
    index = build_report(run, probe=probe, hook=silent, settings=ReportConfig(units_per_layer=5))
    for path in html_files(index.parent):
        text = path.read_text()
        assert XSS not in text and "<img src=x" not in text and "onerror=\"document" not in text
        # the only script elements are the page's own: the table script and its JSON data
        assert text.count("<script") == (2 if path.name == "index.html" else 0)
    page = next(p for p in (index.parent / "units").glob("*.html") if "mid_1" in p.name).read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert escape(XSS_IMG) in page  # &lt;img src=x onerror=&#34;document.body.dataset.pwned ...


def test_script_json_cannot_close_its_script_element():
    text = script_json({"a": "</script><b>&", "b": "\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><b>&", "b": "\u2028"}
    page = environment().from_string('<p title="{{ v }}">{{ v }}</p><script>{{ v|script_json }}</script>')
    escaped = "&lt;a href=&#34;x&#34;&gt;&#39;"  # the templates escape every value, in text and attributes
    assert page.render(v='<a href="x">\'') == (f'<p title="{escaped}">{escaped}</p>'
                                              '<script>"\\u003ca href=\\"x\\"\\u003e\'"</script>')



def test_every_template_compiles_ships_as_package_data_and_marks_nothing_safe():
    import fnmatch

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    env = environment()
    names = env.list_templates()
    assert {"page.html.j2", "index.html.j2", "unit.html.j2", "moments.html.j2"} <= set(names)
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["setuptools"]["package-data"]["audiodissect"]
    for name in names:
        env.get_template(name)
        assert any(fnmatch.fnmatch(f"report/templates/{name}", glob) for glob in shipped), name
        source = env.loader.get_source(env, name)[0].replace(" ", "")
        assert "|safe" not in source and "autoescapefalse" not in source, name

def test_minimal_run_report_skips_absent_sections_and_explains_missing_audio(tmp_path):
    run, _ = make_run(tmp_path, full=False)
    index = build_report(run, hook=silent, settings=ReportConfig(units_per_layer=1))
    text = index.read_text()
    assert 'id="overview"' in text and 'id="units"' in text
    for absent in ['id="analyses"', 'id="evaluation"', "Circular evidence"]:
        assert absent not in text
    assert "could not be reopened" in text  # spec 'tiny-missing' cannot be loaded
    pages = list((index.parent / "units").glob("*.html"))
    assert len(pages) == 3
    page = pages[0].read_text()
    assert "<audio" not in page and "Highest-activating clips" in page  # clips from activations, no media
    assert not (index.parent / "media").exists()


def test_top_clips_without_summaries_come_from_probe_activations(tmp_path):
    run, probe = make_run(tmp_path, full=False)
    index = build_report(run, probe=probe, hook=silent, settings=ReportConfig(units_per_layer=9))
    acts = run.activations("head")[:, 0]
    rows = run.probe_rows()
    best = probe.clips[rows[np.argmax(acts[rows])]].id
    page = next(p for p in (index.parent / "units").glob("*.html") if p.name.startswith("head_0")).read_text()
    first = re.search(r"#1 <strong>(.*?)</strong>", page).group(1)
    assert first == escape(best)
    assert "h" not in {c.split[0] for c in probe.clips if escape(c.id) in page and c.split == "heldout"}


def test_detail_units_prefer_summarized_then_best_scored(tmp_path):
    run, _ = make_run(tmp_path)
    data = collect(run)
    chosen = detail_units(data, per_layer=1)
    # units 0 and 1 are summarized in every layer; unit 1 has the higher explanation score
    assert chosen == [f"{layer}#1" for layer in data.layers]
    assert detail_units(data, per_layer=0) == []


def test_analysis_plots_are_embedded(tmp_path):
    from test_analyses import TopicEmbedder, analyze

    run, probe = make_run(tmp_path)
    analyze(run, k=2, embedder=TopicEmbedder())
    index = build_report(run, probe=probe, hook=silent, settings=ReportConfig(units_per_layer=1))
    text = index.read_text()
    assert 'id="analyses"' in text
    imgs = re.findall(r'<img src="(figures/[^"]+)"', text)
    assert set(imgs) == {"figures/adjective_counts.png", "figures/adjectives_by_layer.png",
                         "figures/uninterpretable.png", "figures/last_layer.png"}
    assert all((index.parent / i).exists() for i in imgs)


def test_report_command(tmp_path, capsys):
    import argparse

    from audiodissect.cli import report

    run, _ = make_run(tmp_path, full=False)
    parser = argparse.ArgumentParser()
    report.register(parser.add_subparsers())
    args = parser.parse_args(["report", "--run", str(run.path), "--units-per-layer", "0"])
    assert args.handler(args) == 0
    assert (run.path / "report" / "index.html").exists()
    assert f"report: {run.path / 'report' / 'index.html'}" in capsys.readouterr().out.splitlines()
    assert run.stage("report")["key"] and Dissection.open(run.path).config.report.units_per_layer == 0


def test_report_folder_holding_other_files_is_refused_with_a_hint_that_fits_the_command(tmp_path):
    """The report always goes to the run's report/ folder: the hint names that folder, no --out option."""
    import pytest

    from audiodissect.errors import AudioDissectError

    run, _ = make_run(tmp_path, full=False)
    (run.path / "report").mkdir()
    (run.path / "report" / "notes.txt").write_text("mine")
    with pytest.raises(AudioDissectError) as err:
        build_report(run, hook=silent)
    assert "--out" not in str(err.value) and str(run.path / "report") in err.value.hint
    assert (run.path / "report" / "notes.txt").read_text() == "mine"
    assert not (run.path / "report" / "index.html").exists()


def test_pruning_figures_and_tables_shown_when_their_data_exists(tmp_path):
    """Figs 4 and 10: copied, captioned, summarised; absent data leaves their sections out."""
    from prune_fixtures import make_run as make_pruning_run

    run, target, probe = make_pruning_run(tmp_path / "pruned")
    d = Dissection.open(run.path, target=target, probe=probe, hook=silent,
                        settings={"prune": {"concepts": ["all"], "importance_fractions": [0.34, 0.67],
                                            "importance_seeds": 1}, "report": {"units_per_layer": 0}})
    d.prune(strategies=["tab"])
    out = run.path / "report"
    text = d.report().read_text()
    assert "Concept-specific pruning" in text
    for absent in ("Feature importance", "Which classes lose confidence", "figures/importance", "class_drop.png"):
        assert absent not in text
    d.class_drop()
    d.importance()
    text = d.report().read_text()  # the evaluations' keys changed: the report is written again
    imgs = re.findall(r'<img src="(figures/[^"]+)"', text)
    assert imgs == ["figures/class_drop.png", "figures/importance.png", "figures/importance_summary_length.png",
                    "figures/importance_adjectives.png", "figures/importance_nouns.png",
                    "figures/importance_acoustic_adjectives.png"]
    assert all((out / i).read_bytes()[:4] == b"\x89PNG" for i in imgs)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", text)
    assert len(captions) == 6 and "(paper Fig. 10)" in captions[0] and "(paper Fig. 4b)" in captions[2]
    assert "longest calibrated summaries" in captions[2] and "most adjectives" in captions[3]
    # tab prunes hidden#0 + hidden#2 for trumpet (-3.5 vs -0.5) and hidden#1 for organ (-4.5 vs 0)
    row = re.search(r"<tr><td>tab</td>(.*?)</tr>", text.split("Which classes lose confidence")[1]).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[:3] == ["2", "2", "2 of 2"] and [float(c) for c in cells[3:]] == [1.0, -4.0, -0.25, 3.75]
    assert "share of units with none" in text and "unpruned accuracy 1" in text


def test_trust_section_and_unit_pages_show_names_stability_and_causal_checks(tmp_path):
    from audiodissect.records import CausalEffect, NameStability, UnitName

    run, probe = make_run(tmp_path)
    names = [UnitName(unit="proj#0", layer="proj", index=0, name="dog", status="named", method="tab",
                      similarity="cos", z=9.0, margin=4.0, q_value=0.01, runner_up="rain",
                      candidates={"tab": {"concept": "dog", "score": 0.5, "z": 9.0, "margin": 4.0, "q_value": 0.01,
                                          "runner_up": "rain"}}),
             UnitName(unit="proj#1", layer="proj", index=1, name=None, status="unexplained", similarity="cos")]
    run.write_units("names", names)
    run.write_units("stability", [NameStability(unit="proj#0", layer="proj", index=0, name="dog", method="tab",
                                                bootstrap_survival=0.95, noise_name="rain", noise_flipped=True),
                                  NameStability(unit="proj#1", layer="proj", index=1, name=None, method="tab",
                                                bootstrap_survival=0.5, noise_name="rain", noise_flipped=False)])
    effect = dict(method="tab", clips_with=2, clips_without=6, ablate_with=3.0, ablate_without=1.0, amplify_with=3.0,
                  amplify_without=1.0, random_mean=0.1, random_sd=0.2)
    run.write_units("causal", [CausalEffect(unit="proj#0", layer="proj", index=0, name="dog", specificity=1.2, z=5.5,
                                            **effect),
                               CausalEffect(unit="proj#1", layer="proj", index=1, name="rain", specificity=-0.2,
                                            z=None, **effect)])
    identify = run.stage("identify")
    run.finish_stage("identify", identify["key"], {**identify, "names": [
        {"layer": "proj", "units": 2, "named": 1, "ambiguous": 0, "unexplained": 1, "share_unexplained": 0.5,
         "ci_low": 0.09, "ci_high": 0.91}],
        "collapses": [{"layer": "proj", "method": "tab", "similarity": "cos", "concept": "dog", "share": 0.75,
                       "units": 4}], "no_evidence": {"labels": ["loud"]}})
    run.finish_stage("stability", "s1", {"noise": 0.02, "layers": [
        {"layer": "proj", "units": 1, "flipped": 1, "share_flipped": 1.0, "ci_low": 0.2, "ci_high": 1.0,
         "survival": 0.95}]})
    index = build_report(run, probe=probe, hook=silent, settings=ReportConfig(units_per_layer=2))
    text = index.read_text()
    trust = text.split('id="trust"')[1].split("</section>")[0]
    assert "50% (9-91%)" in trust and "Collapse." in trust and "75%" in trust and "No evidence in labels" in trust
    assert "Stability" in trust and "100% (20-100%)" in trust
    page = next(p for p in (index.parent / "units").glob("proj_0*.html")).read_text()
    assert "<h2>Name: dog</h2>" in page and "flipped" in page and "z 5.5" in page and "more than random" in page
    page = next(p for p in (index.parent / "units").glob("proj_1*.html")).read_text()
    assert "<h2>Name: unexplained</h2>" in page and "(flipped)" not in page
    assert re.search(r"best concept is\s+rain\.", page)
    assert "specificity -0.20" in page and "z -)" in page and "no more than random" in page
    data = __import__("json").loads(text.split('id="units-data">')[1].split("</script>")[0])
    shown = {u["u"]: (u["n"], u["t"]) for u in data["units"]}
    assert shown["proj#0"] == ("dog", "named") and shown["proj#1"] == ("unexplained", "unexplained")


def test_unit_table_reads_each_ranking_a_bounded_number_of_times(tmp_path, monkeypatch):
    """The method keys are found once per report, not once per unit: a table of U units with R rankings each
    costs O(U R) key look-ups, not O(U^2 R) (on YAMNet's 23,433 units the latter took hours)."""
    import audiodissect.report.collect as collect_module
    from audiodissect.report.overview import index_page

    run, _ = make_run(tmp_path)
    data = collect(run)
    rankings = sum(len(rs) for rs in data.identify.values())
    calls = []
    key = collect_module.ranking_key
    monkeypatch.setattr(collect_module, "ranking_key", lambda r: calls.append(1) or key(r))
    html = index_page(data, pages={}, figures={}, notes=[], limit=50)
    assert len(data.units()) == 9 and rankings == 18
    assert len(calls) <= 2 * rankings  # once for the method list, once per unit's own rankings
    rows = json.loads(re.search(r'<script type="application/json"[^>]*>(.*?)</script>', str(html), re.S).group(1))
    assert rows["methods"] == ["tab/soft_wpmi", "db/cos3"]
    assert rows["units"][0]["c"] == {"tab/soft_wpmi": ["dog", 0.5], "db/cos3": ["dog", 0.5]}
