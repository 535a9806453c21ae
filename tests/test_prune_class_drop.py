"""Per-class confidence change after pruning (paper Fig. 10), on the hand-weighted two-class model.

Held-out confidences (true-class logits) of TwoClassNet: trumpet clips 2.5 and
4.5, organ clips 4.0 and 7.0. Zeroing hidden#0 costs the trumpet clips 2 and 4,
hidden#1 costs the organ clips 3 and 6, hidden#2 costs every clip 0.5.
Selections (top-3 concepts, output layer excluded): tab/trumpet = hidden#0 and
hidden#2, tab/organ = hidden#1, db/trumpet = hidden#1 (its db concept is
"Trumpet"), db/organ = hidden#1 and hidden#2.
"""

import argparse
import csv
import json

import numpy as np
import pytest

from audiodissect import Dissection
from audiodissect.cache import read_jsonl, write_jsonl
from audiodissect.cli import evaluate_pruning
from audiodissect.errors import AudioDissectError
from audiodissect.prune.class_drop import class_drop_matrices, class_drop_summary, write_class_drop
from audiodissect.prune.evaluate import class_changes, pruning_effect
from audiodissect.prune.runner import PruneConfig, evaluate_pruning as run_pruning
from audiodissect.prune.strategies import load_selection
from prune_fixtures import CLASSES, HELDOUT_X, HELDOUT_Y, make_run, reference_logits

# (strategy, concept) -> expected mean change of (trumpet, organ) clips
EXPECTED = {("tab", "trumpet"): (-3.5, -0.5), ("tab", "organ"): (0.0, -4.5),
            ("db", "trumpet"): (0.0, -4.5), ("db", "organ"): (-0.5, -5.0)}


def test_class_changes_by_hand():
    change = np.array([1.0, 2.0, 3.0, 5.0])
    assert class_changes(change, np.array([2, 0, 2, 0])) == {"0": 3.5, "2": 2.0}
    effect = pruning_effect(np.zeros((2, 3)), np.array([[-1.0, 0, 0], [0, 0, -4.0]]), np.array([0, 2]), 0)
    assert effect["class_change"] == {"0": -1.0, "2": -4.0} and effect["dA"] == -1.0 and effect["dR"] == -4.0


@pytest.fixture
def pruned(tmp_path):
    run, target, probe = make_run(tmp_path)
    d = Dissection.open(run.path, target=target, probe=probe,
                        settings={"prune": {"concepts": ["all"], "strategies": ["tab", "db", "random"],
                                            "random_count": 1, "seeds": 2}})
    d.prune()
    return run


def test_results_hold_exact_per_class_changes(pruned):
    rows = {(r["strategy"], r["concept"]): r for r in read_jsonl(pruned.path / "pruning" / "results.jsonl")
            if r["strategy"] != "random"}
    for key, (trumpet, organ) in EXPECTED.items():
        assert rows[key]["class_change"] == pytest.approx({"0": trumpet, "1": organ})


def test_matrices_and_summary(pruned):
    results = read_jsonl(pruned.path / "pruning" / "results.jsonl")
    matrices = class_drop_matrices(results, CLASSES)
    assert list(matrices) == ["tab", "db", "random"]
    for strategy in ("tab", "db"):
        m = matrices[strategy]
        assert m.concepts == ["trumpet", "organ"] and m.classes == [0, 1]
        assert m.change == pytest.approx(np.array([EXPECTED[(strategy, c)] for c in m.concepts]))
        assert m.own.tolist() == [0, 1]
    assert matrices["tab"].own_rank().tolist() == [1.0, 1.0]
    assert matrices["db"].own_rank().tolist() == [2.0, 1.0]
    assert matrices["tab"].units.tolist() == [2.0, 1.0]
    # random: the mean over the two seeds of the drawn unit's exact effect
    random = matrices["random"]
    assert random.selections.tolist() == [2, 2]
    for i, concept in enumerate(random.concepts):
        effects = []
        for seed in range(2):
            sel = load_selection(pruned.path / "pruning" / concept / f"selection-random-seed{seed}.json")
            ablated = reference_logits(HELDOUT_X, [int(u.split("#")[1]) for u in sel.units])
            base = reference_logits(HELDOUT_X)
            change = ablated[np.arange(4), HELDOUT_Y] - base[np.arange(4), HELDOUT_Y]
            effects.append([change[HELDOUT_Y == k].mean() for k in (0, 1)])
        assert random.change[i] == pytest.approx(np.mean(effects, axis=0))
    summary = {r["strategy"]: r for r in class_drop_summary(matrices)}
    assert summary["tab"] == pytest.approx({"strategy": "tab", "n_concepts": 2, "n_classes": 2, "own_first": 2,
                                            "mean_own_rank": 1.0, "own_change": -4.0, "other_change": -0.25,
                                            "gap": 3.75})
    assert summary["db"] == pytest.approx({"strategy": "db", "n_concepts": 2, "n_classes": 2, "own_first": 1,
                                           "mean_own_rank": 1.5, "own_change": -2.5, "other_change": -2.5,
                                           "gap": 0.0})


def test_empty_selections_and_unknown_concept_class():
    rows = [{"concept": "trumpet", "strategy": "ocp", "reference": None, "units_pruned": 0,
             "class_change": {"0": 0.0, "1": 0.0}},
            {"concept": "organ", "strategy": "ocp", "reference": None, "units_pruned": 3,
             "class_change": {"0": -1.0}}]
    m = class_drop_matrices(rows, CLASSES)["ocp"]
    assert m.concepts == ["organ"] and m.classes == [0] and m.own.tolist() == [-1]
    assert np.isnan(m.own_rank()[0])
    assert class_drop_summary({"ocp": m})[0]["n_concepts"] == 0


def test_write_class_drop_files(pruned):
    result = write_class_drop(pruned)
    root = pruned.path / "pruning"
    assert result["files"] == {"csv": "class_drop.csv", "json": "class_drop.json", "png": "class_drop.png"}
    with open(root / "class_drop.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    tab = {(r["concept"], r["class"]): (float(r["change"]), r["own"]) for r in rows if r["strategy"] == "tab"}
    assert tab == {("trumpet", "trumpet"): (-3.5, "1"), ("trumpet", "organ"): (-0.5, "0"),
                   ("organ", "trumpet"): (0.0, "0"), ("organ", "organ"): (-4.5, "1")}
    assert len(rows) == 3 * 2 * 2
    stored = json.loads((root / "class_drop.json").read_text())["strategies"]
    assert [r["strategy"] for r in stored] == ["tab", "db", "random"]
    png = root / "class_drop.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_stale_results_and_missing_results(tmp_path, pruned):
    path = pruned.path / "pruning" / "results.jsonl"
    rows = read_jsonl(path)
    del rows[0]["class_change"]
    write_jsonl(path, rows)
    with pytest.raises(AudioDissectError, match="per-class") as err:
        write_class_drop(pruned)
    assert "evaluate pruning" in err.value.hint
    path.unlink()
    with pytest.raises(AudioDissectError, match="no pruning results"):
        write_class_drop(pruned)


def test_cached_rows_without_class_change_are_measured_again(tmp_path):
    run, target, probe = make_run(tmp_path)
    config = PruneConfig(concepts=["trumpet"], strategies=["tab"])
    run_pruning(run, target, probe, config)
    path = run.path / "pruning" / "trumpet" / "results.jsonl"
    rows = read_jsonl(path)
    del rows[0]["class_change"]
    write_jsonl(path, rows)
    calls = target.module.calls
    run_pruning(run, target, probe, config)
    assert target.module.calls > calls
    assert read_jsonl(path)[0]["class_change"] == pytest.approx({"0": -3.5, "1": -0.5})


def test_class_drop_command(pruned, capsys):
    parser = argparse.ArgumentParser(prog="audiodissect")
    evaluate = parser.add_subparsers(dest="command").add_parser("evaluate").add_subparsers(dest="what")
    evaluate_pruning.register(evaluate)
    args = parser.parse_args(["evaluate", "class-drop", "--run", str(pruned.path)])
    assert args.handler(args) == 0
    lines = capsys.readouterr().out.splitlines()
    tab = next(line for line in lines if line.startswith("tab"))
    assert tab.split() == ["tab", "2", "2", "2/2", "1.00", "-4.000", "-0.250", "+3.750"]
    assert any(line.endswith("class_drop.png") for line in lines)
