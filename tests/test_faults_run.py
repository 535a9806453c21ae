"""Fault injection, part 2: a run that degrades stage by stage, bad description files, files on disk.

The model is the seeded wave model of :mod:`stage_fixtures` (Conv1d on the
waveform, classes organ/speech/trumpet); probing sets are seeded WAV files
written with soundfile or the tiny generated soundbank. Each test asserts the
behaviour a user needs: a stage that cannot run says why and the analyses and
the report are still written; a bad file is an error that names what is
wrong, and the run's earlier data stays as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from audiodissect import Dissection
from audiodissect.config import RunConfig
from audiodissect.errors import AudioDissectError
from audiodissect.progress import silent
from audiodissect.rundir import RunDir
from stage_fixtures import make_target, record_run, tiny_probe, write_descriptions
from test_faults import assert_clear, cli, write_folder

LATER = ["record", "describe", "identify", "summarize", "score", "prune", "class-drop", "last-layer", "analyze",
         "report"]


def folder_descriptions(root: Path, path: Path) -> Path:
    """A JSON file describing every WAV under `root` by its file name."""
    texts = {p.name: f"A {p.parent.name} sound, take {k}." for k, p in enumerate(sorted(root.rglob("*.wav")))}
    path.write_text(json.dumps(texts))
    return path


def degraded_run(tmp_path: Path, probe: str, probe_root: Path, descriptions: Path,
                 **options) -> tuple[RunDir, list[str]]:
    config = RunConfig(out=str(tmp_path / "run"))
    config.probe.name, config.probe.root = probe, str(probe_root)
    config.probe.options = dict(options)
    config.record.layers = ["conv", "classifier"]
    config.describe.captioner = f"file:{descriptions}"
    config.identify.methods = ["db"]
    config.identify.similarities = ["cos3"]
    lines: list[str] = []
    d = Dissection(make_target(), config=config, hook=silent, echo=lines.append)
    d.run(LATER)
    return d.run_dir, lines


def skipped(lines: list[str]) -> dict[str, str]:
    return {line[1:].split("]")[0]: line.split("skipped: ", 1)[1] for line in lines if "] skipped: " in line}


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    """One cache for the module: the soundbank is generated once."""
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path_factory.getbasetemp() / "faults-run-cache"))


# -- run degrades ---------------------------------------------------------------------------------------------

@pytest.mark.slow  # the whole pipeline incl. scoring and pruning on a fresh probing set
def test_labels_that_are_not_the_models_classes_skip_pruning_and_still_write_the_report(tmp_path):
    audio = write_folder(tmp_path / "audio", ["foo", "bar"], 8, 0.5)
    run, lines = degraded_run(tmp_path, "folder", audio, folder_descriptions(audio, tmp_path / "d.json"),
                              heldout_fraction=0.25)
    why = skipped(lines)
    assert set(why) == {"prune", "class-drop", "last-layer"}, lines
    assert "held-out clips labelled with a class" in why["prune"] and "no pruning results" in why["class-drop"]
    for stage in ("record", "describe", "identify", "summarize", "analyze", "report"):
        assert run.has_stage(stage), stage
    assert (run.report_dir / "index.html").exists()
    assert any(run.analysis_dir.iterdir())


def test_fewer_than_three_held_out_clips_skip_what_needs_them_and_still_write_the_report(tmp_path):
    audio = write_folder(tmp_path / "audio", ["trumpet", "organ"], 5, 0.5)
    wavs = sorted(audio.rglob("*.wav"))
    rows = ["path,label,split"] + [f"{p.relative_to(tmp_path)},{p.parent.name},{'heldout' if i in (0, 5) else 'probe'}"
                                   for i, p in enumerate(wavs)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    run, lines = degraded_run(tmp_path, "csv", tmp_path / "m.csv", folder_descriptions(audio, tmp_path / "d.json"))
    why = skipped(lines)
    assert "score" in why and "2 held-out clips" in why["score"] and "at least 3" in why["score"], lines
    assert not (set(why) - {"score", "prune", "class-drop"}), lines
    for stage in ("record", "describe", "identify", "summarize", "analyze", "report"):
        assert run.has_stage(stage), stage
    assert (run.report_dir / "index.html").exists()


# -- description files ------------------------------------------------------------------------------------------

@pytest.fixture
def recorded(tmp_path):
    """The tiny soundbank run, recorded and described from a file of exact sentences."""
    run = record_run(tmp_path / "run")
    probe = tiny_probe()
    texts = write_descriptions(tmp_path / "good.json", probe)
    d = Dissection.open(run.path, target=make_target(), hook=silent)
    d.describe(f"file:{tmp_path / 'good.json'}")
    return run, probe, texts


def test_duplicate_keys_in_a_descriptions_file_are_an_error_naming_them(recorded, tmp_path, capsys):
    run, probe, texts = recorded
    before = run.descriptions_path.read_bytes()
    ids = [c.id for c in probe.clips]
    body = [f'"{i}": {json.dumps(t)}' for i, t in texts.items()]
    body += [f'"{ids[2]}": "a different text"', f'"{ids[7]}": "another one"']
    path = tmp_path / "dup.json"
    path.write_text("{" + ",\n".join(body) + "}")
    code, _, err = cli(capsys, "identify", "--run", run.path, "--descriptions", path, "--method", "db")
    assert_clear(code, err, str(path), "2 key(s) more than once", repr(ids[2]), repr(ids[7]))
    assert run.descriptions_path.read_bytes() == before
    # the same file as a captioner, and repeats inside a {"descriptions": {...}} wrapper
    code, _, err = cli(capsys, "describe", "--run", run.path, "--captioner", f"file:{path}")
    assert_clear(code, err, repr(ids[2]))
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text('{"descriptions": {"%s": "x", "%s": "y"}}' % (ids[0], ids[0]))
    code, _, err = cli(capsys, "identify", "--run", run.path, "--descriptions", wrapped)
    assert_clear(code, err, "1 key(s) more than once", repr(ids[0]))
    assert run.descriptions_path.read_bytes() == before


def test_all_empty_descriptions_never_give_db_concepts(recorded, tmp_path, capsys):
    run, probe, _ = recorded
    before = run.descriptions_path.read_bytes()
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({c.id: " " for c in probe.clips}))
    code, _, err = cli(capsys, "identify", "--run", run.path, "--descriptions", path, "--method", "db")
    assert_clear(code, err, f"every clip description in {path} is empty", "--method tab", "left unchanged")
    assert run.descriptions_path.read_bytes() == before
    # descriptions that came out empty from a captioner: DB is refused by name, in a run a named skip
    run.write_descriptions({c.id: "" for c in probe.clips})
    d = Dissection.open(run.path, target=make_target(), hook=silent)
    with pytest.raises(AudioDissectError, match="every clip description is empty: DB has nothing to match") as info:
        d.identify(methods=["db"])
    assert "--method tab" in info.value.hint
    assert not run.has_units("identify")
    lines: list[str] = []
    d = Dissection.open(run.path, target=make_target(), hook=silent, echo=lines.append)
    d.config.identify.methods = ["db"]
    d.run(["identify", "report"])
    assert "identify" in skipped(lines) and "every clip description is empty" in skipped(lines)["identify"]
    assert (run.report_dir / "index.html").exists()


def test_a_failed_import_leaves_the_descriptions_as_they_were(recorded, tmp_path, capsys):
    run, probe, texts = recorded
    before = run.descriptions_path.read_bytes()
    part = dict(list(texts.items())[:5])  # 13 of 18 clips missing: more than one batch of anything
    path = tmp_path / "part.json"
    path.write_text(json.dumps(part))
    code, _, err = cli(capsys, "identify", "--run", run.path, "--descriptions", path)
    assert_clear(code, err, str(path), "no description for 13 of the run's 18 clips")
    assert "allow_missing" not in err and "add them to the file" in err
    assert "left unchanged" in err
    assert run.descriptions_path.read_bytes() == before
    # describing from the same file names the missing clips and a remedy that works from the shell
    code, _, err = cli(capsys, "describe", "--run", run.path, "--captioner", f"file:{path}")
    assert_clear(code, err, "13 of 18 clips have no description")
    assert "allow_missing" not in err
    assert run.descriptions_path.read_bytes() == before


# -- report output folder ----------------------------------------------------------------------------------------

def test_report_refuses_a_report_folder_with_other_files_and_deletes_nothing(recorded, tmp_path, capsys):
    run, _, _ = recorded
    site = run.path / "report"
    shutil.rmtree(site, ignore_errors=True)
    (site / "units").mkdir(parents=True)
    (site / "index.html").write_text("my homepage")
    (site / "units" / "mine.html").write_text("my page")
    code, _, err = cli(capsys, "report", "--run", run.path)
    assert_clear(code, err, str(site))
    assert (site / "index.html").read_text() == "my homepage"
    assert (site / "units" / "mine.html").read_text() == "my page"
    assert sorted(p.name for p in site.rglob("*")) == ["index.html", "mine.html", "units"]
    # an empty folder, or the report's own earlier output, is written to
    shutil.rmtree(site)
    code, out, _ = cli(capsys, "report", "--run", run.path)
    assert code == 0 and (site / "index.html").exists()
    code, out, _ = cli(capsys, "report", "--run", run.path, "--units-per-layer", "3")
    assert code == 0


# -- files on disk ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        run = record_run(tmp_path / "run")
        d = Dissection.open(run.path, target=make_target(), hook=silent)
        write_descriptions(tmp_path / "good.json", tiny_probe())
        d.describe(f"file:{tmp_path / 'good.json'}")
        d.report()
    finally:
        os.umask(old)
    written = [run.manifest_path, run.descriptions_path, run.activation_path("conv"),
               run.report_dir / "index.html", *sorted((run.report_dir / "media").iterdir())[:2]]
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == \
        {p.name: oct(mode) for p in written}


def test_a_report_cut_short_is_finished_by_the_next_run_and_its_temporaries_removed(recorded):
    """A report interrupted while writing its media (a partial ``.<name>.<random>.tmp`` left, as SIGKILL during an
    atomic write leaves it): the rerun accepts its own half-written folder, finishes it and removes the stray."""
    run, _, _ = recorded
    media = run.report_dir / "media"
    stray = media / ".organ-0000-3863746b.wav.k3j9x2.tmp"

    def interrupt(stage, artefact=None, *, completed, total):
        if stage == "report" and completed >= 2:
            stray.write_bytes(b"RIFF" + bytes(96))
            raise KeyboardInterrupt

    d = Dissection.open(run.path, target=make_target(), hook=interrupt)
    with pytest.raises(KeyboardInterrupt):
        d.report()
    assert stray.exists() and not (run.report_dir / "index.html").exists()
    keep = media / "notes.tmp.txt"
    keep.write_text("not ours")
    d = Dissection.open(run.path, target=make_target(), hook=silent)
    d.report()
    assert (run.report_dir / "index.html").exists()
    assert not stray.exists()
    assert keep.exists()
    assert [p.name for p in media.glob(".*.tmp")] == []
