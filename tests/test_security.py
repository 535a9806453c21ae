"""A run directory is untrusted input: crafted run directories, as a shared or downloaded run would hold them.

Each test writes the hostile file a run from someone else could contain and
checks that nothing it names is imported or called, nothing outside the run
is deleted or written, and no request reaches a server it names (a real
HTTP server on 127.0.0.1 counts them), unless the user says so in the call
(an explicit setting, ``--trust-run`` / ``trust=True``); the refusal names
the file and the setting.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from audiodissect import Dissection
from audiodissect.errors import AudioDissectError
from audiodissect.progress import silent
from audiodissect.rundir import PRUNING_CONCEPT_SELECTION, RunDir
from audiodissect.trust import UntrustedRunError
from llm_chat_server import ChatServer, chat_reply
from stage_fixtures import make_target, record_run, tiny_probe, write_descriptions
from test_faults import assert_clear, cli

MARKER_MODULE = '''
import pathlib
pathlib.Path({marker!r}).write_text("imported")

def build():
    pathlib.Path({marker!r}).write_text("called")
    from stage_fixtures import make_target
    return make_target()
'''


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path_factory.getbasetemp() / "security-cache"))


@pytest.fixture
def described(tmp_path):
    """A recorded, described and identified run of the tiny model (the run a user would be sent)."""
    run = record_run(tmp_path / "run")
    d = Dissection.open(run.path, target=make_target(), hook=silent)
    write_descriptions(tmp_path / "descriptions.json", tiny_probe())
    d.describe(f"file:{tmp_path / 'descriptions.json'}")
    d.identify(methods=["db"], similarities=["cos3"])
    return run


def edit_config(run: RunDir, **sections) -> None:
    """Lay `sections` ({section: {setting: value}}) over the run's config.json, as a hostile author would."""
    data = json.loads((run.path / "config.json").read_text())
    for section, values in sections.items():
        data[section].update(values)
    (run.path / "config.json").write_text(json.dumps(data))


def echo(n, body, headers):
    return 200, chat_reply("A bright sound."), 0


# -- code execution -----------------------------------------------------------------------------------------------

@pytest.fixture
def planted_factory(tmp_path, monkeypatch):
    """A module placed next to the run (importable, as the current folder is) and a target.json naming it."""
    marker = tmp_path / "pwned.txt"
    folder = tmp_path / "beside"
    folder.mkdir()
    (folder / "evil_factory.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("evil_factory", None)
    yield marker
    sys.modules.pop("evil_factory", None)


def test_a_factory_named_by_target_json_is_never_imported_by_the_api(described, planted_factory):
    (described.path / "target.json").write_text(json.dumps({"kind": "factory", "factory": "evil_factory:build"}))
    d = Dissection.open(described.path, hook=silent)
    with pytest.raises(UntrustedRunError) as info:
        d.prune("organ", strategies=["db"])
    message = str(info.value)
    assert str(described.path / "target.json") in message and "target.factory" in message
    assert "'evil_factory:build'" in message and "--trust-run" in message
    assert not planted_factory.exists() and "evil_factory" not in sys.modules
    assert not (described.path / "pruning").exists()


def test_a_factory_named_by_target_json_is_never_imported_by_the_cli(described, planted_factory, capsys):
    (described.path / "target.json").write_text(json.dumps({"kind": "factory", "factory": "evil_factory:build"}))
    code, _, err = cli(capsys, "prune", "--run", described.path, "--concept", "organ", "--strategy", "db")
    assert_clear(code, err, "target.json", "target.factory", "imports and calls")
    assert not planted_factory.exists() and "evil_factory" not in sys.modules
    # the user who trusts the run's author says so: then the factory builds the model
    code, _, err = cli(capsys, "prune", "--run", described.path, "--concept", "organ", "--strategy", "db",
                       "--trust-run")
    assert code == 0, err
    assert planted_factory.read_text() == "called"


@pytest.mark.parametrize("factory", ["__hello__:main", "os:abort"])
def test_standard_library_factories_are_not_called(described, factory, capsys):
    (described.path / "target.json").write_text(json.dumps({"kind": "factory", "factory": factory}))
    code, out, err = cli(capsys, "prune", "--run", described.path, "--concept", "organ", "--strategy", "db")
    assert_clear(code, err, "target.json", repr(factory))
    assert "Hello world" not in out  # __hello__.main prints it; os.abort would have ended this process


def test_an_explicit_factory_is_the_users_own(described, planted_factory):
    (described.path / "target.json").write_text(json.dumps({"kind": "factory", "factory": "os:abort"}))
    d = Dissection.open(described.path, factory="evil_factory:build", hook=silent)
    assert d.target.name == "wave-net" and planted_factory.read_text() == "called"


def test_a_hub_model_named_by_the_run_is_not_downloaded(described, capsys):
    (described.path / "target.json").write_text(json.dumps({"kind": "spec", "spec": "hf:someone/evil-model"}))
    code, _, err = cli(capsys, "prune", "--run", described.path, "--concept", "organ", "--strategy", "db")
    assert_clear(code, err, "record.model", "'hf:someone/evil-model'", "Hugging Face hub")


# -- deletion and writes outside the run --------------------------------------------------------------------------

def test_a_crafted_report_marker_deletes_nothing_outside_the_report(described, tmp_path, capsys, caplog):
    victims = [tmp_path / "victim.txt", tmp_path / "other" / "victim.html"]
    for victim in victims:
        victim.parent.mkdir(exist_ok=True)
        victim.write_text("keep me")
    (described.path / "notes.html").write_text("keep me too")
    site = described.path / "report"
    site.mkdir()
    listed = ["../../victim.txt", str(victims[1]), "units/../../notes.html", "../notes.html", "index.html",
              "units/../../../victim.txt", 42]
    (site / "report.json").write_text(json.dumps({"pages": listed, "run": "x"}))
    with caplog.at_level(logging.WARNING, logger="audiodissect"):
        code, out, err = cli(capsys, "report", "--run", described.path)
    assert code == 0, err
    assert all(v.read_text() == "keep me" for v in victims)
    assert (described.path / "notes.html").read_text() == "keep me too"
    assert (site / "index.html").exists()
    assert any("not this report's unit pages" in r.getMessage() for r in caplog.records)


def test_a_report_folder_that_is_a_symlink_is_not_written_through(described, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "report.json").write_text(json.dumps({"pages": ["units/x-1.html"]}))
    (elsewhere / "units").mkdir()
    (elsewhere / "units" / "x-1.html").write_text("someone's page")
    (described.path / "report").symlink_to(elsewhere, target_is_directory=True)
    code, _, err = cli(capsys, "report", "--run", described.path)
    assert_clear(code, err, str(described.path / "report"), "symbolic link")
    assert sorted(p.name for p in elsewhere.rglob("*")) == ["report.json", "units", "x-1.html"]
    assert (elsewhere / "units" / "x-1.html").read_text() == "someone's page"


@pytest.mark.parametrize("inside", ["pruning", "cache", "units/summarize.jsonl"])
def test_any_symlink_inside_a_run_is_refused_before_anything_runs(described, tmp_path, capsys, inside):
    target = tmp_path / "target"
    target.mkdir()
    link = described.path / inside
    if link.exists():
        link.unlink()
    link.symlink_to(target, target_is_directory=True)
    for command in (["summarize"], ["report"], ["prune", "--concept", "organ"]):
        code, _, err = cli(capsys, *command, "--run", described.path)
        assert_clear(code, err, str(link), "symbolic link")
    with pytest.raises(AudioDissectError, match="symbolic link"):
        Dissection(make_target(), tiny_probe(), out=described.path)
    assert list(target.iterdir()) == []


def test_run_files_stay_inside_the_run(tmp_path):
    run = RunDir(tmp_path / "run")
    for concept in ("..", "../..", "/etc", "a/b", ""):
        with pytest.raises(AudioDissectError, match="cannot name a file inside the run directory"):
            run.file(PRUNING_CONCEPT_SELECTION, concept=concept, label="tab")
    with pytest.raises(AudioDissectError, match="cannot name a file inside"):
        run.activation_path("../../escape")
    assert run.file(PRUNING_CONCEPT_SELECTION, concept="organ", label="tab").parent == run.path / "pruning" / "organ"


def test_figures_named_by_the_runs_json_come_from_its_own_folders_only(described, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    d = Dissection.open(described.path, target=make_target(), hook=silent)
    d.analyze()
    summary_path = described.path / "analysis" / "summary.json"
    summary = json.loads(summary_path.read_text())
    section = next(v for v in summary.values() if isinstance(v, dict) and v.get("files"))
    key = next(k for k in section["files"] if k.endswith("_png"))
    section["files"][key] = "../../secret.png"
    summary_path.write_text(json.dumps(summary))
    d.report()
    figures = described.path / "report" / "figures"
    copied = list(figures.glob("*")) if figures.exists() else []
    assert all(p.read_bytes() != secret.read_bytes() for p in copied)
    assert "secret.png" not in {p.name for p in copied}


# -- exfiltration: network destinations named by config.json ------------------------------------------------------

def test_an_llm_url_in_config_json_is_not_contacted(described, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-user-secret")
    with ChatServer(echo) as server:
        edit_config(described, summarize={"llm": f"http:m@{server.base_url}"})
        code, _, err = cli(capsys, "summarize", "--run", described.path)
        assert_clear(code, err, str(described.path / "config.json"), "summarize.llm", server.base_url,
                     "API key", "--llm")
        assert server.requests == []
        with pytest.raises(UntrustedRunError, match="summarize.llm"):
            Dissection.open(described.path, hook=silent).summarize()
        assert server.requests == []
        assert not (described.path / "units" / "summarize.jsonl").exists()
        # the user names the same server on the command line: now it is the user's own choice
        code, _, err = cli(capsys, "summarize", "--run", described.path, "--llm", f"http:m@{server.base_url}")
        assert code == 0, err
        assert len(server.requests) > 0


def test_trust_run_follows_the_runs_llm(described, capsys):
    with ChatServer(echo) as server:
        edit_config(described, summarize={"llm": f"http:m@{server.base_url}"})
        code, _, err = cli(capsys, "summarize", "--run", described.path, "--trust-run")
        assert code == 0, err
        assert len(server.requests) > 0


def test_results_that_exist_are_read_without_contacting_anyone(described):
    with ChatServer(echo) as server:
        d = Dissection.open(described.path, hook=silent)
        d.summarize(f"http:m@{server.base_url}")  # the author's own call
        asked = len(server.requests)
        assert asked > 0
        reopened = Dissection.open(described.path, hook=silent)  # another process: the saved url is untrusted
        records = reopened.summarize()  # unchanged: reused, nothing sent, nothing refused
        assert len(records) > 0 and len(server.requests) == asked
        with pytest.raises(UntrustedRunError):
            reopened.summarize(k=2)  # would recompute: the saved url is not followed


def test_a_captioner_url_in_config_json_gets_no_audio(described, capsys):
    with ChatServer(echo) as server:
        edit_config(described, describe={"captioner": f"http:audio-model@{server.base_url}"})
        code, _, err = cli(capsys, "describe", "--run", described.path)
        assert_clear(code, err, "config.json", "describe.captioner", "audio", "--captioner")
        assert server.requests == []
        code, _, err = cli(capsys, "describe", "--run", described.path, "--captioner",
                           f"http:audio-model@{server.base_url}")
        assert code == 0, err
        assert len(server.requests) == 18  # every clip, now that the user asked


@pytest.mark.parametrize("setting, value, words", [
    ("tab_backend", "clap:someone/evil-clap", ["identify.tab_backend", "someone/evil-clap"]),
    ("text_embedder", "someone/evil-embedder", ["identify.text_embedder", "someone/evil-embedder"]),
])
def test_hub_ids_in_config_json_are_not_downloaded(described, capsys, setting, value, words):
    edit_config(described, identify={setting: value, "methods": ["tab", "db"]})
    code, _, err = cli(capsys, "identify", "--run", described.path)
    assert_clear(code, err, "config.json", "Hugging Face hub", *words)


def test_a_ray_cluster_in_config_json_is_not_joined(described, capsys):
    edit_config(described, executor={"name": "ray", "ray_address": "ray://192.0.2.1:10001"})
    code, _, err = cli(capsys, "summarize", "--run", described.path, "--k", "2")
    assert_clear(code, err, "executor.ray_address", "192.0.2.1", "--ray-address")


def test_a_hub_probe_in_the_manifest_is_not_downloaded(described, capsys):
    manifest = json.loads((described.path / "manifest.json").read_text())
    manifest["stages"]["record"]["probe"] = {"name": "hf-dataset:someone/evil-data"}
    (described.path / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = cli(capsys, "describe", "--run", described.path, "--captioner", "tags")
    assert_clear(code, err, "manifest.json", "probe.name", "someone/evil-data")


def test_only_the_settings_given_in_the_call_are_the_users_own(tmp_path):
    from audiodissect.trust import Trust, given_paths

    assert given_paths({"summarize": {"llm": "x", "k": 3}, "out": "r", "report": {}}) == \
        ["summarize.llm", "summarize.k", "out"]
    trust = Trust.of_run(tmp_path, {"config.json": ["summarize.llm", "summarize.k", "describe.captioner"]})
    trust.give(["summarize"])  # a section gives every setting under it
    assert trust.untrusted == {"describe.captioner": "config.json"}
    trust.require("summarize.llm", "http:m@http://x/v1", "sends every prompt to http://x/v1")  # given: followed
    trust.require("describe.captioner", "tags", None)  # reaches nothing: never refused
    with pytest.raises(UntrustedRunError, match=r"config.json sets describe.captioner = 'http:m@http://x/v1', which "
                                                r"sends audio"):
        trust.require("describe.captioner", "http:m@http://x/v1", "sends audio")


# -- a shared export is data too -------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, words", [
    (lambda m: m["tables"]["units"].update(file="../secret.jsonl"), "not listed as the file 'units.jsonl'"),
    (lambda m: m["tables"]["units"].update(file="/abs/secret.jsonl"), "not listed as the file 'units.jsonl'"),
    (lambda m: m.pop("format"), "unknown export format None"),
    (lambda m: m.update(export_format="9"), "not a whole number"),
    (lambda m: m.pop("tables"), "not listed"),
])
def test_read_export_reads_only_its_own_tables(described, tmp_path, edit, words):
    """export.json naming a table file outside the export (or nothing sensible) is refused, and nothing outside is read."""
    from audiodissect.export import export_run, read_export

    out = export_run(described, tmp_path / "export", format="jsonl")
    (tmp_path / "secret.jsonl").write_text('{"unit": "SECRET"}\n')
    manifest = json.loads((out / "export.json").read_text())
    edit(manifest)
    (out / "export.json").write_text(json.dumps(manifest))
    with pytest.raises(AudioDissectError, match=words):
        read_export(out)


def test_an_exports_unit_file_is_looked_up_inside_it(described, tmp_path):
    from audiodissect.export import export_run, read_export

    out = export_run(described, tmp_path / "export", format="jsonl")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "1.json").write_text('{"secret": true}')
    exported = read_export(out)
    assert exported.unit_json("conv#1")["unit"] == "conv#1"
    for unit in ("../../outside#1", "/abs#1", "conv#../../outside/1"):
        with pytest.raises(AudioDissectError, match="no unit file"):
            exported.unit_json(unit)
