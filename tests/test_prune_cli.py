"""The prune and evaluate pruning/importance command handlers on a synthetic run directory."""

import argparse
import json

import pytest
import torch

import audiodissect.cli._stage as stage_helpers
from audiodissect import Dissection
from audiodissect.cache import read_jsonl
from audiodissect.cli import evaluate_pruning, prune
from audiodissect.cli._settings import settings_from_args
from prune_fixtures import make_run


@pytest.fixture
def cli(tmp_path, monkeypatch):
    run, target, probe = make_run(tmp_path / "run")
    # the run's clips live in memory: the commands reopen the run with them through the API
    def open_run(args, flags=(), *, needs_record=True, settings=None):
        given = settings if settings is not None else settings_from_args(args, flags)
        return Dissection.open(args.run, target=target, probe=probe, settings=given, echo=print)

    monkeypatch.setattr(stage_helpers, "open_run", open_run)
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
    assert call("prune", "--run", run.path, "--concepts", "trumpet", "--units", "hidden#0",
                "--save-weights", out) == 0
    text = capsys.readouterr().out
    line = next(l for l in text.splitlines() if l.startswith("units"))
    assert line.split()[1:6] == ["1", "1.0", "-3.000", "+0.000", "+3.000"]
    state = torch.load(out)
    assert torch.all(state["hidden.weight"][0] == 0) and state["hidden.bias"][0] == 0
    assert torch.all(state["hidden.weight"][1:] == target.module.hidden.weight[1:])
    sel = json.loads((run.path / "pruning" / "trumpet" / "selection-units.json").read_text())
    assert sel["units"] == ["hidden#0"]


def test_prune_command_default_strategies(cli, capsys):
    call, run, _ = cli
    assert call("prune", "--run", run.path, "--concepts", "organ", "--seeds", "2", "--ocp-threshold", "none") == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("strategy")) + 2
    assert [line.split()[0] for line in lines[start:start + 6]] == ["tab", "db", "ocp", "random~tab", "random~db",
                                                                      "random~ocp"]
    names = sorted(p.name for p in (run.path / "pruning" / "organ").glob("selection-*.json"))
    assert names == ["selection-db.json", "selection-ocp.json",
                     *(f"selection-random-{s}-seed{k}.json" for s in ("db", "ocp", "tab") for k in (0, 1)),
                     "selection-tab.json"]


def test_evaluate_pruning_command_writes_the_table(cli, capsys):
    call, run, _ = cli
    assert call("evaluate", "pruning", "--run", run.path, "--concepts", "all", "--strategies", "tab", "ocp",
                "--ocp-threshold", "none") == 0
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


def test_pruning_stages_record_their_manifest_sections_and_are_reused(tmp_path):
    run, target, probe = make_run(tmp_path)
    d = Dissection.open(run.path, target=target, probe=probe,
                        settings={"prune": {"concepts": ["all"], "strategies": ["tab", "ocp"], "ocp_threshold": None,
                                            "importance_fractions": [0.34], "importance_seeds": 1}})
    table = d.prune().table
    drop = d.class_drop()
    curves = d.importance()
    stages = run.manifest()["stages"]
    assert stages["prune"]["table"] == table and [r["strategy"] for r in table] == ["tab", "ocp"]
    assert set(stages["importance"]["summary"]["curves"]) == {"summary_length", "adjectives", "nouns",
                                                             "acoustic_adjectives", "random"}
    assert curves["baseline_accuracy"] == 1.0
    assert [r["strategy"] for r in drop["summary"]] == ["tab", "ocp"] == [r["strategy"] for r in
                                                                          stages["class-drop"]["summary"]]
    assert (run.path / "pruning" / "class_drop.png").exists()
    calls = target.module.calls
    d.prune(), d.class_drop(), d.importance()  # every key unchanged: nothing measured again
    assert target.module.calls == calls and run.manifest()["stages"] == stages
    d.prune(strategies=["tab"])  # a new pruning makes the class drops stale
    assert d.runner.outcomes["prune"].reused is False
    d.class_drop()
    assert d.runner.outcomes["class-drop"].reused is False
    assert [r["strategy"] for r in d.run_dir.stage("class-drop")["summary"]] == ["tab"]


def test_units_need_the_units_strategy(tmp_path):
    from audiodissect.errors import AudioDissectError

    run, target, probe = make_run(tmp_path)
    d = Dissection.open(run.path, target=target, probe=probe, settings={"prune": {"units": ["hidden#0"]}})
    with pytest.raises(AudioDissectError, match="'units' strategy"):
        d.prune()
    assert d.prune("trumpet", units=["hidden#1"]).selections[-1].units == ["hidden#1"]
