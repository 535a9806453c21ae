"""Bad probing-set input: each case gets a clear error or a named skip."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiodissect.errors import AudioDissectError
from audiodissect.probes import HELDOUT, PROBE, load_probe
from audiodissect.probes.decode import read_clip, wav_declared_frames

RATE = 16000


def noise(seed: int, n: int = 3200) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


@pytest.fixture
def clips(tmp_path) -> Path:
    """Six good wav files a0..a5 in ``<tmp>/data``."""
    data = tmp_path / "data"
    data.mkdir()
    for k in range(6):
        sf.write(data / f"a{k}.wav", noise(k), RATE, subtype="PCM_16")
    return data


def manifest(folder: Path, lines: list[str]) -> str:
    path = folder / "m.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_repeated_rows_are_read_once_with_a_warning(clips, caplog):
    caplog.set_level(logging.WARNING, logger="audiodissect")
    rows = ["path,label,split", "a0.wav,dog,probe", "a1.wav,dog,heldout", "a0.wav,dog,probe",
            "./a1.wav,dog,heldout", "a2.wav,cat,"]
    probe = load_probe("csv", root=manifest(clips, rows))
    assert [(c.id, c.split) for c in probe][:2] == [("a0", PROBE), ("a1", HELDOUT)]
    assert [c.id for c in probe] == ["a0", "a1", "a2"]
    warning = " ".join(r.getMessage() for r in caplog.records if "more than once" in r.getMessage())
    assert "a0.wav (lines 2 and 4)" in warning and "./a1.wav (lines 3 and 5)" in warning


@pytest.mark.parametrize("second", ["a0.wav,cat,probe", "a0.wav,dog,heldout", "a0.wav,dog,"])
def test_repeats_that_disagree_are_an_error_naming_both_lines(clips, second):
    rows = ["path,label,split", "a1.wav,dog,probe", "a0.wav,dog,probe", second]
    with pytest.raises(AudioDissectError, match=r"lists a0.wav twice .*: line 3 \(dog, probe\) and line 4") as info:
        load_probe("csv", root=manifest(clips, rows))
    assert "both the probe and held-out splits" in info.value.hint


def test_no_file_is_in_both_splits(clips):
    rows = ["path,label,split"] + [f"a{k}.wav,dog,{'heldout' if k < 2 else ''}" for k in range(6)]
    rows += ["a0.wav,dog,heldout", "a3.wav,dog,"]
    probe = load_probe("csv", root=manifest(clips, rows))
    paths = [Path(c.path).name for c in probe]
    assert len(paths) == len(set(paths)) == 6


@pytest.mark.parametrize("row, what", [("a1.wav,dog,probe,extra", "4 cells, but the header has 3 columns"),
                                       ("a1.wav,dog", "2 cells, but the header has 3 columns"),
                                       ("a1.wav,,probe", "a1.wav has no label"),
                                       ("a1.wav,   ,probe", "a1.wav has no label")])
def test_ragged_rows_and_missing_labels_name_the_file_and_line(clips, row, what):
    path = manifest(clips, ["path,label,split", "a0.wav,dog,probe", "", row])
    with pytest.raises(AudioDissectError) as info:
        load_probe("csv", root=path)
    assert info.value.message.startswith(f"{path}, line 4: ") and what in info.value.message


def test_a_quoted_multiline_cell_keeps_line_numbers_right(clips):
    path = manifest(clips, ["path,label,note", 'a0.wav,dog,"two', 'lines"', "a1.wav,,x"])
    with pytest.raises(AudioDissectError, match=r"line 4: a1.wav has no label"):
        load_probe("csv", root=path)


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a wav file's sample data, leaving its header's declared size as it was."""
    data = path.read_bytes()
    path.write_bytes(data[:44 + int((len(data) - 44) * keep)])


def test_a_truncated_wav_is_skipped_never_read_short(clips, caplog):
    caplog.set_level(logging.WARNING, logger="audiodissect")
    truncate(clips / "a3.wav")
    with open(clips / "a3.wav", "rb") as f:
        assert wav_declared_frames(f) == 3200
    assert sf.info(str(clips / "a3.wav")).frames == 1600  # what libsndfile alone reports
    rows = ["path,label,split"] + [f"a{k}.wav,dog,probe" for k in range(6)]
    probe = load_probe("csv", root=manifest(clips, rows))
    assert [c.id for c in probe] == ["a0", "a1", "a2", "a4", "a5"]
    [skip] = probe.skipped
    assert Path(skip.source).name == "a3.wav"
    assert skip.reason == "truncated: the header declares 3200 frames, the file holds 1600"
    assert any("a3.wav" in r.getMessage() and "truncated" in r.getMessage() for r in caplog.records)
    # the same from the folder layout and from bytes
    (clips.parent / "folder" / "dog").mkdir(parents=True)
    for k in (0, 3):
        (clips.parent / "folder" / "dog" / f"a{k}.wav").write_bytes((clips / f"a{k}.wav").read_bytes())
    folder = load_probe("folder", root=str(clips.parent / "folder"), heldout_fraction=0.0)
    assert [(Path(s.source).name, s.reason.split(":")[0]) for s in folder.skipped] == [("a3.wav", "truncated")]
    with pytest.raises(AudioDissectError, match="truncated"):
        read_clip((clips / "a3.wav").read_bytes())


def test_a_wav_of_unknown_length_is_read_whole(clips):
    data = bytearray((clips / "a2.wav").read_bytes())
    data[40:44] = b"\xff\xff\xff\xff"  # the data size a streaming writer leaves
    audio, rate = read_clip(bytes(data))
    assert rate == RATE and audio.shape == (3200,)


def test_empty_probe_split_is_an_error(clips):
    path = manifest(clips, ["path,label,split"] + [f"a{k}.wav,dog,heldout" for k in range(6)])
    with pytest.raises(AudioDissectError, match="holds all its 6 usable clips out: its probe split is empty") as info:
        load_probe("csv", root=path)
    assert path in info.value.message and "split=probe" in info.value.hint
    # a probe row whose file is bad leaves the probe split empty too
    (clips / "bad.wav").write_bytes(b"RIFF....not audio")
    path = manifest(clips, ["path,label,split", "bad.wav,dog,probe", "a0.wav,dog,heldout"])
    with pytest.raises(AudioDissectError, match="probe split is empty"):
        load_probe("csv", root=path)
    # ESC-50-like folds: holding out every fold
    esc = clips.parent / "esc"
    (esc / "meta").mkdir(parents=True)
    (esc / "audio").mkdir()
    sf.write(esc / "audio" / "1-1-A-0.wav", noise(1), RATE)
    (esc / "meta" / "esc50.csv").write_text("filename,fold,target,category,esc10,src_file,take\n"
                                            "1-1-A-0.wav,1,0,dog,True,1,A\n")
    with pytest.raises(AudioDissectError, match="probe split is empty") as info:
        load_probe("esc50", root=str(esc), heldout_folds=1)
    assert "heldout_folds" in info.value.hint


def test_an_empty_manifest_is_an_error(clips):
    with pytest.raises(AudioDissectError, match="no audio files found"):
        load_probe("csv", root=manifest(clips, ["path,label,split"]))


def test_silent_and_corrupt_files_are_named_skips(clips):
    sf.write(clips / "quiet.wav", np.zeros(1600, dtype=np.float32), RATE, subtype="PCM_16")
    (clips / "corrupt.flac").write_bytes(b"fLaC" + bytes(range(256)) * 4)
    half = clips / "half.flac"
    sf.write(half, noise(9, 48000), RATE)
    half.write_bytes(half.read_bytes()[:20000])
    rows = ["path,label,split", "a0.wav,dog,probe", "quiet.wav,dog,probe", "corrupt.flac,dog,probe",
            "half.flac,dog,probe"]
    probe = load_probe("csv", root=manifest(clips, rows))
    assert [c.id for c in probe] == ["a0"]
    reasons = {Path(s.source).name: s.reason for s in probe.skipped}
    assert reasons["quiet.wav"] == "audio is silent (all samples zero)"
    assert reasons["corrupt.flac"].startswith("cannot decode audio (")
    assert reasons["half.flac"].startswith(("cannot decode audio (", "truncated: "))
    assert "3 bad files skipped" in probe.describe()


def test_a_file_name_that_is_not_utf8_is_a_named_skip(tmp_path, caplog):
    import os

    data = tmp_path / "data"
    for label in ("a", "b"):
        (data / label).mkdir(parents=True)
        for k in range(3):
            sf.write(data / label / f"{label}{k}.wav", noise(10 * ord(label) + k), RATE, subtype="PCM_16")
    os.rename(os.fsencode(data / "a" / "a0.wav"), os.fsencode(data / "a") + b"/caf\xe9.wav")  # a Latin-1 name
    with caplog.at_level(logging.WARNING, logger="audiodissect"):
        probe = load_probe("folder", root=str(data))
    assert sorted(c.id for c in probe) == ["a1", "a2", "b0", "b1", "b2"]
    (skip,) = probe.skipped
    assert skip.source.endswith("caf\\xe9.wav") and "not valid UTF-8" in skip.reason and "convmv" in skip.reason
    skip.source.encode("utf-8")  # printable, storable in the run's JSON
    assert any("caf\\xe9.wav" in r.getMessage() for r in caplog.records)


def test_antiphase_stereo_keeps_one_channel_with_a_warning(clips, caplog):
    left = noise(3, 16000)
    sf.write(clips / "anti.wav", np.stack([left, -left], axis=1), RATE, subtype="FLOAT")
    sf.write(clips / "wide.wav", np.stack([left, 0.5 * left + 0.1 * noise(4, 16000)], axis=1), RATE, subtype="FLOAT")
    with caplog.at_level(logging.WARNING, logger="audiodissect"):
        anti, _ = read_clip(clips / "anti.wav")
        wide, _ = read_clip(clips / "wide.wav")
    np.testing.assert_allclose(anti, left, atol=1e-7)  # not the near-silence of (L + R) / 2
    np.testing.assert_allclose(wide, (left + 0.5 * left + 0.1 * noise(4, 16000)) / 2, atol=1e-6)  # a plain mix
    warned = [r.getMessage() for r in caplog.records if "cancel out" in r.getMessage()]
    assert len(warned) == 1 and "anti.wav" in warned[0] and "channel 1" in warned[0]
