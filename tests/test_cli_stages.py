"""The single-stage commands (describe, identify, summarize) and the stage caches, on a tiny recorded run."""

import json
import re
import shutil

import numpy as np
import pytest

import audiodissect.identify.units
import audiodissect.summarize.units
from audiodissect.cli import main
from audiodissect import Dissection
from audiodissect.rundir import RunDir
from stage_fixtures import record_run, tiny_probe, write_descriptions


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("stages")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIODISSECT_CACHE", str(root / "cache"))
        record_run(root / "recorded")
        probe = tiny_probe()
        descriptions = write_descriptions(root / "descriptions.json", probe)
        yield {"root": root, "probe": probe, "descriptions": descriptions}


@pytest.fixture
def run_dir(env, tmp_path, monkeypatch):
    """A fresh copy of the recorded run (record stage only)."""
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(env["root"] / "cache"))
    path = tmp_path / "run"
    shutil.copytree(env["root"] / "recorded", path)
    return path


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def says(out: str, start: str) -> bool:
    """Whether one line of `out` starts with `start` (the stage's own lines come first)."""
    return any(line.startswith(start) for line in out.splitlines())


def test_describe_identify_summarize_commands(env, run_dir, capsys):
    desc = env["root"] / "descriptions.json"
    code, out, _ = cli(capsys, "describe", "--run", str(run_dir), "--captioner", f"file:{desc}")
    assert code == 0 and says(out, f"18 descriptions by file:{desc}: 18 described, 0 from the cache")
    assert [line for line in out.splitlines() if "[describe]" in line][-1].startswith("[describe] done in ")
    saved = json.loads((run_dir / "descriptions.json").read_text())
    assert saved == env["descriptions"]

    code, out, _ = cli(capsys, "identify", "--run", str(run_dir), "--method", "db", "--similarity", "cos", "cos3")
    assert code == 0
    # the default concept set: the 17 soundbank labels and the 6 default acoustic words
    assert says(out, "7 units x 1 methods (db) x 2 similarities over 23 concepts: ")
    assert RunDir(run_dir).concepts()[-6:] == ["low-pitched", "mid-pitched", "high-pitched", "noisy", "bright",
                                               "dull"]
    assert f"records: {run_dir / 'units' / 'identify.jsonl'}" in out
    records = RunDir(run_dir).read_units("identify")
    assert len(records) == 7 * 2  # units x similarities
    assert {r["similarity"] for r in records} == {"cos", "cos3"}
    # the output units are the labels: DB evidence from exact sentences names them
    classifier = {r["index"]: r["concepts"][0] for r in records if r["layer"] == "classifier"
                  and r["similarity"] == "cos"}
    assert sorted(classifier) == [0, 1, 2]

    code, out, _ = cli(capsys, "summarize", "--run", str(run_dir), "--k", "3")
    assert code == 0 and says(out, "7 units summarised by extractive, with ICL: ")
    assert says(out, "LLM extractive: ")
    assert "LLM calls" in out
    summaries = RunDir(run_dir).read_units("summarize")
    assert len(summaries) == 7 and all(len(r["top_clips"]) == 3 for r in summaries)
    run = RunDir(run_dir)
    rows, clips, acts = run.probe_rows(), run.clips(), run.probe_activations()
    for r in summaries:
        top = np.argsort(-acts[r["layer"]][:, r["index"]], kind="stable")[:3]
        assert set(r["top_clips"]) == {clips[rows[i]].id for i in top}
        assert r["s_high"]
    assert json.loads((run_dir / "config.json").read_text())["summarize"]["k"] == 3

    code, again, _ = cli(capsys, "summarize", "--run", str(run_dir), "--k", "3")
    assert code == 0 and "unchanged since the last summarize (nothing recomputed)" in again
    manifest = RunDir(run_dir).manifest()["stages"]
    for stage in ("describe", "identify", "summarize"):
        assert manifest[stage]["seconds"] >= 0 and len(manifest[stage]["key"]) == 16


def test_identify_takes_a_descriptions_file_keyed_by_paths(env, run_dir, capsys, tmp_path):
    by_name = {f"audio/{clip_id}": text for clip_id, text in env["descriptions"].items()}
    path = tmp_path / "and_format.json"
    path.write_text(json.dumps(by_name))
    code, out, _ = cli(capsys, "identify", "--run", str(run_dir), "--descriptions", str(path),
                       "--method", "db", "--similarity", "cos")
    assert code == 0 and f"descriptions from {path}" in out
    assert RunDir(run_dir).descriptions() == list(env["descriptions"].values())
    assert RunDir(run_dir).stage("identify")["methods"] == ["db"]


def test_clear_errors(env, run_dir, capsys, tmp_path):
    code, _, err = cli(capsys, "identify", "--run", str(run_dir), "--method", "db")
    assert code == 2 and "has no clip descriptions" not in err
    assert f"DB needs clip descriptions and {run_dir} has none" in err and "audiodissect describe" in err
    code, _, err = cli(capsys, "summarize", "--run", str(run_dir))
    assert code == 2 and f"{run_dir} has no clip descriptions" in err
    assert f"hint: run `audiodissect describe --run {run_dir}` first" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in ("describe", "identify", "summarize"):
        code, out, err = cli(capsys, command, "--run", str(empty))
        assert code == 2 and out == ""
        assert err.splitlines() == [f"audiodissect: error: {empty} is not a run directory (it has no manifest.json)",
                                    "  hint: give the folder a dissection wrote (e.g. runs/default)"]
    assert not (empty / "config.json").exists()  # nothing was written into the mistyped folder
    code, _, err = cli(capsys, "describe", "--run", str(tmp_path / "missing"))
    assert code == 2 and "no run directory at" in err
    code, _, err = cli(capsys, "identify", "--run", str(run_dir), "--method", "tab", "--similarity", "cosine")
    assert code == 2 and "unknown value of setting identify.similarities 'cosine'" in err and "closest: cos" in err


def _count(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_identify_and_summarize_reuse_their_results(env, run_dir, monkeypatch, tmp_path):
    d = Dissection.open(run_dir, probe=env["probe"])
    run = d.run_dir
    descriptions = list(d.describe(f"file:{env['root'] / 'descriptions.json'}"))
    identified = _count(monkeypatch, audiodissect.identify.units, "method_sources")  # once per identify run
    first = d.identify(methods=["db"], similarities=["cos"])
    key = run.stage("identify")["key"]
    assert d.identify().records == first.records
    assert len(identified) == 1 and run.stage("identify")["key"] == key

    concepts = tmp_path / "concepts.txt"
    concepts.write_text("trumpet\norgan\nspeech\n")
    changed = d.identify(concepts)
    assert len(identified) == 2 and run.stage("identify")["key"] != key
    assert run.concepts() == ["trumpet", "organ", "speech"]
    assert {c for r in changed for c in r["concepts"]} <= {"trumpet", "organ", "speech"}
    clips = run.clips()
    run.write_descriptions({c.id: ("A dog barks." if i == 0 else t) for i, (c, t) in enumerate(zip(clips, descriptions))})
    d.identify()  # other descriptions: identified again
    assert len(identified) == 3

    summarized = _count(monkeypatch, audiodissect.summarize.units, "summarize_units")
    records = d.summarize()
    assert d.summarize().records == records.records and len(summarized) == 1
    d.summarize(threshold=0.5)
    assert len(summarized) == 2
    (run.units_path("summarize")).unlink()  # a missing results file is recomputed
    d.summarize()
    assert len(summarized) == 3


def test_describe_reuses_its_results(env, run_dir, tmp_path):
    d = Dissection.open(run_dir, probe=env["probe"])
    run = d.run_dir
    path = tmp_path / "d.json"
    write_descriptions(path, env["probe"])
    spec = f"file:{path}"
    first = list(d.describe(spec))
    seconds = run.stage("describe")
    assert list(d.describe(spec)) == first and run.stage("describe") == seconds
    data = json.loads(path.read_text())
    data["organ-0000"] = "A dog barks."
    path.write_text(json.dumps(data))  # the file changed: described again
    assert d.describe(spec)[0] == "A dog barks."
    assert run.stage("describe")["key"] != seconds["key"]


def test_evaluate_last_layer_flags_circular_tab_evidence(env, run_dir, capsys):
    """A run whose TAB tagger is the dissected model says so under the last-layer table."""
    desc = env["root"] / "descriptions.json"
    assert cli(capsys, "identify", "--run", str(run_dir), "--method", "db", "--similarity", "cos",
               "--descriptions", str(desc))[0] == 0
    code, out, _ = cli(capsys, "evaluate", "last-layer", "--run", str(run_dir))
    lines = [line for line in out.splitlines() if not re.match(r"\d\d:\d\d:\d\d ", line)]  # no progress lines
    assert code == 0 and lines[0].startswith("[last-layer] done") and lines[1].startswith("method")
    assert "circular" not in out
    run = RunDir(run_dir)
    run.finish_stage("identify", run.stage("identify")["key"], {**run.stage("identify"), "circular": True})
    code, out, _ = cli(capsys, "evaluate", "last-layer", "--run", str(run_dir))
    model = run.stage("record")["model"]
    assert code == 0 and out.strip().splitlines()[-1].startswith(
        f"note: TAB's tagger is the dissected model itself ({model})")


def test_run_help_names_every_stage_it_leaves_out_by_default(capsys):
    from audiodissect.config import RUN_STAGES, STAGES

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    default = re.search(r"--stages STAGES \[STAGES \.\.\.\] .*?\(default: all but ([^)]*)\)", help_text).group(1)
    assert set(re.findall(r"[a-z-]+", default)) - {"and"} == set(STAGES) - set(RUN_STAGES)
