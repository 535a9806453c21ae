"""A BEATs checkpoint in the official file format, dissected end to end through the CLI and the API."""

import json

import torch

import audiodissect as ad
from audiodissect.cli import main
from audiodissect.progress import silent
from stage_fixtures import PROBE_OPTIONS, tiny_probe, write_descriptions
from test_targets_beats import DEEP_NORM, random_state

CLASSES = ["organ", "speech", "trumpet"]


def write_beats(tmp_path):
    """A tiny fine-tuned BEATs (3 classes) with AudioSet-style ids and a class map naming the soundbank's labels."""
    cfg = dict(DEEP_NORM, predictor_class=len(CLASSES))
    path = tmp_path / "beats.pt"
    torch.save({"cfg": cfg, "model": random_state(cfg, 3),
                "label_dict": {i: f"/m/0{i}x" for i in range(len(CLASSES))}}, path)
    class_map = tmp_path / "class_labels_indices.csv"
    class_map.write_text("index,mid,display_name\n" + "".join(f"{i},/m/0{i}x,{name}\n"
                                                                 for i, name in enumerate(CLASSES)))
    return path, class_map


def test_beats_checkpoint_through_the_cli_and_the_api(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    checkpoint, class_map = write_beats(tmp_path)
    descriptions = tmp_path / "descriptions.json"
    write_descriptions(descriptions, tiny_probe())
    config = tmp_path / "run.toml"
    config.write_text(f'[describe]\ncaptioner = "file:{descriptions}"\n[identify]\nmethods = ["db"]\n'
                      '[prune]\nstrategies = ["db", "ocp", "random"]\n')
    out = tmp_path / "run"
    options = [f"--probe-option={k}={','.join(v) if isinstance(v, list) else v}" for k, v in PROBE_OPTIONS.items()]
    argv = ["run", "--config", str(config), "--model", f"beats:{checkpoint}",
            "--model-option", f"class_map={class_map}", *options, "--out", str(out),
            "--stages", "record", "describe", "identify", "summarize", "prune", "analyze", "report"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "skipped" not in printed and "[report] done in" in printed
    record = json.loads((out / "manifest.json").read_text())["stages"]["record"]
    assert record["class_names"] == CLASSES
    assert list(record["layers"]) == ["encoder.layers.0.fc1", "encoder.layers.0.fc2", "encoder.layers.1.fc1",
                                      "encoder.layers.1.fc2", "predictor"]
    assert record["output_layer"] == "predictor" and record["layers"]["encoder.layers.0.fc1"] == 64

    # the same run from Python: reopened (the model rebuilt from its spec), scored and pruned again
    d = ad.Dissection.open(out, hook=silent)
    assert d.target.name == f"beats:{checkpoint}" and d.target.class_names == CLASSES
    assert {r["predictor"] for r in d.score(audio_text=False)} == {"description"}
    pruned = d.prune("speech", strategies=["db", "random"], seeds=1)
    assert {row["strategy"] for row in pruned.table} == {"db", "random~db"}
    assert all(not u.startswith("predictor#") for s in pruned.selections for u in s.units)
