"""Pruning evaluation on a recorded run: exact dA, dR, selectivity, held-out only, caching, the table."""

import csv
import json

import numpy as np
import pytest

from audiodissect.cache import read_jsonl
from audiodissect.errors import AudioDissectError
from audiodissect.prune.evaluate import (HeldoutAudio, confidence, format_table, heldout_targets, pruning_effect,
                                         pruning_table)
from audiodissect.prune.runner import PruneConfig, PruningContext, evaluate_pruning, prune_concept
from audiodissect.prune.strategies import Selection
from prune_fixtures import CLASSES, HELDOUT_X, HELDOUT_Y, make_run, reference_logits


def expected_effect(ablated, concept):
    """dA, dR, selectivity from the numpy reference model."""
    k = CLASSES.index(concept)
    before, after = reference_logits(HELDOUT_X), reference_logits(HELDOUT_X, ablated)
    change = after[np.arange(len(HELDOUT_Y)), HELDOUT_Y] - before[np.arange(len(HELDOUT_Y)), HELDOUT_Y]
    d_a, d_r = change[HELDOUT_Y == k].mean(), change[HELDOUT_Y != k].mean()
    return d_a, d_r, d_r - d_a


def test_pruning_effect_by_hand():
    base = np.array([[2.5, 1.0], [4.5, 1.0], [0.5, 4.0], [0.5, 7.0]])
    after = np.array([[0.5, 1.0], [0.5, 1.0], [0.5, 4.0], [0.5, 7.0]])
    classes = np.array([0, 0, 1, 1])
    np.testing.assert_allclose(confidence(base, classes), [2.5, 4.5, 4.0, 7.0])
    effect = pruning_effect(base, after, classes, 0)
    assert effect["dA"] == -3.0 and effect["dR"] == 0.0 and effect["selectivity"] == 3.0
    assert effect["acc_c_before"] == 1.0 and effect["acc_c_after"] == 0.0
    assert effect["acc_rest_before"] == 1.0 and effect["acc_rest_after"] == 1.0
    assert effect["n_c"] == 2 and effect["n_rest"] == 2


def test_heldout_targets_skip_non_class_labels(tmp_path):
    run, _, _ = make_run(tmp_path, with_units=False)
    rows, classes, skipped = heldout_targets(run.clips(), ["Trumpet", "organ"])
    assert rows.tolist() == [3, 4, 5, 6] and classes.tolist() == [0, 0, 1, 1] and skipped == 1


@pytest.mark.parametrize("units, concept, values", [
    (["hidden#0"], "trumpet", (-3.0, 0.0, 3.0)),
    (["hidden#2"], "trumpet", (-0.5, -0.5, 0.0)),
    (["hidden#1"], "trumpet", (0.0, -4.5, -4.5)),
    (["hidden#1"], "organ", (-4.5, 0.0, 4.5)),
    (["hidden#0", "hidden#2"], "trumpet", (-3.5, -0.5, 3.0)),
])
def test_exact_effects_of_known_units(tmp_path, units, concept, values):
    run, target, probe = make_run(tmp_path)
    ctx = PruningContext(run, target, probe)
    [row] = prune_concept(ctx, concept, strategies=[], units=units)
    assert (row["dA"], row["dR"], row["selectivity"]) == pytest.approx(values)
    assert (row["dA"], row["dR"], row["selectivity"]) == pytest.approx(
        expected_effect([int(u.split("#")[1]) for u in units], concept))
    assert row["units_pruned"] == len(units) and row["strategy"] == "units"


def test_accuracy_before_and_after(tmp_path):
    run, target, probe = make_run(tmp_path)
    ctx = PruningContext(run, target, probe)
    [row] = prune_concept(ctx, "trumpet", strategies=[], units=["hidden#0"])
    assert (row["acc_c_before"], row["acc_c_after"], row["acc_rest_before"], row["acc_rest_after"]) == (1, 0, 1, 1)
    assert ctx.skipped == 1 and ctx.class_names == CLASSES
    # the manifest stores layers sorted by name; the module order decides the output layer
    assert list(ctx.layers) == ["hidden", "classifier"] and ctx.eligible == {"hidden": 3}


def test_evaluation_reads_heldout_clips_only(tmp_path):
    run, target, probe = make_run(tmp_path)
    assert probe.guard
    with pytest.raises(AssertionError):           # the guard really fires on probe clips
        probe.audio(0, sample_rate=100)
    ctx = PruningContext(run, target, probe)      # reads audio and runs the baseline: no probe clip touched
    assert ctx.audio.rows.tolist() == [3, 4, 5, 6]
    prune_concept(ctx, "organ", strategies=["tab", "ocp"], config=PruneConfig(ocp_threshold=None))
    with pytest.raises(AudioDissectError, match="held-out clips only"):
        HeldoutAudio(probe, [0, 3], sample_rate=100)


def test_baseline_logits_are_cached(tmp_path):
    run, target, probe = make_run(tmp_path)
    ctx = PruningContext(run, target, probe, batch_size=2)
    assert target.module.calls == 2               # 4 held-out clips in batches of 2
    np.testing.assert_allclose(ctx.baseline, reference_logits(HELDOUT_X), atol=1e-6)
    again = PruningContext(run, target, probe, batch_size=2)
    assert target.module.calls == 2               # read from pruning/baseline_logits.npy
    np.testing.assert_array_equal(again.baseline, ctx.baseline)
    with __import__("torch").no_grad():
        target.module.classifier.bias.add_(1.0)  # a changed model invalidates the cache
    PruningContext(run, target, probe, batch_size=2)
    assert target.module.calls == 4


def test_results_are_cached_per_selection(tmp_path):
    run, target, probe = make_run(tmp_path)
    ctx = PruningContext(run, target, probe)
    prune_concept(ctx, "trumpet", strategies=["tab"])
    calls = target.module.calls
    prune_concept(ctx, "trumpet", strategies=["tab"])
    assert target.module.calls == calls
    rows = read_jsonl(tmp_path / "pruning" / "trumpet" / "results.jsonl")
    assert [r["label"] for r in rows] == ["tab"]


def test_concept_must_be_a_class(tmp_path):
    run, target, probe = make_run(tmp_path)
    ctx = PruningContext(run, target, probe)
    with pytest.raises(AudioDissectError) as err:
        prune_concept(ctx, "trumpett", strategies=["tab"])
    assert "trumpet" in str(err.value)


def test_random_needs_a_size(tmp_path):
    run, target, probe = make_run(tmp_path)
    ctx = PruningContext(run, target, probe)
    with pytest.raises(AudioDissectError, match="needs a size"):
        prune_concept(ctx, "trumpet", strategies=["random"])
    rows = prune_concept(ctx, "trumpet", strategies=["random"], config=PruneConfig(random_count=2, seeds=2))
    assert [r["label"] for r in rows] == ["random-seed0", "random-seed1"] and all(r["units_pruned"] == 2 for r in rows)


def test_full_table_on_a_run(tmp_path):
    run, target, probe = make_run(tmp_path)
    config = PruneConfig(concepts=["all"], strategies=["tab", "db", "ocp", "random"], seeds=2, ocp_threshold=None)
    table, results = evaluate_pruning(run, target, probe, config)
    assert len(results) == 2 * (3 + 3 * 2)  # per concept: three strategies and two draws sized like each
    by = {r["strategy"]: r for r in table}
    assert list(by) == ["tab", "db", "ocp", "random~tab", "random~db", "random~ocp"]
    # tab: trumpet -> hidden#0 + hidden#2 (-3.5, -0.5); organ -> hidden#1 (-4.5, 0); classifier left out
    assert by["tab"]["units_pruned"] == 1.5 and by["tab"]["n_concepts"] == 2 and by["tab"]["n_empty"] == 0
    assert (by["tab"]["dA"], by["tab"]["dR"], by["tab"]["selectivity"]) == pytest.approx((-4.0, -0.25, 3.75))
    # db: trumpet -> hidden#1 (0, -4.5); organ -> hidden#1 + hidden#2 (-5, -0.5)
    assert by["db"]["units_pruned"] == 1.5
    assert (by["db"]["dA"], by["db"]["dR"], by["db"]["selectivity"]) == pytest.approx((-2.5, -2.5, 0.0))
    # ocp: trumpet -> hidden#0 (-3, 0), organ -> hidden#1 (-4.5, 0): fully selective
    assert (by["ocp"]["dA"], by["ocp"]["dR"], by["ocp"]["selectivity"]) == pytest.approx((-3.75, 0.0, 3.75))
    # random~s: per concept, draws as large as s's selection, averaged over seeds then concepts
    for strategy, sizes in (("tab", {"trumpet": 2, "organ": 1}), ("db", {"trumpet": 1, "organ": 2}),
                            ("ocp", {"trumpet": 1, "organ": 1})):
        expected = []
        for concept in CLASSES:
            per_seed = []
            for seed in range(2):
                path = tmp_path / "pruning" / concept / f"selection-random-{strategy}-seed{seed}.json"
                sel = json.loads(path.read_text())
                assert sel["reference"] == strategy and len(sel["units"]) == sizes[concept]
                per_seed.append(expected_effect([int(u.split("#")[1]) for u in sel["units"]], concept))
            expected.append(np.mean(per_seed, axis=0))
        row = by[f"random~{strategy}"]
        assert (row["dA"], row["dR"], row["selectivity"]) == pytest.approx(tuple(np.mean(expected, axis=0)))
        assert row["units_pruned"] == np.mean(list(sizes.values())) and row["vs_random"] is None
        assert by[strategy]["vs_random"] == pytest.approx(by[strategy]["selectivity"] - row["selectivity"])
        assert row["beats_random"] is None
    # wins: concepts where ocp's selectivity (trumpet 3.0, organ 4.5) beats its random draws' mean
    def random_selectivity(concept):
        draws = [json.loads((tmp_path / "pruning" / concept / f"selection-random-ocp-seed{k}.json").read_text())
                 for k in range(2)]
        return np.mean([expected_effect([int(u.split("#")[1]) for u in d["units"]], concept)[2] for d in draws])

    ocp_selectivity = {"trumpet": 3.0, "organ": 4.5}
    assert by["ocp"]["beats_random"] == sum(ocp_selectivity[c] > random_selectivity(c) for c in CLASSES)
    # files
    assert read_jsonl(tmp_path / "pruning" / "table.jsonl") == table
    with open(tmp_path / "pruning" / "table.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["strategy"] for r in rows] == ["tab", "db", "ocp", "random~tab", "random~db", "random~ocp"]
    assert float(rows[0]["selectivity"]) == pytest.approx(3.75)
    assert len(read_jsonl(tmp_path / "pruning" / "results.jsonl")) == 2 * (3 + 3 * 2)
    tab = json.loads((tmp_path / "pruning" / "trumpet" / "selection-tab.json").read_text())
    assert tab["reasons"] == {"hidden#0": "tab/soft_wpmi rank 1", "hidden#2": "tab/soft_wpmi rank 3"}
    text = format_table(table)
    assert text.splitlines()[0].split()[:3] == ["strategy", "concepts", "units"]
    assert "+3.750" in text.splitlines()[2]


def test_table_averages_seeds_before_concepts():
    rows = [
        {"strategy": "random", "concept": "a", "seed": 0, "units_pruned": 2, "dA": -1.0, "dR": 0.0},
        {"strategy": "random", "concept": "a", "seed": 1, "units_pruned": 2, "dA": -3.0, "dR": 0.0},
        {"strategy": "random", "concept": "b", "seed": 0, "units_pruned": 4, "dA": 0.0, "dR": -1.0},
    ]
    for r in rows:
        r.update(selectivity=r["dR"] - r["dA"], acc_c_before=1, acc_c_after=0, acc_rest_before=1, acc_rest_after=1)
    [row] = pruning_table(rows)
    assert row["dA"] == pytest.approx(-1.0)       # mean(-2, 0), not mean(-1, -3, 0)
    assert row["units_pruned"] == 3.0 and row["n_concepts"] == 2


def test_class_names_with_audioset_synonyms():
    from audiodissect.class_names import class_index, class_names_lookup

    names = ["Speech", "Marimba, xylophone", "Violin, fiddle", "Piano", "Electric piano", "Drum kit",
             "Bass drum", "Drum, snare", "Drum, tom"]
    assert class_index("violin", names) == 2 and class_index("Marimba", names) == 1
    assert class_index("xylophone", names) == 1 and class_index("drum kit", names) == 5
    assert class_index("Drum_Kit", names) == 5 and class_index("piano", names) == 3   # whole name, not synonym
    assert "drum" not in class_names_lookup(names)   # a synonym of two classes names neither
    with pytest.raises(AudioDissectError, match="Violin, fiddle"):
        class_index("violinn", names)


def test_heldout_labels_map_to_synonym_classes(tmp_path):
    from audiodissect.prune.evaluate import unmatched_labels

    run, _, _ = make_run(tmp_path, with_units=False)
    rows, classes, skipped = heldout_targets(run.clips(), ["Bugle, trumpet", "Pipe organ, organ", "Guitar"])
    assert rows.tolist() == [3, 4, 5, 6] and classes.tolist() == [0, 0, 1, 1] and skipped == 1
    assert unmatched_labels(run.clips(), ["Bugle, trumpet", "Pipe organ, organ"]) == ["noise"]


def test_accuracy_among_the_heldout_classes():
    from audiodissect.prune.evaluate import predictions

    logits = np.array([[5.0, 1.0, 2.0, 0.0], [9.0, 0.0, 1.0, 3.0]])   # class 0 ("music") wins overall
    np.testing.assert_array_equal(predictions(logits), [0, 0])
    np.testing.assert_array_equal(predictions(logits, np.array([1, 2, 3])), [2, 3])
    effect = pruning_effect(logits, logits, np.array([2, 3]), 2, among=np.array([1, 2, 3]))
    assert effect["acc_c_before"] == 1.0 and effect["acc_rest_before"] == 1.0
    assert pruning_effect(logits, logits, np.array([2, 3]), 2)["acc_c_before"] == 0.0


def test_empty_selection_runs_no_pass_and_is_left_out_of_the_means(tmp_path):
    run, target, probe = make_run(tmp_path)
    ctx = PruningContext(run, target, probe)
    calls = target.module.calls
    row = ctx.measure(Selection(strategy="ocp", concept="trumpet", units=[]))
    assert target.module.calls == calls
    assert (row["units_pruned"], row["dA"], row["dR"]) == (0, 0.0, 0.0)
    rows = [dict(row), dict(row, concept="organ", units_pruned=1, dA=-2.0, dR=0.0, selectivity=2.0)]
    [line] = pruning_table(rows)
    assert (line["n_concepts"], line["n_empty"], line["dA"], line["selectivity"]) == (1, 1, -2.0, 2.0)
    assert "1 (+1 empty)" in format_table([line])


def test_model_inputs_are_preprocessed_once(tmp_path):
    run, target, probe = make_run(tmp_path)
    seen = []
    inner = target.preprocess
    target.preprocess = lambda waves: seen.append(len(waves)) or inner(waves)
    ctx = PruningContext(run, target, probe, batch_size=2)
    prune_concept(ctx, "trumpet", strategies=[], units=["hidden#0"])
    prune_concept(ctx, "organ", strategies=[], units=["hidden#1"])
    assert seen == [2, 2] and target.module.calls == 6          # 3 passes of 2 batches, inputs made once
    small = HeldoutAudio(probe, [3, 4, 5, 6], sample_rate=100, max_input_bytes=0)
    small.inputs(target, np.array([0, 1]))
    small.inputs(target, np.array([0, 1]))
    assert seen == [2, 2, 2, 2]                                  # nothing kept without memory for it


def test_gain_over_size_matched_random_by_hand():
    def row(strategy, concept, selectivity, reference=None, seed=None):
        return {"strategy": strategy, "concept": concept, "seed": seed, "reference": reference, "units_pruned": 2,
                "dA": -selectivity, "dR": 0.0, "selectivity": selectivity, "acc_c_before": 1, "acc_c_after": 1,
                "acc_rest_before": 1, "acc_rest_after": 1}

    rows = [row("ocp", "a", 2.0), row("ocp", "b", -1.0),
            row("random", "a", 1.0, "ocp", 0), row("random", "a", 0.0, "ocp", 1), row("random", "b", 0.0, "ocp", 0)]
    by = {r["strategy"]: r for r in pruning_table(rows)}
    assert list(by) == ["ocp", "random~ocp"]
    assert by["ocp"]["vs_random"] == pytest.approx(0.25) and by["ocp"]["beats_random"] == 1   # (1.5 - 1) / 2
    assert by["random~ocp"]["selectivity"] == pytest.approx(0.25) and by["random~ocp"]["vs_random"] is None
