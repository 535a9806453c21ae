"""The prune and evaluate pruning/importance command handlers on a synthetic run directory."""

import argparse
import json

import pytest
import torch

import audiodissect.cli._stage as stage_helpers
from audiodissect import Dissection
from audiodissect.cache import read_jsonl
from audiodissect.cli import evaluate_pruning, prune
from prune_fixtures import make_run


@pytest.fixture
def cli(tmp_path, monkeypatch):
    run, target, probe = make_run(tmp_path / "run")
    # the run's clips live in memory: the commands reopen the run with them through the API
    monkeypatch.setattr(stage_helpers, "open_run",
                        lambda path, device=None, needs_record=True: Dissection.open(path, target=target, probe=probe))
    parser = argparse.ArgumentParser(prog="audiodissect")
    sub = parser.add_subparsers(dest="command")
    prune.register(sub)
    evaluate = sub.add_parser("evaluate").add_subparsers(dest="what")
    evaluate_pruning.register(evaluate)
    evaluate_pruning.register_importance(evaluate)

    def call(*argv):
        args = parser.parse_args([str(a) for a in argv])
        return args.handler(args)

    return call, run, target


def test_prune_command_with_units_and_saved_weights(cli, capsys, tmp_path):
    call, run, target = cli
    out = tmp_path / "pruned.pt"
    assert call("prune", "--run", run.path, "--concept", "trumpet", "--units", "hidden#0",
                "--save-weights", out) == 0
    text = capsys.readouterr().out
    assert "4 held-out clips (2 of the concept; 1 skipped, their label is not a class)" in text
    line = next(l for l in text.splitlines() if l.startswith("units"))
    assert line.split()[1:6] == ["1", "1.0", "-3.000", "+0.000", "+3.000"]
    state = torch.load(out)
    assert torch.all(state["hidden.weight"][0] == 0) and state["hidden.bias"][0] == 0
    assert torch.all(state["hidden.weight"][1:] == target.module.hidden.weight[1:])
    sel = json.loads((run.path / "pruning" / "trumpet" / "selection-units.json").read_text())
    assert sel["units"] == ["hidden#0"]


def test_prune_command_default_strategies(cli, capsys):
    call, run, _ = cli
    assert call("prune", "--run", run.path, "--concept", "organ", "--seeds", "2", "--ocp-threshold", "0") == 0
    text = capsys.readouterr().out
    assert [l.split()[0] for l in text.splitlines()[3:9]] == ["tab", "db", "ocp", "random~tab", "random~db",
                                                             "random~ocp"]
    names = sorted(p.name for p in (run.path / "pruning" / "organ").glob("selection-*.json"))
    assert names == ["selection-db.json", "selection-ocp.json",
                     *(f"selection-random-{s}-seed{k}.json" for s in ("db", "ocp", "tab") for k in (0, 1)),
                     "selection-tab.json"]


def test_evaluate_pruning_command_writes_the_table(cli, capsys):
    call, run, _ = cli
    assert call("evaluate", "pruning", "--run", run.path, "--strategies", "tab", "ocp", "--ocp-threshold", "0") == 0
    text = capsys.readouterr().out
    assert "table.csv" in text
    table = read_jsonl(run.path / "pruning" / "table.jsonl")
    assert [r["strategy"] for r in table] == ["tab", "ocp"]
    assert table[1]["selectivity"] == pytest.approx(3.75)


def test_evaluate_pruning_unknown_strategy(cli):
    from audiodissect.errors import AudioDissectError

    call, run, _ = cli
    with pytest.raises(AudioDissectError, match="closest: ocp"):
        call("evaluate", "pruning", "--run", run.path, "--strategies", "ocpp")


def test_evaluate_importance_command(cli, capsys):
    call, run, _ = cli
    assert call("evaluate", "importance", "--run", run.path, "--fractions", "0.34", "--seeds", "1") == 0
    text = capsys.readouterr().out
    assert "unpruned held-out accuracy: 1.000" in text
    assert (run.path / "pruning" / "importance.png").exists()
    assert len(read_jsonl(run.path / "pruning" / "importance.jsonl")) == 1 + 5  # 4 properties, 1 random
    assert (run.path / "pruning" / "importance_summary_length.png").exists()


def test_stage_prune_records_the_manifest_section(tmp_path):
    from audiodissect.config import PruneConfig
    from audiodissect.prune import stage_prune

    run, target, probe = make_run(tmp_path)
    config = PruneConfig(strategies=["tab", "ocp"], ocp_threshold=None, importance_fractions=[0.34],
                         importance_seeds=1)
    section = stage_prune(run, config, target=target, probe=probe)
    stored = run.stage("prune")
    assert stored["table"] == section["table"] and [r["strategy"] for r in stored["table"]] == ["tab", "ocp"]
    assert set(stored["importance"]["curves"]) == {"summary_length", "adjectives", "nouns", "acoustic_adjectives",
                                                   "random"}
    assert [r["strategy"] for r in stored["class_drop"]] == ["tab", "ocp"]
    assert (run.path / "pruning" / "class_drop.png").exists()
    assert stored["importance"]["baseline_accuracy"] == 1.0
