"""Analyses: adjective counts, the depth trend, sentence clusters and uninterpretable units."""

import csv
import json

import numpy as np
import pytest
from scipy.stats import linregress

from audiodissect.analyses import (adjective_counts, adjectives_per_layer, clip_clusters, cluster_sentences,
                                   depth_trend, description_sentences, largest_shared_group, top_rows,
                                   uninterpretable)
from audiodissect.analyses.interpretability import (DEFAULT_RULE, RULES, clip_cluster_sets, clip_memberships,
                                                    layer_columns, layer_interpretability, layer_row, unit_rows)
from audiodissect import Dissection
from audiodissect.errors import AudioDissectError
from audiodissect.probes.base import ClipInfo
from audiodissect.progress import silent
from audiodissect.rundir import RunDir


def rec(layer, index, adjectives):
    return {"unit": f"{layer}#{index}", "layer": layer, "index": index, "acoustic_adjectives": adjectives}


def test_adjective_counts_are_exact_and_count_each_unit_once():
    records = [rec("a", 0, ["loud", "high-pitched", "Loud"]), rec("a", 1, ["loud"]),
               rec("b", 0, ["repetitive", "high-pitched"]), rec("b", 1, []), {"unit": "b#2", "layer": "b"}]
    assert adjective_counts(records) == [("high-pitched", 2), ("loud", 2), ("repetitive", 1)]
    assert adjective_counts(records, top=1) == [("high-pitched", 2)]


def test_adjectives_per_layer_uses_layer_order_and_distinct_words():
    records = [rec("b", 0, ["x", "y", "y"]), rec("a", 0, ["x", "y", "z"]), rec("a", 1, ["x"]), rec("b", 1, [])]
    rows = adjectives_per_layer(records, layers=["a", "gap", "b"])
    assert [(r["layer"], r["depth"], r["units"]) for r in rows] == [("a", 0, 2), ("b", 2, 2)]
    assert rows[0]["mean"] == pytest.approx(2.0) and rows[1]["mean"] == pytest.approx(1.0)
    assert rows[0]["std"] == pytest.approx(1.0)


def test_depth_trend_matches_hand_fit_and_scipy():
    x, y = [0, 1, 2, 3], [4.0, 3.0, 2.5, 1.0]
    trend = depth_trend(x, y)
    assert trend["slope"] == pytest.approx(-0.95)  # sum dx*dy = -4.75, sum dx^2 = 5
    assert trend["intercept"] == pytest.approx(2.625 + 0.95 * 1.5)
    ref = linregress(x, y)
    assert trend["p_value"] == pytest.approx(ref.pvalue) and trend["p_value"] < 0.05
    with pytest.raises(AudioDissectError, match="at least 3"):
        depth_trend([0, 1], [1.0, 2.0])


def test_clip_clusters_take_the_majority_and_break_ties_by_earliest_sentence():
    labels = np.array([0, 1, 1, 2, 2, 0, 3, 1])
    owners = np.array([0, 0, 0, 1, 1, 3, 4, 4])
    assert clip_clusters(labels, owners, 6).tolist() == [1, 2, -1, 0, 3, -1]


def test_unit_with_top_clips_in_one_cluster_is_interpretable_and_spread_is_not():
    top = np.array([[0, 0, 0, 0, 0], [0, 1, 2, 3, 4], [1, 1, 1, 2, 2], [-1, -1, -1, 0, 0]])
    assert largest_shared_group(top).tolist() == [5, 1, 3, 2]
    flags = uninterpretable(top, (3, 4, 5))
    assert flags.tolist() == [[False, False, False], [True, True, True], [False, True, True], [True, True, True]]


def _disagreeing_clusters():
    """6 clips in 3 clusters; clip 5 has no description.

    clip 0: sentences in 0, 0, 1 (majority 0, any {0, 1}); clip 1: 1, 1, 0 (1, {0, 1});
    clip 2: 1 (1, {1}); clip 3: 2, 0 (tie, earliest: 2; {0, 2}); clip 4: 0 (0, {0}).
    """
    labels = np.array([0, 0, 1, 1, 1, 0, 1, 2, 0, 0])
    owners = np.array([0, 0, 0, 1, 1, 1, 2, 3, 3, 4])
    return labels, owners


def test_clip_memberships_under_both_rules():
    labels, owners = _disagreeing_clusters()
    m = clip_memberships(labels, owners, 6)
    assert set(m) == set(RULES) and RULES[0] == DEFAULT_RULE == "any"
    assert m["any"].astype(int).tolist() == [[1, 1, 0], [1, 1, 0], [0, 1, 0], [1, 0, 1], [1, 0, 0], [0, 0, 0]]
    assert m["majority"].astype(int).tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0],
                                                  [0, 0, 0]]
    assert clip_cluster_sets(labels, owners, 6, n_clusters=5).shape == (6, 5)


def test_paper_rule_counts_a_clip_in_every_cluster_of_its_sentences():
    labels, owners = _disagreeing_clusters()
    m = clip_memberships(labels, owners, 6)
    top = np.array([[0, 1, 3], [0, 4, 2], [2, 5, 4], [1, 2, 0]])  # each unit's top-3 clips
    # majority: u0 clusters 0,1,2 -> 1; u1 0,0,1 -> 2; u2 1,-,0 -> 1; u3 1,1,0 -> 2
    # any: u0 cluster 0 holds clips 0,1,3 -> 3; u1 -> 2; u2 -> 1; u3 cluster 1 holds 1,2,0 -> 3
    result = layer_interpretability(m, top, kprimes=(2, 3))
    assert result["largest"]["majority"].tolist() == [1, 2, 1, 2]
    assert result["largest"]["any"].tolist() == [3, 2, 1, 3]
    assert result["shares"] == {"any": {2: 0.25, 3: 0.5}, "majority": {2: 0.5, 3: 1.0}}
    assert result["flags"]["any"].tolist() == [[False, False], [False, True], [True, True], [False, False]]
    row = layer_row(result, layer="L", depth=4)
    assert row == {"layer": "L", "depth": 4, "units": 4, "rule": "any", "share_k2": 0.25, "share_k3": 0.5,
                   "share_k2_any": 0.25, "share_k3_any": 0.5, "share_k2_majority": 0.5, "share_k3_majority": 1.0}
    assert list(row) == layer_columns((2, 3))
    major = layer_interpretability(m, top, kprimes=(2, 3), rule="majority")
    assert layer_row(major, layer="L", depth=4)["share_k2"] == 0.5
    rows = unit_rows(result, m, top, layer="L", unit_ids=[f"L#{u}" for u in range(4)])
    assert rows[0] == {"unit": "L#0", "layer": "L", "index": 0, "rule": "any", "largest_group": 3,
                       "largest_group_any": 3, "largest_group_majority": 1, "top_clusters": [0, 1, 2],
                       "top_cluster_sets": [[0, 1], [0, 1], [0, 2]]}
    assert rows[2]["top_clusters"] == [1, -1, 0] and rows[2]["top_cluster_sets"] == [[1], [], [0]]
    with pytest.raises(AudioDissectError, match="rule"):
        layer_interpretability(m, top, rule="mode")


def test_paper_rule_never_finds_more_uninterpretable_units():
    rng = np.random.default_rng(0)
    owners = np.sort(rng.integers(0, 40, size=120))
    labels = rng.integers(0, 11, size=120)
    m = clip_memberships(labels, owners, 40, n_clusters=11)
    top = np.argsort(rng.random((40, 300)), axis=0)[:5].T  # 300 units, 5 distinct clips each
    result = layer_interpretability(m, top)
    assert np.all(result["largest"]["any"] >= result["largest"]["majority"])
    assert np.all(result["flags"]["any"] <= result["flags"]["majority"])
    assert np.array_equal(result["largest"]["majority"], largest_shared_group(clip_clusters(labels, owners, 40)[top]))


def test_top_rows_are_best_first():
    acts = np.array([[0.1, 5.0], [0.9, 1.0], [0.5, 3.0], [0.7, 4.0]], dtype=np.float32)
    assert top_rows(acts, 3).tolist() == [[1, 3, 2], [0, 3, 2]]
    assert top_rows(acts, 9).tolist() == [[1, 3, 2, 0], [0, 3, 2, 1]]


def test_description_sentences_keep_clip_positions():
    sentences, owners = description_sentences({"b": "A dog barks. It is loud.", "a": "Rain.", "z": "ignored"},
                                              ["a", "b", "c"])
    assert sentences == ["Rain.", "A dog barks.", "It is loud."]
    assert owners.tolist() == [0, 1, 1]
    chatty = {"a": "Sure, here is a description. A dog barks.", "b": "Based on the audio, rain falls."}
    assert description_sentences(chatty, ["a", "b"])[0] == ["A dog barks."]
    assert len(description_sentences(chatty, ["a", "b"], drop_boilerplate=False)[0]) == 3


class TopicEmbedder:
    """Test embedder: 'dog' sentences near e0, 'rain' sentences near e1 (tiny deterministic offsets)."""

    name = "topic-test"

    def encode(self, texts):
        out = []
        for t in texts:
            base = np.array([1.0, 0.0, 0.0]) if "dog" in t.lower() else np.array([0.0, 1.0, 0.0])
            base[2] = (sum(map(ord, t)) % 7) * 0.01
            out.append(base / np.linalg.norm(base))
        return np.array(out, dtype=np.float32)


def test_cluster_sentences_separates_topics():
    sentences = ["A dog barks.", "The dog growls.", "Rain falls.", "Heavy rain."]
    labels = cluster_sentences(TopicEmbedder().encode(sentences), k=2, seed=0)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]


def analyze(run, *, embedder=None, **settings):
    """The analyze stage of `run` with `settings` (the ``analyze`` section) and a test sentence embedder."""
    from backends import text_embedder

    identify = {"text_embedder": text_embedder("topic", embedder)} if embedder is not None else {}
    d = Dissection.open(run.path, settings={"analyze": settings, "identify": identify}, hook=silent)
    return d.analyze().summary


def make_analysis_run(tmp_path):
    """10 probe clips (c0-c4 dogs, c5-c9 rain) and 2 held-out clips; 3 layers with hand-set activations."""
    run = RunDir(tmp_path / "run")
    clips = [ClipInfo(id=f"c{i}", label="dog" if i < 5 else "rain") for i in range(10)]
    clips += [ClipInfo(id=f"h{i}", label="dog", split="heldout") for i in range(2)]
    (run.path / "clips.jsonl").write_text("".join(json.dumps(c.to_record()) + "\n" for c in clips))
    n = len(clips)
    l1 = np.zeros((n, 2), np.float32)
    l1[:5, 0] = [9, 8, 7, 6, 5]                 # unit 0: the five dog clips
    l1[[0, 1, 5, 6, 7], 1] = [9, 8, 7, 6, 5]    # unit 1: 2 dogs + 3 rain
    l1[10:, 1] = 100                            # held-out clips must never count
    l2 = np.zeros((n, 1), np.float32)
    l2[[0, 5, 1, 6, 2], 0] = [5, 4, 3, 2, 1]     # 3 dogs + 2 rain
    l3 = np.zeros((n, 1), np.float32)
    l3[5:10, 0] = [5, 4, 3, 2, 1]                # all rain
    for name, a in [("L1", l1), ("L2", l2), ("L3", l3)]:
        run.save_activations(name, a)
    run.finish_stage("record", "k0", {"layers": {"L1": 2, "L2": 1, "L3": 1}, "n_clips": n, "model": "m", "pool": "mean",
                                      "probe": {"name": "none"}, "sample_rate": 8000, "class_names": None})
    desc = {f"c{i}": "A dog barks loudly. The dog is near." for i in range(5)}
    desc.update({f"c{i}": "Rain falls on a roof." for i in range(5, 10)})
    desc.update({"h0": "A dog barks.", "h1": "A dog barks."})
    (run.path / "descriptions.json").write_text(json.dumps(desc))
    run.write_units("summarize", [rec("L1", 0, ["loud", "sharp", "harsh"]), rec("L1", 1, ["loud"]),
                                  rec("L2", 0, ["soft"]), rec("L3", 0, [])])
    return run


def test_run_analyses_writes_known_shares_counts_and_plots(tmp_path):
    run = make_analysis_run(tmp_path)
    summary = analyze(run, k=2, embedder=TopicEmbedder())
    out = run.path / "analysis"
    with open(out / "uninterpretable.csv") as f:
        rows = list(csv.DictReader(f))
    shares = {r["layer"]: (float(r["share_k3"]), float(r["share_k4"]), float(r["share_k5"])) for r in rows}
    assert shares == {"L1": (0.0, 0.5, 0.5), "L2": (0.0, 1.0, 1.0), "L3": (0.0, 0.0, 0.0)}
    units = {json.loads(line)["unit"]: json.loads(line) for line in (out / "uninterpretable_units.jsonl").open()}
    assert units["L1#0"]["largest_group"] == 5 and units["L1#1"]["largest_group"] == 3
    assert summary["adjectives"]["top"][0] == ["loud", 2]
    means = [r["mean"] for r in summary["adjectives"]["by_layer"]]
    assert means == [2.0, 1.0, 0.0]
    assert summary["adjectives"]["trend"]["slope"] == pytest.approx(-1.0)
    assert "last_layer" in summary["skipped"]
    for png in ["adjective_counts.png", "adjectives_by_layer.png", "uninterpretable.png"]:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # unchanged inputs: cached; a changed setting recomputes
    (out / "uninterpretable.png").unlink()
    analyze(run, k=2, embedder=TopicEmbedder())
    assert not (out / "uninterpretable.png").exists()
    analyze(run, k=2, kprimes=[2, 5], embedder=TopicEmbedder())
    assert (out / "uninterpretable.png").exists()


def test_run_analyses_skips_what_is_missing(tmp_path):
    run = make_analysis_run(tmp_path)
    (run.path / "descriptions.json").unlink()
    run.units_path("summarize").unlink()
    summary = analyze(run)
    assert set(summary["skipped"]) == {"adjectives", "uninterpretable", "last_layer"}
    assert "describe" in summary["skipped"]["uninterpretable"]


def test_bad_kprime_is_an_error(tmp_path):
    with pytest.raises(AudioDissectError, match="K'"):
        analyze(make_analysis_run(tmp_path), kprimes=[6])


def test_cluster_count_is_capped_by_distinct_sentences():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = cluster_sentences(x, k=11)
    assert labels.tolist() in ([0, 0, 1], [1, 1, 0])


def test_analyze_command_prints_results_and_skips(tmp_path, capsys):
    import argparse

    from audiodissect.cli import analyze

    run = make_analysis_run(tmp_path)
    (run.path / "descriptions.json").unlink()
    parser = argparse.ArgumentParser()
    analyze.register(parser.add_subparsers())
    args = parser.parse_args(["analyze", "--run", str(run.path), "--kprime", "3", "5"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "most frequent: loud (2)" in out and "slope -1 per layer" in out
    assert "skipped uninterpretable:" in out and str(run.path / "analysis") in out
