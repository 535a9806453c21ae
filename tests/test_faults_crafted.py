"""Fault injection, part 6: a run directory whose newer files were crafted or damaged.

A run directory is data from someone else (docs/security.md): its frame
arrays, unit ids, SAE files and layer widths may be anything. Each test alters
one file of a recorded run (the tiny wave model, its ``conv`` layer recorded
frame by frame) the way a careless or hostile author could, and checks that
reading it is a clear :class:`~audiodissect.errors.AudioDissectError` naming
the file, never a traceback, a hang or a silently wrong result.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from audiodissect import Dissection
from audiodissect.analyses.moments import moments_rows
from audiodissect.errors import AudioDissectError
from audiodissect.progress import silent
from audiodissect.rundir import RunDir
from stage_fixtures import make_target, tiny_probe


@pytest.fixture(scope="module")
def framed(tmp_path_factory):
    """A run of the tiny model with ``conv`` recorded frame by frame (copied by :func:`copy_run`)."""
    root = tmp_path_factory.mktemp("crafted")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIODISSECT_CACHE", str(root / "cache"))
        d = Dissection(make_target(), tiny_probe(), out=root / "run", hook=silent, layouts={"conv": "BCT"})
        d.record(["conv", "classifier"], frames="conv")
    return root / "run"


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path_factory.getbasetemp() / "crafted-cache"))


def copy_run(framed: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(framed, tmp_path / "run"))


def edit_manifest(run: Path, edit) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    edit(manifest["stages"]["record"])
    (run / "manifest.json").write_text(json.dumps(manifest))


def rewrite(run: Path, name: str, change) -> None:
    """Replace ``frames/conv/<name>.npy`` by ``change(its array)``."""
    path = run / "frames" / "conv" / f"{name}.npy"
    np.save(path, change(np.load(path)))


# -- frames --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, change, words", [
    ("offsets", lambda o: np.r_[o[:5], o[-1]], "6 entries for 18 clips"),
    ("offsets", lambda o: o.astype(np.float64) + np.r_[0, [0.4] * (len(o) - 2), 0], "integers"),
    ("offsets", lambda o: np.r_[0, o[1:-2], o[-1], o[-1]], "at least one frame per clip"),
    ("spans", lambda s: s[:, 0].copy(), "not ("),
    ("spans", lambda s: np.c_[s, s[:, :1]], "not ("),
    ("spans", lambda s: np.where(np.arange(len(s))[:, None] == 7, np.nan, s), "not a number"),
    ("spans", lambda s: s[:, ::-1].copy(), "ends before it starts"),
    ("spans", lambda s: s.astype(str), "seconds"),
    ("values", lambda v: v[:, 0].copy(), "(frames, units)"),
    ("values", lambda v: v[:, :, None].copy(), "(frames, units)"),
    ("values", lambda v: v.astype(str), "(frames, units)"),
    ("values", lambda v: v[:, :3].copy(), "3 units, the manifest says the layer has 4"),
])
def test_crafted_frame_arrays_are_refused_naming_the_folder(framed, tmp_path, name, change, words):
    run = copy_run(framed, tmp_path)
    rewrite(run, name, change)
    with pytest.raises(AudioDissectError, match="damaged") as info:
        RunDir(run).frames("conv")
    assert words in info.value.message and str(run / "frames" / "conv") in info.value.message
    with pytest.raises(AudioDissectError, match="damaged"):
        moments_rows(RunDir(run), ["conv#0"])


def test_a_missing_or_unreadable_frame_file_is_named(framed, tmp_path):
    run = copy_run(framed, tmp_path)
    (run / "frames" / "conv" / "spans.npy").unlink()
    with pytest.raises(AudioDissectError, match="lack .*spans.npy"):
        RunDir(run).frames("conv")
    (run / "frames" / "conv" / "spans.npy").write_bytes(b"not an array")
    with pytest.raises(AudioDissectError, match="cannot read .*spans.npy"):
        RunDir(run).frames("conv")


def test_non_finite_frame_values_are_an_error_not_an_index_error(framed, tmp_path):
    run = copy_run(framed, tmp_path)
    rewrite(run, "values", lambda v: np.where(np.arange(v.shape[1]) == 2, np.nan, v).astype(np.float32))
    assert moments_rows(RunDir(run), ["conv#0"], k=2)["conv#0"]               # other units still read
    with pytest.raises(AudioDissectError, match=r"NaN or infinite values \(units \[2\]\)"):
        moments_rows(RunDir(run), ["conv#2"])


def test_frame_scores_of_non_finite_frame_values_are_an_error_not_a_score(framed, tmp_path):
    from audiodissect.scoring.frames import score_frames

    run = copy_run(framed, tmp_path)
    clips = RunDir(run).clips()
    (run / "events.csv").write_text("clip,onset,offset,label\n" + "".join(f"{c.id},0.1,0.6,{c.label}\n" for c in clips))
    assert score_frames(RunDir(run), {"conv#0": "organ"}, split="all")[0]["auprc"] is not None
    rewrite(run, "values", lambda v: np.full_like(v, np.nan))
    with pytest.raises(AudioDissectError, match="NaN or infinite values"):
        score_frames(RunDir(run), {"conv#0": "organ"}, split="all")                  # was an AUPRC of 0.55


# -- moments' arguments -----------------------------------------------------------------------------------------------

def test_a_huge_moment_count_allocates_one_moment_per_clip_at_most(framed):
    rows = moments_rows(RunDir(framed), ["conv#1"], k=10 ** 12)["conv#1"]  # (1, 10**12) int64 would be 8 TB
    assert len(rows) == len(RunDir(framed).probe_rows())


@pytest.mark.parametrize("options, words", [
    ({"k": 0}, "k must be"), ({"k": 2.5}, "k must be"), ({"snippet_seconds": 0}, "snippet_seconds must be positive"),
    ({"snippet_seconds": float("nan")}, "snippet_seconds must be positive"),
])
def test_moments_refuse_zero_and_nan_instead_of_taking_the_default(framed, options, words):
    d = Dissection.open(framed, target=make_target(), probe=tiny_probe(), hook=silent)
    with pytest.raises(AudioDissectError, match=words):
        d.moments("conv#0", **options)


@pytest.mark.parametrize("unit", ["conv#²", "conv#٣", "conv#-1", "conv"])
def test_unit_ids_with_other_than_ascii_digits_are_bad_ids(framed, unit):
    d = Dissection.open(framed, target=make_target(), probe=tiny_probe(), hook=silent)
    with pytest.raises(AudioDissectError, match="bad unit id"):
        d.moments(unit)
    with pytest.raises(AudioDissectError, match="bad unit id"):
        d.top_clips(unit)


def test_a_layer_name_too_long_for_a_file_name_is_refused(framed, tmp_path):
    run = copy_run(framed, tmp_path)
    edit_manifest(run, lambda record: record["layers"].update({"x" * 300: 4}))
    with pytest.raises(AudioDissectError, match="too long to name a file"):
        RunDir(run).activations("x" * 300)


# -- export ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [10 ** 7, -3, "4", 2.5, None, True])
def test_an_export_refuses_layer_widths_the_arrays_do_not_have(framed, tmp_path, width):
    from audiodissect.export import export_run

    run = copy_run(framed, tmp_path)
    edit_manifest(run, lambda record: record["layers"].update({"conv": width}))
    with pytest.raises(AudioDissectError, match="units, but its recorded activations have 4 columns"):
        export_run(run, tmp_path / "out", format="jsonl")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("top", [0, float("nan"), 2.5])
def test_an_export_refuses_a_top_that_is_no_whole_number(framed, tmp_path, top):
    from audiodissect.export import export_run

    with pytest.raises(AudioDissectError, match="top must be a whole number"):
        export_run(framed, tmp_path / "out", format="jsonl", top=top)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_run_config_with_a_non_finite_number_is_refused_naming_the_setting(framed, tmp_path, value):
    """report.snippet_seconds = NaN passed the minimum check (NaN < 0.05 is false) and failed later."""
    run = copy_run(framed, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["report"]["snippet_seconds"] = value
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(AudioDissectError, match="report.snippet_seconds must be a finite number"):
        Dissection.open(run, target=make_target(), probe=tiny_probe(), hook=silent).moments("conv#0")


def test_an_export_writes_crafted_record_types_as_their_columns_type(framed, tmp_path):
    """A clip label that is a number and a description that is a list: parquet needs a text, and gets one."""
    pytest.importorskip("pyarrow")
    from audiodissect.export import export_run, read_export

    run = copy_run(framed, tmp_path)
    lines = (run / "clips.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["label"] = 5
    (run / "clips.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    export_run(run, tmp_path / "out", format="parquet")
    clips = read_export(tmp_path / "out")["clips"]
    assert clips["label"].iloc[0] == "5"


def test_an_export_that_fails_midway_leaves_no_folder_behind(framed, tmp_path, monkeypatch):
    import errno

    from audiodissect import export

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(export, "write_json", full_disk)   # the tables are written, the unit files fail
    with pytest.raises(AudioDissectError, match="no space left"):
        export.export_run(framed, tmp_path / "out", format="jsonl")
    assert list(tmp_path.iterdir()) == []                   # neither the export nor its unfinished copy
    (tmp_path / "empty").mkdir()
    monkeypatch.undo()
    export.export_run(framed, tmp_path / "empty", format="jsonl")  # an empty folder is taken, as before
    assert (tmp_path / "empty" / "export.json").is_file() and (tmp_path / "empty" / "neuronpedia" / "conv").is_dir()


# -- SAEs in a run ---------------------------------------------------------------------------------------------------

def sae_run(framed: Path, tmp_path: Path, cfg=None, tensors=None) -> Path:
    """A copy of the run with an SAE on ``conv`` in ``sae/conv/``, listed in ``sae.attached``; `cfg` and `tensors`
    change its cfg.json (a dict) and its weights (a dict of tensors) in place."""
    import torch
    from safetensors.torch import load_file, save_file

    from audiodissect.sae.files import save_sae
    from audiodissect.sae.model import SaeSpec, SparseAutoencoder

    run = copy_run(framed, tmp_path)
    sae = SparseAutoencoder(SaeSpec(d_in=4, d_sae=8, architecture="topk", k=2,
                                    metadata={"audiodissect": {"layer": "conv", "pool": "mean"}}))
    with torch.no_grad():
        for generator_seed, parameter in enumerate(sae.parameters()):
            parameter.copy_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(generator_seed)))
    folder = save_sae(sae, run / "sae" / "conv")
    if cfg is not None:
        data = json.loads((folder / "cfg.json").read_text())
        cfg(data)
        (folder / "cfg.json").write_text(json.dumps(data))
    if tensors is not None:
        weights = load_file(str(folder / "sae_weights.safetensors"))
        tensors(weights)
        save_file(weights, str(folder / "sae_weights.safetensors"))
    config = json.loads((run / "config.json").read_text())
    config["sae"]["attached"] = ["conv"]
    (run / "config.json").write_text(json.dumps(config))
    return run


def open_model(run: Path):
    return Dissection.open(run, target=make_target(), probe=tiny_probe(), hook=silent).target


def test_a_run_sae_reattaches_when_the_model_opens(framed, tmp_path):
    from audiodissect.sae import attached_saes

    assert list(attached_saes(open_model(sae_run(framed, tmp_path)).module)) == ["conv"]


@pytest.mark.parametrize("cfg, tensors, words", [
    (lambda c: c.update(d_sae=2 ** 40), None, "other shapes than cfg.json gives"),       # 16 TB if built first
    (lambda c: c.update(d_in=10 ** 6, d_sae=10 ** 6), None, "other shapes than cfg.json gives"),
    (None, lambda t: t.pop("W_enc"), "missing ['W_enc']"),
    (None, lambda t: t["W_enc"].fill_(float("nan")), "NaN or infinite values in W_enc"),
    (None, lambda t: t["b_dec"].fill_(float("inf")), "NaN or infinite values in b_dec"),
    (lambda c: c.update(apply_b_dec_to_input="false"), None, "apply_b_dec_to_input is 'false', not true or false"),
    (lambda c: c.update(k=float("nan")), None, "1 <= k <= d_sae"),
])
def test_crafted_sae_files_are_refused_before_anything_is_built(framed, tmp_path, cfg, tensors, words):
    run = sae_run(framed, tmp_path, cfg, tensors)
    with pytest.raises(AudioDissectError) as info:
        open_model(run)
    assert words in info.value.message


def test_an_sae_cfg_that_is_not_utf8_or_has_odd_metadata_is_handled(framed, tmp_path):
    from audiodissect.sae import attached_saes

    run = sae_run(framed, tmp_path, cfg=lambda c: c["metadata"].update(audiodissect="not a table"))
    assert list(attached_saes(open_model(run).module)) == ["conv"]     # the run's pooling is used
    (run / "sae" / "conv" / "cfg.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(AudioDissectError, match="cannot parse .*cfg.json"):
        open_model(run)


# -- the notebook's new audio --------------------------------------------------------------------------------------

def wave(n: int = 16000) -> np.ndarray:
    return (0.1 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("clips, options, words", [
    (np.full(16000, np.nan, np.float32), {}, "16000 NaN or infinite samples"),
    (np.r_[wave()[:-1], np.inf].astype(np.float32), {}, "1 NaN or infinite samples"),
    (np.stack([wave(), wave()], axis=1), {}, "looks like one clip's channels"),     # (T, 2): not 16000 clips
    (wave().astype(np.complex64), {}, "real-valued samples"),
    (wave(), {"sample_rate": 0}, "sample_rate must be a whole number"),            # was taken as the model's rate
    (wave(), {"sample_rate": -8000}, "sample_rate must be a whole number"),
    (wave(), {"sample_rate": 8000.5}, "sample_rate must be a whole number"),
])
def test_activations_for_refuses_audio_it_would_misread(framed, clips, options, words):
    d = Dissection.open(framed, target=make_target(), probe=tiny_probe(), hook=silent)
    with pytest.raises(AudioDissectError) as info:
        d.activations_for(clips, ["conv#0"], **options)
    assert words in info.value.message
    assert d.activations_for(np.zeros(16000, np.float32), ["conv#0"]).values.shape == (1, 1)   # silence is audio


@pytest.mark.parametrize("k", [float("nan"), 2.5, True])
def test_top_clips_refuses_a_k_that_is_no_whole_number(framed, k):
    d = Dissection.open(framed, target=make_target(), probe=tiny_probe(), hook=silent)
    with pytest.raises(AudioDissectError, match="k must be a whole number"):
        d.top_clips("conv#0", k)


# -- convert beats ---------------------------------------------------------------------------------------------------

class Payload:
    """What a hostile pickle holds: unpickling it would create a file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path(self.path).touch, ())


def test_convert_refuses_a_pickled_payload_without_advising_to_unpickle_it(tmp_path, capsys):
    import torch

    from test_faults import assert_clear, cli

    marker = tmp_path / "pwned"
    torch.save({"cfg": {}, "model": {"w": torch.zeros(1)}, "extra": Payload(str(marker))}, tmp_path / "evil.pt")
    code, _, err = cli(capsys, "convert", "beats", tmp_path / "evil.pt", "--out", tmp_path / "out.pt")
    assert_clear(code, err, "evil.pt", "not loaded, for safety", "it names the Python object")
    assert "will likely succeed" not in err and "add_safe_globals" not in err and "\x1b" not in err
    assert not marker.exists() and not (tmp_path / "out.pt").exists()
    (tmp_path / "noise.pt").write_bytes(bytes(range(256)) * 4)
    code, _, err = cli(capsys, "convert", "beats", tmp_path / "noise.pt", "--out", tmp_path / "out.pt")
    assert_clear(code, err, "noise.pt", "is no torch file")
    assert "will likely succeed" not in err
    (tmp_path / "empty.pt").write_bytes(b"")
    code, _, err = cli(capsys, "convert", "beats", tmp_path / "empty.pt", "--out", tmp_path / "out.pt")
    assert_clear(code, err, "empty.pt", "ends too early")


def test_convert_names_a_class_name_file_that_is_not_utf8(tmp_path, capsys):
    from audiodissect.targets.beats import read_class_map, read_class_names

    (tmp_path / "names.txt").write_bytes("dog\nt\xe9l\xe9phone\n".encode("latin-1"))
    with pytest.raises(AudioDissectError, match="cannot read the class-name file .*names.txt"):
        read_class_names(tmp_path / "names.txt")
    (tmp_path / "map.csv").write_bytes("mid,display_name\n/m/1,t\xe9l\xe9phone\n".encode("latin-1"))
    with pytest.raises(AudioDissectError, match="cannot read the class map .*map.csv"):
        read_class_map(tmp_path / "map.csv")


@pytest.mark.parametrize("change, words", [
    ({"encoder_layers": 10 ** 5}, "the cfg gives 100000 encoder layers, the weights hold 2"),   # a hang, building
    ({"encoder_ffn_embed_dim": 2 ** 34}, "shapes other than the cfg gives"),              # 2 TB of zeros
    ({"predictor_class": 2 ** 34}, "shapes other than the cfg gives"),
])
def test_a_checkpoint_cfg_is_checked_against_its_weights_before_the_network_is_built(tmp_path, change, words):
    import torch

    from audiodissect.targets.beats import build_beats
    from test_targets_beats import DEEP_NORM, write_checkpoint

    state = torch.load(write_checkpoint(tmp_path, DEEP_NORM), weights_only=True)["model"]
    with pytest.raises(AudioDissectError) as info:
        build_beats({"cfg": dict(DEEP_NORM, **change), "model": state})
    assert words in info.value.message


def test_an_export_into_the_empty_working_folder_keeps_that_folder(framed, tmp_path, monkeypatch):
    from audiodissect.export import export_run, read_export

    here = tmp_path / "here"
    here.mkdir()
    inode = here.stat().st_ino
    monkeypatch.chdir(here)
    export_run(framed, ".", format="jsonl")
    assert here.stat().st_ino == inode and Path.cwd().samefile(here)    # not replaced under the user's feet
    assert len(read_export(here)["units"]) == 7 and sorted(p.name for p in tmp_path.iterdir()) == ["here"]


def test_audio_of_clips_missing_from_the_probing_set_given_is_a_clear_error(framed):
    """The audio was read by row: another probing set gave an IndexError, a KeyError or another clip's audio."""
    from audiodissect.probes import load_probe
    from stage_fixtures import PROBE_OPTIONS

    small = load_probe("soundbank", **dict(PROBE_OPTIONS, clips_per_label=2))
    d = Dissection.open(framed, target=make_target(), probe=small, hook=silent)
    with pytest.raises(AudioDissectError, match="not in the probing set given"):
        d.moments("conv#0")
    assert len(d.moments("conv#0", audio=False)) == 3
    clips = d.top_clips("conv#0", 18, split=None).clips
    known = {c.id for c in small.clips}
    for clip in clips:
        if clip.clip.id in known:
            assert clip.audio.size > 0
        else:
            with pytest.raises(AudioDissectError, match="not in the probing set given"):
                clip.audio


def test_stored_evidence_that_is_missing_or_damaged_is_named(framed, tmp_path):
    """Every stage that reads a method's stored evidence (stability, causal, the SAE comparison) reads it through
    RunDir.evidence: a missing file says which stage makes it, a damaged or pickled one is refused, naming it."""
    run = RunDir(copy_run(framed, tmp_path), create=False)
    with pytest.raises(AudioDissectError, match="has no tab evidence") as info:
        run.evidence("tab")
    assert "audiodissect identify" in info.value.hint
    path = run.evidence_path("tab")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an array")
    with pytest.raises(AudioDissectError, match="cannot read .*tab.npy as an array"):
        run.evidence("tab")
    np.save(path, np.array([{"pickled": True}], dtype=object), allow_pickle=True)
    with pytest.raises(AudioDissectError, match="as an array"):
        run.evidence("tab")
    np.save(path, np.eye(3, dtype=np.float32))
    assert np.array_equal(run.evidence("tab"), np.eye(3, dtype=np.float32))
