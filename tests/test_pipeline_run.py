"""`Dissection.run` end to end on the tiny run (seeded wave model, three-label soundbank): stages, timings, pruning.

The model is passed to the API as it is: nothing is monkeypatched.
"""

from types import SimpleNamespace

import pytest
from markupsafe import escape

import audiodissect.prune.runner as prune_runner
from audiodissect import Dissection
from audiodissect.errors import AudioDissectError
from audiodissect.config import RunConfig, from_dict, load_config, to_dict
from audiodissect.progress import silent
from audiodissect.prune.importance import PROPERTIES as IMPORTANCE_PROPERTIES
from audiodissect.config import PruneConfig
from audiodissect.prune.runner import resolve_concepts, sample_evenly
from stage_fixtures import PROBE_OPTIONS, make_target, tiny_probe, write_descriptions


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    descriptions = tmp_path / "descriptions.json"
    write_descriptions(descriptions, tiny_probe())
    config = RunConfig(out=str(tmp_path / "run"))
    config.probe.options = dict(PROBE_OPTIONS)
    config.record.layers = ["conv", "classifier"]
    config.describe.captioner = f"file:{descriptions}"
    config.identify.methods = ["db"]
    config.identify.similarities = ["cos3"]
    config.prune.strategies = ["db", "ocp", "random"]
    config.prune.skip_unexplained = False  # 14 probe clips name few units of a random model significantly
    config.stages = ["record", "describe", "identify", "summarize", "prune", "class-drop", "last-layer"]
    return config


def run_pipeline(config, *, echo):
    d = Dissection(make_target(), config=config, hook=silent, echo=echo)
    d.run()
    return d.run_dir


def test_run_pipeline_prunes_and_times_every_stage(config, monkeypatch):
    lines = []
    run = run_pipeline(config, echo=lines.append)
    stages = run.manifest()["stages"]
    assert list(stages) == ["record", "describe", "identify", "summarize", "prune", "class-drop", "last-layer"]
    for name, section in stages.items():
        assert section["seconds"] >= 0, name
        assert len(section["key"]) == 16, name
    table = {row["strategy"]: row for row in stages["prune"]["table"]}
    assert {"db", "ocp"} <= set(table)
    assert any(name.startswith("random") for name in table)  # random draws sized like another strategy
    assert all(row["n_concepts"] >= 1 for row in table.values())
    assert stages["prune"]["concepts"] == ["organ", "speech", "trumpet"]  # sample:3 of three classes: all
    assert (run.path / "pruning" / "table.csv").exists()
    assert any(line.startswith("[prune] done in") for line in lines)
    assert any(line.startswith("strategy") for line in lines)
    # the evaluations are stages: in the manifest with keys, their tables printed
    assert stages["class-drop"]["summary"] and (run.path / "pruning" / "class_drop.json").exists()
    assert [r["method"] for r in stages["last-layer"]["rows"]] == ["db", "icl"]
    assert any(line.startswith("method  similarity") for line in lines)

    # a second run recomputes nothing: same keys, same sections, no pruning pass
    def no_pruning(*args, **kwargs):
        raise AssertionError("pruning evaluated again")

    monkeypatch.setattr(prune_runner, "evaluate_pruning", no_pruning)
    again = []
    run_pipeline(config, echo=again.append)
    after = run.manifest()["stages"]
    for name in ("record", "describe", "identify", "summarize", "class-drop", "last-layer"):
        assert after[name] == stages[name], name
    assert after["prune"] == stages["prune"]  # its time too: the stage did not run again
    assert any(line.startswith("[last-layer] unchanged") for line in again)
    assert any(line.startswith("method  similarity") for line in again)  # a reused stage still shows its table
    first_llm = [line for line in lines if line.startswith("LLM ")]
    assert first_llm == [f"LLM extractive: {stages['summarize']['llm_calls']} calls, 0 cache hits"]
    assert stages["summarize"]["llm_calls"] > 0
    assert [line for line in again if line.startswith("LLM ")] == [
        "LLM extractive: 0 calls, 0 cache hits (summaries of the last run reused)"]


def test_sample_evenly_spreads_over_the_classes():
    names = ["organ", "speech", "trumpet", "violin"]
    assert sample_evenly(names, "sample:2") == ["organ", "violin"]
    assert sample_evenly(names, "sample:3") == ["organ", "trumpet", "violin"]
    assert sample_evenly(names, "sample:9") == names
    assert sample_evenly(names, "sample:1") == ["organ"]
    for bad in ("sample:", "sample:0", "sample:two"):
        with pytest.raises(AudioDissectError, match="bad pruning concepts"):
            sample_evenly(names, bad)


def test_resolve_concepts_samples_the_held_out_labels_of_synonym_named_classes():
    """YAMNet-style class names: "violin" held-out clips name class "Violin, fiddle"; sampling uses the labels."""
    ctx = SimpleNamespace(class_names=["Music", "Piano", "Violin, fiddle", "Marimba, xylophone"],
                          concepts_with_clips=lambda: ["piano", "violin", "marimba"])
    assert resolve_concepts(ctx, ["sample:2"]) == ["piano", "marimba"]
    assert resolve_concepts(ctx, ["all"]) == ["piano", "violin", "marimba"]
    assert resolve_concepts(ctx, ["Violin"]) == ["Violin"]
    with pytest.raises(AudioDissectError, match="unknown class 'cello'"):
        resolve_concepts(ctx, ["cello"])


def test_prune_settings_round_trip_through_config_files(tmp_path):
    config = RunConfig()
    assert isinstance(config.prune, PruneConfig)
    assert config.prune.seeds == 1 and "importance" not in config.stages  # the run leaves the curves out
    assert config.prune.concepts == ["sample:3"] and PruneConfig() == config.prune  # one default per setting
    config.prune.concepts = ["trumpet"]
    again = from_dict(RunConfig, to_dict(config))
    assert isinstance(again.prune, PruneConfig) and again.prune.concepts == ["trumpet"]
    path = tmp_path / "run.toml"
    path.write_text('[prune]\nconcepts = ["organ"]\nstrategies = ["random"]\nrandom_count = 2\n')
    loaded = load_config(path)
    assert loaded.prune.concepts == ["organ"] and loaded.prune.random_count == 2
    assert loaded.prune.seeds == 1 and loaded.prune.top == 3  # unset: the defaults


def test_report_shows_what_the_summarize_stage_wrote(config):
    """The unit pages read the summarize records' own fields (calibrated sentences, length, ICL)."""
    config.stages = ["record", "describe", "identify", "summarize", "report"]
    run = run_pipeline(config, echo=lambda line: None)
    records = run.read_units("summarize")
    # the feature-importance rankings read list fields of these records by name
    assert all(set(IMPORTANCE_PROPERTIES) <= set(r) for r in records)
    summaries = [r for r in records if r["kept_sentences"]]
    assert summaries
    pages = {p.name: p.read_text() for p in (run.path / "report" / "units").glob("*.html")}
    shown = 0
    for r in summaries:
        page = next((text for name, text in pages.items() if f"{r['layer']}_{r['index']}-" in name), None)
        if page is None:  # the report details a few units per layer
            continue
        shown += 1
        for sentence in r["kept_sentences"]:
            assert f"<li>{escape(sentence)}</li>" in page
        assert f"summary length: {r['summary_length']} words" in page
        assert f"answer: {r['icl_status']}" in page
    assert shown > 0


def test_every_file_of_a_full_run_is_named_in_rundir(config):
    """Every stage of the one ordered list runs, and the run directory holds no file rundir.py does not name."""
    from audiodissect.config import STAGES
    from audiodissect.rundir import schema_entry

    config.stages = list(STAGES)
    config.prune.importance_fractions = [0.5]
    config.prune.importance_seeds = 1
    run = run_pipeline(config, echo=lambda line: None)
    assert list(run.manifest()["stages"]) == list(STAGES)  # each stage in the manifest, in the list's order
    assert run.unnamed_files() == []
    planted = run.path / "evidence" / "stray.npy.tmp"
    planted.write_bytes(b"x")
    assert run.unnamed_files() == ["evidence/stray.npy.tmp"] and schema_entry("evidence/tab.npy") is not None
