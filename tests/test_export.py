"""The export round-trips: a run's units, names, concepts, explanations with scores and top clips, written as
Parquet, JSON lines and a Hugging Face dataset, read back equal; never written into the run."""

import json

import numpy as np
import pandas as pd
import pytest

import audiodissect as ad
from audiodissect.cli import main
from audiodissect.errors import AudioDissectError
from audiodissect.progress import silent
from stage_fixtures import make_target, tiny_probe, write_descriptions


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIODISSECT_CACHE", str(root / "cache"))
        probe = tiny_probe()
        d = ad.Dissection(make_target(), probe, out=root / "run", hook=silent)
        d.record(["conv", "classifier"])
        write_descriptions(root / "descriptions.json", probe)
        d.import_descriptions(root / "descriptions.json")
        units = d.identify(methods=["db"], similarities=["cos", "cos3"])
        summaries = d.summarize(k=3)
        scores = d.score(audio_text=False)
        yield {"d": d, "root": root, "units": units, "summaries": summaries, "scores": scores}


def listing(path):
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*"))


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "hf-dataset"])
def test_export_round_trips(run, tmp_path, fmt):
    d = run["d"]
    before = listing(d.path)
    out = d.export(tmp_path / "shared", format=fmt, top=3)
    assert listing(d.path) == before  # nothing written into the run
    back = ad.read_export(out)
    assert back.format == fmt and back.manifest["export_format"] == 1 and back.manifest["model"] == "wave-net"
    units = back["units"]
    assert units.unit.tolist() == [f"conv#{i}" for i in range(4)] + [f"classifier#{i}" for i in range(3)]
    names = {r.unit: r for r in run["units"].names}
    for row in units.itertuples():
        name = names[row.unit]
        assert (row.name if isinstance(row.name, str) else None) == name.name and row.status == name.status
    assert units.set_index("unit").loc["classifier#1", "class"] == "speech"
    stats = d.activations().stats().set_index("unit")
    np.testing.assert_allclose(units.set_index("unit")["sparsity"], stats["sparsity"])
    summaries = {r.unit: r for r in run["summaries"]}
    assert units.set_index("unit")["summary"].to_dict() == {u: s.s_high for u, s in summaries.items()}
    assert [list(x) for x in units.open_nouns] == [list(summaries[u].nouns) for u in units.unit]
    # concepts: every ranking, rank by rank
    concepts = back["concepts"]
    assert len(concepts) == sum(len(r.concepts) for r in run["units"])
    first = concepts[(concepts["rank"] == 1) & (concepts.similarity == "cos3")].set_index("unit")["concept"]
    assert first.to_dict() == {r.unit: r.concepts[0] for r in run["units"] if r.similarity == "cos3"}
    # explanations with their scores
    explanations = back["explanations"]
    assert len(explanations) == len(run["scores"])
    for got, score in zip(explanations.itertuples(), run["scores"]):
        assert (got.unit, got.explanation, got.text, got.predictor) == (score.unit, score.explanation, score.text,
                                                                        score.predictor)
        assert (pd.isna(got.spearman) and score.spearman is None) or got.spearman == pytest.approx(score.spearman)
    # top clips: references that match top_clips()
    top = back["top_clips"]
    mine = top[(top.unit == "classifier#2") & (top.side == "top")].sort_values("rank")
    expected = d.top_clips("classifier#2", k=3)
    assert mine["clip"].tolist() == [c.clip.id for c in expected]
    np.testing.assert_allclose(mine.activation, [c.activation for c in expected], rtol=1e-6)
    assert len(back["clips"]) == 18 and back["clips"]["description"].notna().all()
    # one Neuronpedia-style document per unit
    doc = back.unit_json("classifier#2")
    assert doc["modelId"] == "wave-net" and doc["layer"] == "classifier" and doc["index"] == "2"
    assert doc["class"] == "trumpet" and [a["clip"] for a in doc["activations"] if a["side"] == "top"] == \
        mine["clip"].tolist()
    kinds = {e["typeName"] for e in doc["explanations"]}
    assert {"summary", "db/cos"} <= kinds and all("spearman" in s for e in doc["explanations"] for s in e["scores"])
    assert len(list((out / "neuronpedia").rglob("*.json"))) == 7


def test_export_refuses_the_run_and_full_folders(run, tmp_path):
    d = run["d"]
    with pytest.raises(AudioDissectError, match="inside the run directory"):
        d.export(d.path / "shared")
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep me")
    with pytest.raises(AudioDissectError, match="replaces nothing"):
        d.export(full, format="jsonl")
    assert (full / "mine.txt").read_text() == "keep me" and len(list(full.iterdir())) == 1
    with pytest.raises(AudioDissectError, match="unknown export format"):
        d.export(tmp_path / "x", format="csv")


def test_export_command_without_scores(run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run["d"].path, copy)
    (copy / "units" / "score.jsonl").unlink()  # explanations without scores
    assert main(["export", "--run", str(copy), "--format", "jsonl", "--out", str(tmp_path / "out"),
                 "--no-neuronpedia"]) == 0
    out = capsys.readouterr().out
    assert f"exported jsonl to {tmp_path / 'out'} (units 7, " in out
    back = ad.read_export(tmp_path / "out")
    explanations = back["explanations"]
    assert set(explanations.explanation) >= {"db/cos", "db/cos3", "summary"} and explanations.spearman.isna().all()
    assert not (tmp_path / "out" / "neuronpedia").exists()
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    assert manifest["scored"] is False and manifest["tables"]["units"]["rows"] == 7


@pytest.mark.parametrize("crafted", ["parent", "absolute", "link", "split"])
def test_a_shared_dataset_export_reads_nothing_outside_its_tables(run, tmp_path, crafted):
    import shutil

    out = run["d"].export(tmp_path / "shared", format="hf-dataset", top=1)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(out / "clips", elsewhere)  # a readable table outside the export
    state_path = out / "units" / "state.json"
    state = json.loads(state_path.read_text())
    data = out / "units" / state["_data_files"][0]["filename"]
    if crafted == "parent":
        state["_data_files"] = [{"filename": f"../../elsewhere/{state['_data_files'][0]['filename']}"}]
    elif crafted == "absolute":
        state["_data_files"] = [{"filename": str(next(elsewhere.glob("*.arrow")))}]
    elif crafted == "link":
        data.unlink()
        data.symlink_to(next(elsewhere.glob("*.arrow")))
    else:
        (out / "dataset_dict.json").write_text(json.dumps({"splits": ["units", "concepts", "explanations",
                                                                      "top_clips", "../elsewhere"]}))
    state_path.write_text(json.dumps(state))
    with pytest.raises(AudioDissectError, match="not a file of its own folder|not the tables"):
        ad.read_export(out)
