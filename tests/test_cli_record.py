"""The `record` command handler on YAMNet over a tiny soundbank: the run it writes, and its errors."""

import json
import re

from audiodissect.cli import main

TINY = ["--probe-option", "clips_per_label=2", "--probe-option", "labels=trumpet,organ", "--probe-option",
        "duration=1.0"]


def test_record_command_writes_a_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    code = main(["record", "--model", "yamnet", *TINY, "--layers", "classifier", "layers.layer14_pointwise",
                 "--batch-size", "3", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d \[record\] started", printed[0])  # stdout is no terminal: progress lines
    lines = [line for line in printed if not re.match(r"\d\d:\d\d:\d\d ", line)]
    assert lines[0].startswith("[record] done in ")
    assert lines[1] == "recorded 1545 units in 2 layers over 4 clips" and lines[-1] == f"results: {out}"
    assert [line.split(":")[0] for line in lines[2:-1]] == ["2 labels have clips in one split only"]  # 2 clips each
    record = json.loads((out / "manifest.json").read_text())["stages"]["record"]
    assert list(record["layers"]) == ["classifier", "layers.layer14_pointwise"]  # the order given
    assert record["output_layer"] == "classifier" and record["batch_size"] == 3
    assert json.loads((out / "config.json").read_text())["record"]["batch_size"] == 3

    assert main(["record", "--model", "yamnet", *TINY, "--layers", "classifer", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "no module path matches 'classifer'" in err and "classifier" in err
    assert main(["record", "--model", "yamnet", *TINY, "--batch-size", "0", "--out", str(tmp_path / "c")]) == 2
    assert "batch_size must be at least 1" in capsys.readouterr().err
