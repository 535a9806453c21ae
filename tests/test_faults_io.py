"""Fault injection, part 4: the file system and the shape of the input (read-only runs, odd file names, stereo,
tiny labels, a failed first call).

Each case builds its bad input in a tmp folder and goes through the command
line or :class:`audiodissect.Dissection`; the expected behaviour is a clear
error (what, where, what to do) with exit status 2, or a warning that names
what was done, and nothing lost.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiodissect import Dissection
from audiodissect.errors import AudioDissectError
from audiodissect.progress import silent
from stage_fixtures import make_target, record_run, tiny_probe, write_descriptions
from test_faults import assert_clear, cli

RATE = 16000


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path_factory.getbasetemp() / "faults-io-cache"))


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` made read-only: by its permissions, or (as root, whom permissions do not stop) as a read-only
    bind mount of itself; skips when neither is possible."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for path in modes:
            path.chmod(stat.S_IMODE(modes[path]) & ~0o222)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(stat.S_IMODE(mode))
        return
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("running as root without the right to bind-mount: cannot make a folder read-only")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True).returncode:
            pytest.skip("cannot remount read-only")
        yield
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


# -- a read-only run directory ------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["report"], ["summarize"]])
def test_a_read_only_run_is_a_clear_error_and_stays_as_it_was(tmp_path, capsys, command):
    run = record_run(tmp_path / "run")
    write_descriptions(tmp_path / "d.json", tiny_probe())
    Dissection.open(run.path, target=make_target(), hook=silent).describe(f"file:{tmp_path / 'd.json'}")
    before = {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file()}
    with read_only(run.path):
        code, _, err = cli(capsys, *command, "--run", run.path)
    assert_clear(code, err, str(run.path), "read-only" if os.geteuid() == 0 else "permission denied",
                 "copy it somewhere you can write")
    assert {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file()} == before


# -- a failed first call leaves no empty folder ---------------------------------------------------------------------

def test_a_run_refused_before_it_starts_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "runs" / "new"
    code, _, err = cli(capsys, "record", "--model", "yamnet", "--layers", "classifer", "--out", out,
                       "--probe-option", "clips_per_label=1")
    assert_clear(code, err, "classifer", "classifier")
    assert not out.exists()


def test_an_existing_empty_folder_is_kept(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    code, _, err = cli(capsys, "record", "--model", "yamnet", "--layers", "classifer", "--out", out,
                       "--probe-option", "clips_per_label=1")
    assert code == 2 and out.is_dir()


def test_a_mistyped_layer_stops_run_before_any_stage_with_a_hint_to_the_right_name(tmp_path, capsys):
    out = tmp_path / "typo"
    code, stdout, err = cli(capsys, "run", "--model", "yamnet", "--layers", "classifer", "--out", out,
                            "--probe-option", "clips_per_label=1")
    assert_clear(code, err, "no module path matches 'classifer'", "closest: classifier")
    assert "[" not in stdout and "report" not in stdout  # no stage ran, none was "done" or "skipped"
    assert not out.exists()


# -- a Ray address that never answers --------------------------------------------------------------------------

def test_a_dead_ray_address_fails_within_the_stated_time(tmp_path):
    """The address refuses connections: the error comes at once, not after Ray's endless retries."""
    import socket
    import time

    from audiodissect.executor import RayExecutor

    pytest.importorskip("ray")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # closed again: nothing listens there
    start = time.perf_counter()
    with pytest.raises(AudioDissectError, match=rf"cannot reach the Ray cluster at '127.0.0.1:{port}': no connection"):
        list(RayExecutor(f"127.0.0.1:{port}", workers=1).map(abs, [-1]))
    assert time.perf_counter() - start < 15


def test_an_address_that_is_no_ray_cluster_fails_within_the_join_time():
    """It accepts connections but never speaks Ray: the join gives up after its stated time."""
    import socket
    import threading

    from audiodissect.executor import join_cluster

    class SilentRay:
        def init(self, **options):
            threading.Event().wait(30)  # what ray.init does against a port that never answers its handshake

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = "%s:%d" % server.getsockname()
        with pytest.raises(TimeoutError, match=rf"{address} accepts connections but Ray did not join it within 0.5 s"):
            join_cluster(SilentRay(), address, {}, join_timeout=0.5)


@pytest.mark.parametrize("address", ["nohost", "host:port", "ray://:10001"])
def test_a_malformed_ray_address_is_a_clear_error(address):
    from audiodissect.executor import ray_endpoint

    with pytest.raises(AudioDissectError, match="is not host:port"):
        ray_endpoint(address)


# -- Hugging Face models: options and pickled weights --------------------------------------------------------------

def test_trust_remote_code_on_hf_is_refused_with_a_way_forward(tmp_path, capsys):
    code, _, err = cli(capsys, "record", "--model", "hf:someone/model", "--model-option", "trust_remote_code=true",
                       "--layers", "classifier", "--out", tmp_path / "run", "--probe-option", "clips_per_label=1")
    assert_clear(code, err, "does not run a model repository's own code (trust_remote_code)", "Dissection(model")
    code, _, err = cli(capsys, "record", "--model", "hf:someone/model", "--model-option", "revison=main",
                       "--layers", "classifier", "--out", tmp_path / "run", "--probe-option", "clips_per_label=1")
    assert_clear(code, err, "takes no option 'revison'", "local_files_only")
    assert not (tmp_path / "run").exists()


def test_pickled_objects_in_an_hf_bin_file_are_refused_and_never_run(tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    import torch

    from audiodissect.targets import load_target

    labels = ["dog", "cat"]
    config = transformers.ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                    max_length=64, num_mel_bins=32, id2label=dict(enumerate(labels)),
                                    label2id={n: i for i, n in enumerate(labels)})
    model = transformers.ASTForAudioClassification(config)
    folder = tmp_path / "evil_ast"
    model.save_pretrained(folder)
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(folder)
    marker = tmp_path / "pwned"
    state = dict(model.state_dict())
    state["payload"] = Payload(str(marker))
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(AudioDissectError, match="pickle file with objects other than tensors") as info:
        load_target(f"hf:{folder}")
    assert "safetensors" in info.value.hint and "\x1b" not in info.value.message
    assert not marker.exists()


class Payload:
    """What a hostile pickle holds: unpickling it would create a file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path(self.path).touch, ())
