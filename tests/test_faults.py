"""Fault injection, part 1: bad settings and bad probing sets at the front door.

Every case builds its own bad input (seeded audio written with soundfile,
config files, tmp folders) and goes through the command line
(:func:`audiodissect.cli.main`, in process) or :class:`audiodissect.Dissection`.
The expected behaviour is a clear error (what, where, what to do) with exit
status 2, never a traceback, and nothing written that the user did not ask for.
Later stages and the run's own data are in ``test_faults_run.py`` and
``test_faults_resume.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiodissect import Dissection
from audiodissect.cli import main
from audiodissect.errors import AudioDissectError
from audiodissect.progress import silent
from stage_fixtures import make_target

RATE = 16000


def tone(seed: int, n: int) -> np.ndarray:
    """(n,) float32: a seeded sine plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    return (0.3 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t)
            + 0.05 * rng.standard_normal(n)).astype(np.float32)


def write_folder(root: Path, labels: list[str], per_label: int, seconds: float) -> Path:
    """``root/<label>/<label><k>.wav``, `per_label` seeded clips of `seconds` each."""
    for li, label in enumerate(labels):
        (root / label).mkdir(parents=True, exist_ok=True)
        for k in range(per_label):
            sf.write(root / label / f"{label}{k}.wav", tone(100 * li + k, int(seconds * RATE)), RATE)
    return root


def all_heldout_manifest(tmp_path: Path) -> Path:
    audio = write_folder(tmp_path / "audio", ["a", "b"], 3, 0.5)
    rows = ["path,label,split"] + [f"{p.relative_to(tmp_path)},{p.parent.name},heldout"
                                   for p in sorted(audio.rglob("*.wav"))]
    path = tmp_path / "m.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clear(code: int, err: str, *words: str) -> None:
    """Exit status 2, one ``error:`` line naming `words`, and no traceback."""
    assert code == 2, err
    assert err.startswith("audiodissect: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))


# -- an empty probe split ---------------------------------------------------------------------------------------

def test_an_all_held_out_manifest_stops_run_before_any_model_is_loaded(tmp_path, capsys):
    manifest = all_heldout_manifest(tmp_path)
    code, out, err = cli(capsys, "run", "--probe", "csv", "--probe-root", manifest, "--out", tmp_path / "run")
    assert_clear(code, err, str(manifest), "probe split is empty")
    assert "hint: " in err and "split=probe" in err
    assert not (tmp_path / "cache" / "demo-cnn").exists()  # failed before the model was trained or loaded


def test_an_all_held_out_manifest_is_an_error_of_the_api(tmp_path):
    manifest = all_heldout_manifest(tmp_path)
    d = Dissection(make_target(), probe="csv", probe_root=str(manifest), out=tmp_path / "run", hook=silent)
    with pytest.raises(AudioDissectError, match="probe split is empty") as info:
        d.run()
    assert str(manifest) in info.value.message
    with pytest.raises(AudioDissectError, match="probe split is empty"):
        d.record()


# -- clips too short for the model ------------------------------------------------------------------------------

def test_clips_shorter_than_the_receptive_field_are_named(tmp_path):
    """10 ms clips against a 256-sample (16 ms) first convolution: an error naming clips, lengths and a remedy."""
    audio = write_folder(tmp_path / "audio", ["trumpet", "organ"], 3, 0.01)
    d = Dissection(make_target(), probe=str(audio), out=tmp_path / "run", hook=silent)
    with pytest.raises(AudioDissectError, match="the model failed on clips") as info:
        d.record()
    assert "(0.01 s)" in info.value.message and "min_samples" in info.value.hint
    assert not d.run_dir.has_stage("record")


def test_run_on_clips_too_short_stops_at_the_recording(tmp_path):
    """Nothing after the recording has data: the run ends with the recording's error, no stage after it runs."""
    audio = write_folder(tmp_path / "audio", ["trumpet", "organ"], 3, 0.01)
    lines: list[str] = []
    d = Dissection(make_target(), probe=str(audio), out=tmp_path / "run", hook=silent, echo=lines.append)
    with pytest.raises(AudioDissectError, match="the model failed on clips"):
        d.run(["record", "identify", "report"])
    assert not any(line.startswith(("[identify]", "[report]")) for line in lines), lines
    assert not (d.run_dir.report_dir / "index.html").exists()


def test_an_error_raised_inside_the_forward_keeps_its_hint_once(tmp_path):
    """A model (or its preprocessing) that raises an AudioDissectError: the recording's error names the clips and
    gives the inner hint as its own, not a second time inside the message."""
    audio = write_folder(tmp_path / "audio", ["trumpet", "organ"], 3, 0.2)

    def refuse(waves):
        raise AudioDissectError("input too quiet", hint="raise the gain")

    target = make_target()
    target.preprocess = refuse
    d = Dissection(target, probe=str(audio), out=tmp_path / "run", hook=silent)
    with pytest.raises(AudioDissectError, match="the model failed on clips") as info:
        d.record()
    assert info.value.message.endswith(": input too quiet") and info.value.hint == "raise the gain"
    assert str(info.value).count("raise the gain") == 1


# -- settings ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ('[record]\nbatch_size = "big"\n', ["record.batch_size", "must be an integer", "'big'"]),
    ('[record]\nlayers = "conv"\n', ["record.layers", "must be a list"]),
    ('[summarize]\ncontrastive = "yes"\n', ["summarize.contrastive", "true or false"]),
    ('[probe]\noptions = 3\n', ["probe.options", "must be a table"]),
    ('stages = ["record", "sumarize"]\n', ["stages", "'sumarize'", "closest: summarize"]),
    ('[recrod]\nbatch_size = 4\n', ["recrod"]),
])
def test_bad_config_files_name_the_file_and_the_setting(tmp_path, capsys, text, words):
    path = tmp_path / "run.toml"
    path.write_text(text)
    code, _, err = cli(capsys, "run", "--config", path, "--out", tmp_path / "run")
    assert_clear(code, err, str(path), *words)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["run", "record"])
def test_device_cuda_without_cuda_is_an_error_and_creates_nothing(tmp_path, capsys, command):
    code, _, err = cli(capsys, command, "--device", "cuda", "--out", tmp_path / "run")
    assert_clear(code, err, "'cuda'", "no CUDA device")
    assert "drop --device" in err
    assert not (tmp_path / "run").exists()


def test_an_unknown_device_is_an_error(tmp_path, capsys):
    code, _, err = cli(capsys, "run", "--device", "gpu0", "--out", tmp_path / "run")
    assert_clear(code, err, "unknown torch device 'gpu0'")


@pytest.mark.parametrize("command", ["run", "record"])
@pytest.mark.parametrize("size", ["0", "-3"])
def test_a_batch_size_below_one_is_an_error(tmp_path, capsys, command, size):
    code, _, err = cli(capsys, command, "--batch-size", size, "--out", tmp_path / "run")
    assert_clear(code, err, "record.batch_size", f"at least 1, got {size}")
    with pytest.raises(AudioDissectError, match="at least 1"):
        Dissection(make_target(), out=tmp_path / "api", hook=silent, config={"record": {"batch_size": int(size)}})


# -- commands that read a run ------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["report", "analyze", "identify", "summarize", "score"])
def test_a_mistyped_run_folder_is_an_error_and_nothing_is_created(tmp_path, capsys, command):
    typo = tmp_path / "rnu"
    code, _, err = cli(capsys, command, "--run", typo)
    assert_clear(code, err, f"no run directory at {typo}")
    assert "hint: " in err
    assert not typo.exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"cache"}


def test_a_folder_that_is_not_a_run_is_refused(tmp_path, capsys):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\xff\xd8")
    code, _, err = cli(capsys, "report", "--run", other)
    assert code == 2 and "Traceback" not in err
    assert sorted(p.name for p in other.iterdir()) == ["cat.jpg"]


# -- arguments of the wrong type --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    ({"probe": 42}, ["probe must be a probing-set name, a folder or clips, got int 42", "ad.clips"]),
    ({"out": 12.5}, ["out must be a folder path", "got float 12.5"]),
    ({"config": "settings.toml"}, ["config must be a RunConfig or a dict"]),
    ({"factory": len}, ["factory must be a 'package.module:function' string"]),
    ({"layouts": {"head": 3}}, ["layouts must be a dict of layer -> layout strings"]),
    ({"sample_rate": 16000.5}, ["sample_rate must be a positive whole number"]),
    ({"preprocess": "log-mel"}, ["preprocess must be a function"]),
])
def test_arguments_of_the_wrong_type_are_refused_before_anything_is_made(tmp_path, monkeypatch, kwargs, words):
    monkeypatch.chdir(tmp_path)
    options = {"out": tmp_path / "run", **kwargs}
    with pytest.raises(AudioDissectError) as info:
        Dissection(make_target(), **options)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    assert list(tmp_path.iterdir()) == []  # no folder named "12.5", no run


def test_a_target_of_the_wrong_type_is_refused(tmp_path):
    with pytest.raises(AudioDissectError, match="cannot dissect a dict"):
        Dissection({"weights": 1}, out=tmp_path / "run")
    with pytest.raises(AudioDissectError, match="the run directory must be a path"):
        Dissection.open(3)
