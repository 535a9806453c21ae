"""Feature importance: rankings by summary properties, accuracy curves, the plot."""

import json

import numpy as np
import pytest

from audiodissect.cache import read_jsonl
from audiodissect.errors import AudioDissectError
from audiodissect.prune.importance import (DEFAULT_PROPERTIES, accuracy, property_stats, property_values,
                                           prune_count, rank_by_property, rank_random, run_importance)
from audiodissect.prune.runner import PruneConfig
from prune_fixtures import HELDOUT_X, HELDOUT_Y, SUMMARIZE, make_run, reference_logits


def test_rank_by_property_most_first_ties_seeded():
    layers = {"hidden": 3}
    assert rank_by_property(SUMMARIZE, "acoustic_adjectives", layers=layers) == ["hidden#2", "hidden#0", "hidden#1"]
    by_nouns = rank_by_property(SUMMARIZE, "nouns", layers=layers)
    assert by_nouns[0] == "hidden#1" and by_nouns[1] == "hidden#0" and by_nouns[2] == "hidden#2"
    # nouns: hidden#1 has 3, hidden#0 has 2, hidden#2 has 1; output layer excluded
    records = [{"unit": f"l#{i}", "layer": "l", "nouns": ["x"]} for i in range(6)]
    orders = {tuple(rank_by_property(records, "nouns", layers={"l": 6}, seed=s)) for s in range(4)}
    assert len(orders) > 1                              # ties broken by the seed
    assert rank_by_property(records, "nouns", layers={"l": 6}, seed=3) == \
        rank_by_property(records, "nouns", layers={"l": 6}, seed=3)
    with pytest.raises(AudioDissectError, match="nouns"):
        rank_by_property(SUMMARIZE, "noun", layers=layers)


def test_summary_length_is_a_number_and_lists_count():
    records = [{"unit": "l#0", "layer": "l", "summary_length": 7, "adjectives": ["a", "b"]},
               {"unit": "l#1", "layer": "l", "summary_length": 31, "adjectives": []},
               {"unit": "l#2", "layer": "l", "adjectives": ["c"]},
               {"unit": "o#0", "layer": "o", "summary_length": 99, "adjectives": ["a", "b", "c"]}]
    assert property_values(records, "summary_length").tolist() == [7.0, 31.0, 0.0, 99.0]
    assert property_values(records, "adjectives").tolist() == [2.0, 0.0, 1.0, 3.0]
    assert rank_by_property(records, "summary_length", layers={"l": 3}) == ["l#1", "l#0", "l#2"]
    assert rank_by_property(records, "adjectives", layers={"l": 3}) == ["l#0", "l#2", "l#1"]
    stats = property_stats(records[:3], ["summary_length", "adjectives"])
    assert stats["summary_length"] == pytest.approx({"mean": 38 / 3, "median": 7.0, "max": 31.0, "zero_share": 1 / 3})
    assert stats["adjectives"]["zero_share"] == pytest.approx(1 / 3)
    assert DEFAULT_PROPERTIES == ("summary_length", "adjectives", "nouns", "acoustic_adjectives")


def test_rank_random_and_counts():
    units = ["a#0", "a#1", "a#2", "a#3"]
    assert rank_random(units, seed=1) == [units[i] for i in np.random.default_rng(1).permutation(4)]
    assert prune_count(50, 0.02) == 1 and prune_count(50, 0.12) == 6 and prune_count(3, 0.5) == 2
    assert accuracy(np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]]), np.array([0, 1, 1])) == pytest.approx(2 / 3)


def test_run_importance_writes_exact_curves_and_plot(tmp_path):
    run, target, probe = make_run(tmp_path)
    config = PruneConfig(importance_properties=["nouns", "acoustic_adjectives"], importance_fractions=[0.34, 0.67],
                         importance_seeds=2)
    result = run_importance(run, target, probe, config)
    rows = read_jsonl(tmp_path / "pruning" / "importance.jsonl")
    assert rows[0] == {"ranking": "none", "seed": None, "fraction": 0.0, "n_units": 0, "accuracy": 1.0}

    def expected_accuracy(units):
        logits = reference_logits(HELDOUT_X, [int(u.split("#")[1]) for u in units])
        return float(np.mean(np.argmax(logits, axis=1) == HELDOUT_Y))

    rankings = {("nouns", None): ["hidden#1", "hidden#0", "hidden#2"],
                ("acoustic_adjectives", None): ["hidden#2", "hidden#0", "hidden#1"]}
    pool = ["hidden#0", "hidden#1", "hidden#2"]
    rankings.update({("random", s): rank_random(pool, seed=s) for s in range(2)})
    by_key = {(r["ranking"], r["seed"], r["fraction"]): r for r in rows[1:]}
    assert len(by_key) == 4 * 2
    for (name, seed), order in rankings.items():
        for fraction, n in ((0.34, 1), (0.67, 2)):
            row = by_key[(name, seed, fraction)]
            assert row["n_units"] == n
            assert row["accuracy"] == pytest.approx(expected_accuracy(order[:n]))
    # pruning hidden#1 + hidden#0 leaves only hidden#2 (shared): trumpet clips then lose to organ's bias
    assert by_key[("nouns", None, 0.67)]["accuracy"] == pytest.approx(0.5)
    curves = result["summary"]["curves"]
    assert set(curves) == {"nouns", "acoustic_adjectives", "random"} and curves["random"][0]["n"] == 2
    png = tmp_path / "pruning" / "importance.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_run_importance_by_length_and_adjectives(tmp_path):
    """Figs 4b/4c: rankings by summary length and by adjectives, one plot per property, the summary on disk."""
    run, target, probe = make_run(tmp_path)
    lengths = {"hidden#0": 12, "hidden#1": 30, "hidden#2": 5}
    adjectives = {"hidden#0": ["bright", "muffled", "soft", "warm"], "hidden#1": [], "hidden#2": ["loud"]}
    run.write_units("summarize", [{**r, "summary_length": lengths.get(r["unit"], 50),
                                   "adjectives": adjectives.get(r["unit"], ["x"] * 9)} for r in SUMMARIZE])
    config = PruneConfig(importance_fractions=[0.34, 0.67], importance_seeds=1)
    result = run_importance(run, target, probe, config)
    rows = {(r["ranking"], r["fraction"]): r for r in read_jsonl(tmp_path / "pruning" / "importance.jsonl")}

    def expected_accuracy(units):
        logits = reference_logits(HELDOUT_X, [int(u.split("#")[1]) for u in units])
        return float(np.mean(np.argmax(logits, axis=1) == HELDOUT_Y))

    for name, order in (("summary_length", ["hidden#1", "hidden#0", "hidden#2"]),
                        ("adjectives", ["hidden#0", "hidden#2", "hidden#1"])):
        for fraction, n in ((0.34, 1), (0.67, 2)):
            assert rows[(name, fraction)]["accuracy"] == pytest.approx(expected_accuracy(order[:n]))
    # the longest summaries (hidden#1, then hidden#0) carry both classes: half the clips are lost at 67 %
    assert rows[("summary_length", 0.67)]["accuracy"] == pytest.approx(0.5)
    assert rows[("summary_length", 0.34)]["accuracy"] == pytest.approx(1.0)
    summary = result["summary"]
    assert set(summary["curves"]) == {*DEFAULT_PROPERTIES, "random"}
    assert summary["files"] == {"all": "importance.png", **{p: f"importance_{p}.png" for p in DEFAULT_PROPERTIES}}
    assert summary["properties"]["summary_length"]["max"] == 30.0 and summary["units"] == 3
    for name in summary["files"].values():
        assert (tmp_path / "pruning" / name).read_bytes()[:4] == b"\x89PNG"
    stored = json.loads((tmp_path / "pruning" / "importance.json").read_text())
    assert stored["curves"]["summary_length"][1]["mean"] == pytest.approx(0.5)


def test_unknown_property_fails_before_any_pass(tmp_path):
    run, target, probe = make_run(tmp_path)
    with pytest.raises(AudioDissectError, match="summary_length"):
        run_importance(run, target, probe, PruneConfig(importance_properties=["summary_lenght"]))
    assert target.module.calls == 0


def test_importance_needs_summaries(tmp_path):
    run, target, probe = make_run(tmp_path, with_units=False)
    with pytest.raises(AudioDissectError, match="summarize"):
        run_importance(run, target, probe, PruneConfig(importance_fractions=[0.5], importance_seeds=1))
