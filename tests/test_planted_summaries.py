"""Planted units' summaries: does each text (S_high, calibrated by either rule) say the known concept?"""

import numpy as np
import pytest

from audiodissect.cache import read_jsonl
from audiodissect.evidence.acoustic import load_vocabulary
from audiodissect.summarize.extractive import ExtractiveLLM
from audiodissect.planted.summaries import (KINDS, format_summary_table, names_concept, planted_summaries,
                                            summary_recall, write_planted_summaries)
from audiodissect.rundir import RunDir

VOCABULARY = load_vocabulary()
LOW_PIANO = "Sounds of piano. A loud, low-pitched, dull, tonal, sustained sound with steady onsets."
HIGH_PIANO = "Sounds of piano. A loud, mid-pitched, warm, tonal, sustained sound with steady onsets."
TRUMPET = "Sounds of trumpet and brass instrument. A loud, high-pitched, bright, tonal, sustained sound."


class SameVector:
    """Every sentence is one vector, so the sentence rule deletes every S_high sentence that S_low matches."""

    name = "same-vector"

    def encode(self, texts):
        return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)


@pytest.mark.parametrize("text, concept, said", [
    ("These clips sound low-pitched and dull.", "low-pitched", True),
    ("Deep and dull.", "low-pitched", True),                    # an alias
    ("Not high-pitched at all.", "high-pitched", False),        # negated
    ("Most of these feature bass guitar and synthesizer.", "bass guitar", True),
    ("Most of these feature bass and synthesizer.", "bass guitar", False),  # whole words only
    ("Acoustic and dull guitar.", "acoustic guitar", False),
    ("Most of these feature Drum-Kit.", "drum kit", True),
])
def test_names_concept(text, concept, said):
    assert names_concept(text, concept, VOCABULARY) is said


def test_content_calibration_keeps_the_decisive_word_the_sentence_rule_deletes(tmp_path):
    # unit 0 follows the low piano clips, unit 1 the trumpet clips; rows: 3 low pianos, 3 high pianos, 3 trumpets
    descriptions = [LOW_PIANO] * 3 + [HIGH_PIANO] * 3 + [TRUMPET] * 3
    acts = np.zeros((9, 2), dtype=np.float32)
    acts[:3, 0] = [3, 2, 1]
    acts[3:6, 0] = [-1, -2, -3]
    acts[6:, 1] = [3, 2, 1]
    acts[:6, 1] = -np.arange(1, 7)
    records = planted_summaries(acts, descriptions, llm=ExtractiveLLM(), embedder=SameVector(), contrastive=False,
                                k=3)
    assert [r["index"] for r in records] == [0, 1]
    low = records[0]
    assert "low-pitched" in low["summary"] and "piano" in low["summary"]
    assert low["calibrated_sentence"] == ""           # every S_high sentence matched an S_low one
    assert low["calibrated_content"] == "Low-pitched and dull."  # what S_low (the high pianos) lacks
    rows = summary_recall(records, ["low-pitched", "trumpet"], n_classes=1)
    by_kind = {r["kind"]: r for r in rows}
    assert [r["kind"] for r in rows] == list(KINDS)
    assert by_kind["summary"]["acoustic"] == 100.0 and by_kind["calibrated_content"]["acoustic"] == 100.0
    assert by_kind["calibrated_sentence"]["acoustic"] == 0.0
    # unit 1 is a class copy ("trumpet"); unit 0 is not a class copy, so classes hold unit 1 only
    assert by_kind["summary"]["classes"] == 100.0 and by_kind["summary"]["units"] == 2
    assert "calibrated_sentence" in format_summary_table(rows)

    run = RunDir(tmp_path / "run")
    write_planted_summaries(run, records, ["low-pitched", "trumpet"], rows)
    saved = read_jsonl(run.path / "planted" / "summary_texts.jsonl")
    assert saved[0]["unit"] == "planted#0" and saved[0]["truth"] == "low-pitched"
    assert (run.planted_dir / "summaries.csv").read_text().splitlines()[0] == "kind,units,all,classes,acoustic"


def test_a_group_without_units_has_no_share():
    records = [{"index": 0, "summary": "Trumpet.", "calibrated_sentence": "", "calibrated_content": "Trumpet."}]
    rows = summary_recall(records, ["trumpet"], n_classes=1)
    assert rows[0]["acoustic"] is None and rows[0]["classes"] == 100.0 and rows[1]["classes"] == 0.0
    assert format_summary_table(rows).splitlines()[2].split()[-1] == "-"
