"""Rankings made and written a block at a time: the same records and the same file as one record at a time."""

import gc
import json

import numpy as np
import pytest
import torch

from audiodissect.cache import gc_paused, read_jsonl, write_jsonl
from audiodissect.identify.units import concept_records, ranking_block
from audiodissect.records import ConceptRanking, ConceptRankingBlock, ExplanationScore, ExplanationScoreBlock
from audiodissect.rundir import RunDir

AWKWARD = ["dog", 'say "hi"', "back\\slash", "café", "tab\there", "日本", "new\nline", "\u2028"]


def _block(similarity="cos", layer='blocks.0."q"\\é'):
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(7, len(AWKWARD))).round(6)
    scores[0, 1], scores[1, 2], scores[2, 0] = np.nan, np.inf, -np.inf
    scores[3, :] = 0.25  # a tie: concept order
    return ranking_block(torch.from_numpy(scores), AWKWARD, layer=layer, method="tab", similarity=similarity, top=4)


def test_block_records_equal_records_made_one_by_one():
    block = _block()
    made = [ConceptRanking(unit=f"{block.layer}#{u}", layer=block.layer, index=u, method="tab", similarity="cos",
                           concepts=[AWKWARD[i] for i in block.order[u]], scores=block.scores[u].tolist())
            for u in range(len(block))]
    assert block.records() == made
    assert block.records()[3].concepts == AWKWARD[:4]  # tied scores keep the concepts' order
    assert concept_records(torch.from_numpy(np.eye(3)), ["a", "b", "c"], layer="L", method="db", similarity=None,
                           top=2)[2].concepts == ["c", "a"]


def test_block_lines_are_the_json_writer_lines_byte_for_byte(tmp_path):
    for block in (_block(), _block(similarity=None, layer="plain")):
        write_jsonl(tmp_path / "one_by_one.jsonl", (r.to_json() for r in block.records()))
        expected = (tmp_path / "one_by_one.jsonl").read_text(encoding="utf-8")
        assert "".join(line + "\n" for line in block.json_lines()) == expected
        assert [json.loads(line) for line in block.json_lines()] == read_jsonl(tmp_path / "one_by_one.jsonl")


def test_run_writes_blocks_as_identify_records(tmp_path):
    run = RunDir(tmp_path / "run")
    blocks = [_block(), _block(similarity="wpmi")]
    run.write_blocks("identify", blocks)
    assert run.read_units("identify") == [r for b in blocks for r in b.records()]
    assert isinstance(blocks[0], ConceptRankingBlock)


def test_gc_paused_restores_the_collector_state():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller's own pause is left as it was
    finally:
        gc.enable()


def test_gc_paused_leaves_no_young_collection_of_what_it_made():
    gc.collect()
    with gc_paused():
        made = [{"a": [i]} for i in range(50_000)]
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(made[0]) in oldest and id(made[-1]["a"]) in oldest  # not left young, to be walked
    assert made[-1]["a"] == [49_999]


def test_gc_paused_keeps_a_process_s_own_frozen_objects_frozen():
    gc.collect()
    sentinel = [object()]  # tracked by the collector
    gc.freeze()
    try:
        with gc_paused():
            made = [{"a": [i]} for i in range(1_000)]
        # still in the permanent generation, which gc.get_objects() does not list (the frozen count is not
        # compared: frozen objects that another thread frees meanwhile lower it)
        assert not any(o is sentinel for o in gc.get_objects()) and len(made) == 1_000
    finally:
        gc.unfreeze()
    assert any(o is sentinel for o in gc.get_objects())  # listed again once unfrozen


def test_records_read_like_their_json():
    data = {"unit": "L#2", "layer": "L", "index": 2, "method": "tab", "similarity": None, "concepts": ["a"],
            "scores": [0.5], "extra": "a key of the JSON", "note": 3}
    record = ConceptRanking.from_json(data)
    assert record["concepts"] == ["a"] and record["similarity"] is None and record.get("similarity", 1) is None
    assert record["extra"] == "a key of the JSON" and record.get("note") == 3 and record.get("absent", 7) == 7
    assert "note" in record and "absent" not in record and dict(record) == data
    with pytest.raises(KeyError):
        record["absent"]


def test_a_record_without_a_required_field_or_of_a_newer_format_is_refused():
    from audiodissect.errors import AudioDissectError
    from audiodissect.records import UnitName

    with pytest.raises(AudioDissectError, match="lacks concepts, scores"):
        ConceptRanking.from_json({"unit": "L#0", "layer": "L", "index": 0, "method": "tab", "similarity": None})
    with pytest.raises(AudioDissectError, match="lacks name, status"):
        UnitName.from_json({"unit": "L#0", "layer": "L", "index": 0, "similarity": "cos"})
    with pytest.raises(AudioDissectError, match="reads up to format 1"):
        ConceptRanking.from_json({"format": 2})
    assert UnitName.from_json({"unit": "L#0", "layer": "L", "index": 0, "similarity": "cos", "name": None,
                               "status": "unexplained"}).method is None  # fields with defaults may be absent


def test_lazy_records_are_made_once_on_first_use_and_read_like_the_list():
    import pickle

    from audiodissect.records import LazyRecords

    blocks = [_block(), _block(similarity="wpmi")]
    made = []
    records = LazyRecords(lambda: made.append(1) or [r for b in blocks for r in b.records()], length=14)
    assert len(records) == 14 and made == [] and "not made yet" in repr(records)
    expected = [r for b in blocks for r in b.records()]
    assert records[7] == expected[7] and records[-2:] == expected[-2:] and made == [1]
    assert list(records) == expected and records == expected and made == [1]  # made once
    assert records == LazyRecords.of_blocks(blocks) and records != expected[:3]
    assert pickle.loads(pickle.dumps(records)) == expected and type(pickle.loads(pickle.dumps(records))) is list
    assert len(LazyRecords.of_blocks(blocks)) == 14


# -- score blocks ---------------------------------------------------------------------------------------------

def _score_block(layer='enc."x"\\é%s%%', predictor="description"):
    explanations = [{"unit": f"{layer}#{u}", "layer": layer, "index": np.int64(u), "explanation": kind, "text": text}
                    for u, (kind, text) in enumerate(zip(["summary", "tab/cos", "icl", "open_concepts"] * 2, AWKWARD))]
    rng = np.random.default_rng(4)
    values = rng.uniform(-1, 1, size=(8, len(explanations))).round(6).tolist()
    values[0][1], values[3][2], values[7][0] = None, None, -0.0
    values[1][4] = 1e-07  # written as repr writes it
    names = ["spearman", "pearson", "spearman_low", "spearman_high", "detection_auprc", "detection_bacc",
             "detection_auprc_hard", "detection_bacc_hard"]
    return ExplanationScoreBlock(layer=layer, predictor=predictor, n_clips=40, explanations=explanations,
                                 measures=dict(zip(names, values)))


def _made_one_by_one(block):
    return [ExplanationScore(unit=e["unit"], layer=block.layer, index=int(e["index"]), explanation=e["explanation"],
                             text=e["text"], predictor=block.predictor, n_clips=block.n_clips,
                             **{name: values[j] for name, values in block.measures.items()})
            for j, e in enumerate(block.explanations)]


def test_score_block_records_and_lines_equal_records_made_and_written_one_by_one(tmp_path):
    block = _score_block()
    made = _made_one_by_one(block)
    assert block.records() == made and type(block.records()[0].index) is int
    write_jsonl(tmp_path / "one_by_one.jsonl", (r.to_json() for r in made))
    assert "".join(line + "\n" for line in block.json_lines()) == (tmp_path / "one_by_one.jsonl").read_text("utf-8")
    run = RunDir(tmp_path / "run")
    run.write_blocks("score", [block, _score_block(layer="plain", predictor="audio_text")])
    assert run.read_units("score") == made + _made_one_by_one(_score_block(layer="plain", predictor="audio_text"))


def test_score_block_fields_are_the_records_fields():
    block = _score_block()
    made = _made_one_by_one(block)
    for name in ExplanationScore.field_names():
        assert block.field(name) == [r[name] for r in made], name
    assert block.field("not_a_field") == [None] * len(block)


def test_score_blocks_summarise_as_their_records():
    from audiodissect.scoring import summarize_score_blocks, summarize_scores

    blocks = [_score_block(), _score_block(layer="other"), _score_block(predictor="audio_text")]
    assert summarize_score_blocks(blocks) == summarize_scores([r for b in blocks for r in b.records()])


@pytest.mark.parametrize("values", [["a", 'q"', "é\n", "a"], [0.5, None, -0.0, 1e-07, 2.0], [0.5, float("nan"), None],
                                    [float("inf"), -1.5], [3, 0, -2], [True, None], [np.int64(3), np.float64(0.5)],
                                    [None, None], ["x", 1, None]])
def test_json_columns_are_the_writer_s_values(values):
    from audiodissect.cache import json_line
    from audiodissect.records import _json_column

    assert _json_column(values) == [json_line(v) for v in values]
