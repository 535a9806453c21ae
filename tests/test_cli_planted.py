"""`audiodissect evaluate planted` end to end, on a tiny random Hugging Face AST over a tiny soundbank."""

import csv
import json

import numpy as np
import pytest

from audiodissect.cli import main
from audiodissect.evidence.acoustic import load_vocabulary
from audiodissect.planted.summaries import names_concept

TINY = ["--probe-option", "clips_per_label=3", "--probe-option", "labels=trumpet,organ,piano", "--probe-option",
        "duration=1.0"]


@pytest.fixture
def tiny_ast(tmp_path):
    import torch
    import transformers

    config = transformers.ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                    max_length=64, num_mel_bins=32, num_labels=3,
                                    id2label={0: "trumpet", 1: "organ", 2: "piano"},
                                    label2id={"trumpet": 0, "organ": 1, "piano": 2})
    torch.manual_seed(0)
    transformers.ASTForAudioClassification(config).save_pretrained(tmp_path / "ast")
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(tmp_path / "ast")
    return tmp_path / "ast"


def test_evaluate_planted_identifies_and_summarises_the_planted_units(tmp_path, monkeypatch, capsys, tiny_ast):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "planted"
    code = main(["evaluate", "planted", "--model", f"hf:{tiny_ast}", *TINY, "--similarities", "cos", "wpmi",
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    table = list(csv.DictReader((out / "planted" / "table.csv").open()))
    assert [(r["method"], r["similarity"]) for r in table] == [("tab", "cos"), ("tab", "wpmi"), ("db", "cos"),
                                                                ("db", "wpmi")]
    assert all(r["units"] == "8" for r in table)  # 3 class copies + 5 acoustic detectors
    planted = [json.loads(line) for line in (out / "units" / "planted.jsonl").open()]
    assert {r["truth"] for r in planted} == {"trumpet", "organ", "piano", "low-pitched", "high-pitched", "noisy",
                                             "bright", "dull"}
    # the summaries of the same units, calibrated by both rules, checked for each unit's concept
    assert "contrastive summaries by extractive-v3: does the text say the unit's concept?" in printed
    rows = list(csv.DictReader((out / "planted" / "summaries.csv").open()))
    assert [r["kind"] for r in rows] == ["summary", "calibrated_sentence", "calibrated_content"]
    summaries = [json.loads(line) for line in (out / "planted" / "summary_texts.jsonl").open()]
    assert len(summaries) == 8 and all(s["summary"] for s in summaries)
    vocabulary = load_vocabulary()
    for row in rows:
        said = [names_concept(s[row["kind"]], s["truth"], vocabulary) for s in summaries]
        assert float(row["all"]) == round(100 * float(np.mean(said)), 1)
    code = main(["evaluate", "planted", "--model", f"hf:{tiny_ast}", *TINY, "--similarities", "cos",
                 "--summaries", "none", "--out", str(tmp_path / "no_summaries")])
    assert code == 0 and not (tmp_path / "no_summaries" / "planted" / "summaries.csv").exists()


def test_a_wrong_llm_spec_fails_before_anything_is_recorded(tmp_path, monkeypatch, capsys, tiny_ast):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "planted"
    code = main(["evaluate", "planted", "--model", f"hf:{tiny_ast}", *TINY, "--llm", "nosuch", "--out", str(out)])
    assert code != 0 and "unknown LLM 'nosuch'" in capsys.readouterr().err
    assert not (out / "planted" / "table.csv").exists() and not (out / "activations").exists()
