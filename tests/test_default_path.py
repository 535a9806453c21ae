"""The real default path end to end, nothing monkeypatched: `audiodissect run` with demo-cnn on a tiny soundbank.

The offline defaults run for real: the demo CNN is trained (two epochs) on the
tiny soundbank, YAMNet tags and acoustic descriptors describe the clips, the
YAMNet tag bridge gives TAB evidence, the extractive LLM summarises, and every
stage through the report runs; then a second run reuses every stage.
"""

import json

import pytest

from audiodissect.cli import main



@pytest.mark.slow
def test_audiodissect_run_on_the_default_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    config = tmp_path / "run.toml"
    config.write_text('[record.model_options]\nepochs = 2\n[record.model_options.probe_options]\n'
                      'clips_per_label = 6\nlabels = ["trumpet", "organ", "speech", "violin"]\n')
    out = tmp_path / "run"
    argv = ["run", "--config", str(config), "--out", str(out), "--probe-option", "clips_per_label=6",
            "--probe-option", "labels=trumpet,organ,speech,violin"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for stage in ("record", "describe", "identify", "summarize", "score", "prune", "analyze", "report"):
        assert f"[{stage}] done in" in printed, stage
    assert "skipped" not in printed
    assert "method  similarity" in printed and "strategy" in printed  # the last-layer and pruning tables
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["record"]["model"] == "demo-cnn"
    assert manifest["stages"]["record"]["output_layer"] == "classifier"
    assert manifest["stages"]["describe"]["captioner"] == "tags"
    assert (out / "report" / "index.html").exists() and (out / "analysis" / "summary.json").exists()

    assert main(argv) == 0  # everything is current: every stage is reused
    again = capsys.readouterr().out
    assert all(f"[{stage}] unchanged" in again for stage in ("record", "describe", "identify", "summarize"))
    assert json.loads((out / "manifest.json").read_text())["stages"]["record"] == manifest["stages"]["record"]
