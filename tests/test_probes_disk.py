"""Probing sets read from disk: ESC-50, UrbanSound8K, GTZAN, label folders, CSV manifests."""

from __future__ import annotations

import csv
import functools
import logging
from pathlib import Path

import numpy as np
import pytest
import signals
import soundfile as sf

from audiodissect.audio import resample
from audiodissect.errors import AudioDissectError
from audiodissect.probes import HELDOUT, PROBE, PROBE_NAMES, load_probe
from audiodissect.probes.splits import seeded_split, unique_ids

RNG_SEED = 1234


tone = functools.partial(signals.tone, seconds=0.2)
noise = functools.partial(signals.noise, seconds=0.2)


def write_bad_files(folder: Path, stems: dict[str, str]) -> None:
    """Write the four kinds of bad file under the names `stems` maps kinds to."""
    folder.mkdir(parents=True, exist_ok=True)
    if "corrupt" in stems:
        (folder / stems["corrupt"]).write_bytes(b"RIFF\x10\x00\x00\x00this is not audio at all")
    if "empty" in stems:
        sf.write(folder / stems["empty"], np.zeros(0, dtype=np.float32), 16000, subtype="PCM_16")
    if "zero" in stems:
        sf.write(folder / stems["zero"], np.zeros(3200, dtype=np.float32), 16000, subtype="PCM_16")
    if "nan" in stems:
        nan = noise(np.random.default_rng(0))
        nan[100] = np.nan
        sf.write(folder / stems["nan"], nan, 16000, subtype="FLOAT")


BAD_REASONS = {"corrupt": "cannot decode audio", "empty": "empty audio", "zero": "silent",
               "nan": "NaN", "missing": "file not found"}


def assert_bad_files_reported(probe, stems: dict[str, str], caplog) -> None:
    reasons = {Path(s.source).name: s.reason for s in probe.skipped}
    assert len(probe.skipped) == len(stems)
    for kind, name in stems.items():
        assert BAD_REASONS[kind] in reasons[name], (kind, reasons[name])
        assert any(name in r.getMessage() and r.levelno == logging.WARNING and r.name == "audiodissect"
                   for r in caplog.records), name
    assert f"{len(stems)} bad files skipped" in probe.describe()
    for clip in probe:
        assert Path(clip.path).name not in reasons


# ---------------------------------------------------------------- ESC-50

ESC_BAD = {"corrupt": "5-9-A-1.wav", "empty": "1-8-A-0.wav", "zero": "2-7-A-1.wav",
           "nan": "3-6-A-0.wav", "missing": "4-5-A-1.wav"}


@pytest.fixture
def esc50(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    root = tmp_path / "ESC-50"
    (root / "meta").mkdir(parents=True)
    audio = root / "audio"
    audio.mkdir()
    rows = []
    good = [("1-100-A-0.wav", 1, 0, "dog"), ("2-100-A-0.wav", 2, 0, "dog"), ("5-100-A-0.wav", 5, 0, "dog"),
            ("1-200-A-20.wav", 1, 20, "crying_baby"), ("3-200-A-20.wav", 3, 20, "crying_baby"),
            ("5-200-A-20.wav", 5, 20, "crying_baby")]
    for name, fold, target, category in good:
        sf.write(audio / name, noise(rng), 16000, subtype="PCM_16")
        rows.append([name, fold, target, category, "True" if category == "dog" else "False", name[2:5], "A"])
    # a stereo 44.1 kHz file: left = tone, right = -tone / 2, so the mono mix is tone / 4
    left = tone(rate=44100, seconds=0.25)
    sf.write(audio / "4-300-A-0.wav", np.stack([left, -0.5 * left], axis=1), 44100, subtype="FLOAT")
    rows.append(["4-300-A-0.wav", 4, 0, "dog", "True", "300", "A"])
    write_bad_files(audio, ESC_BAD)
    for kind, name in ESC_BAD.items():
        rows.append([name, int(name[0]), 1, "rooster", "False", "999", "A"])
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        w.writerows(rows)
    return root


def test_esc50_labels_folds_split_and_bad_files(esc50, caplog):
    caplog.set_level(logging.WARNING, logger="audiodissect")
    probe = load_probe("esc50", root=str(esc50))
    assert [c.id for c in probe] == ["1-100-A-0", "2-100-A-0", "5-100-A-0", "1-200-A-20", "3-200-A-20",
                                     "5-200-A-20", "4-300-A-0"]
    assert probe.labels == ["crying_baby", "dog"]
    assert {c.id: c.split for c in probe if c.split == HELDOUT} == {"5-100-A-0": HELDOUT,
                                                                    "5-200-A-20": HELDOUT}
    first = probe[0]
    assert first.metadata == {"fold": 1, "target": 0, "esc10": True, "src_file": "100", "take": "A"}
    assert first.path == str(esc50 / "audio" / "1-100-A-0.wav")
    assert_bad_files_reported(probe, ESC_BAD, caplog)
    # other held-out folds
    probe2 = load_probe("esc50", root=str(esc50), heldout_folds=[1, 2])
    assert [c.id for c in probe2.clips if c.split == HELDOUT] == ["1-100-A-0", "2-100-A-0", "1-200-A-20"]


def test_esc50_stereo_44k_is_mixed_and_resampled(esc50):
    probe = load_probe("esc50", root=str(esc50))
    i = [c.id for c in probe].index("4-300-A-0")
    raw, rate = probe._read(i)
    assert rate == 44100
    np.testing.assert_allclose(raw, 0.25 * tone(rate=44100, seconds=0.25), atol=1e-6)
    at16 = probe.audio(i, sample_rate=16000)
    assert at16.shape == (4000,) and at16.dtype == np.float32
    np.testing.assert_allclose(at16, resample(raw, 44100, 16000), atol=1e-7)
    # the tone keeps its frequency and level away from the edges
    spectrum = np.abs(np.fft.rfft(at16))
    assert abs(np.argmax(spectrum) * 16000 / at16.size - 440.0) < 5
    assert 0.12 < np.abs(at16[500:-500]).max() < 0.13  # 0.25 x the 0.5 tone


def test_esc50_spec_round_trip(esc50):
    probe = load_probe("esc50", root=str(esc50), heldout_folds=(3,))
    assert probe.spec == {"name": "esc50", "root": str(esc50), "heldout_folds": [3]}
    again = load_probe(**probe.spec)
    assert [(c.id, c.split) for c in again] == [(c.id, c.split) for c in probe]


def test_esc50_bad_roots_and_options(esc50, tmp_path):
    with pytest.raises(AudioDissectError) as info:
        load_probe("esc50")
    assert "meta/esc50.csv" in info.value.hint
    with pytest.raises(AudioDissectError, match="does not exist"):
        load_probe("esc50", root=str(tmp_path / "nowhere"))
    with pytest.raises(AudioDissectError, match="does not look like ESC-50") as info:
        load_probe("esc50", root=str(tmp_path))
    assert "meta/esc50.csv" in info.value.hint
    with pytest.raises(AudioDissectError, match=r"heldout_folds \[7\]"):
        load_probe("esc50", root=str(esc50), heldout_folds=7)
    with pytest.raises(AudioDissectError, match="unknown esc50 option 'heldout_fold'"):
        load_probe("esc50", root=str(esc50), heldout_fold=5)
    broken = tmp_path / "broken"
    (broken / "meta").mkdir(parents=True)
    (broken / "meta" / "esc50.csv").write_text("filename,fold,category\nx.wav,1,dog\n")
    with pytest.raises(AudioDissectError, match="lacks the column") as info:
        load_probe("esc50", root=str(broken))
    assert "found columns: filename, fold, category" in info.value.hint


# ---------------------------------------------------------------- UrbanSound8K

def test_urbansound8k(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="audiodissect")
    rng = np.random.default_rng(RNG_SEED)
    root = tmp_path / "UrbanSound8K"
    (root / "metadata").mkdir(parents=True)
    rows = []
    for fold, name, cls, class_id in [(1, "100032-3-0-0.wav", "dog_bark", 3), (1, "7061-6-0-0.ogg", "gun_shot", 6),
                                      (10, "100032-3-0-0.wav", "dog_bark", 3), (10, "7383-3-0-0.flac", "dog_bark", 3)]:
        folder = root / "audio" / f"fold{fold}"
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / name, noise(rng, rate=22050), 22050)
        rows.append([name, name.split("-")[0], 0.0, 0.2, 1, fold, class_id, cls])
    write_bad_files(root / "audio" / "fold2", {"nan": "1-1-1-1.wav"})
    rows.append(["1-1-1-1.wav", 1, 0.0, 0.2, 2, 2, 1, "car_horn"])
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"])
        w.writerows(rows)
    probe = load_probe("urbansound8k", root=str(root))
    # the stem shared by two folds is qualified by its fold
    assert [(c.id, c.label, c.split) for c in probe] == [
        ("fold1-100032-3-0-0", "dog_bark", PROBE), ("7061-6-0-0", "gun_shot", PROBE),
        ("fold10-100032-3-0-0", "dog_bark", HELDOUT), ("7383-3-0-0", "dog_bark", HELDOUT)]
    assert probe[1].metadata == {"fold": 1, "fsID": 7061, "start": 0.0, "end": 0.2, "salience": 1,
                                 "classID": 6}
    assert probe.audio(1, sample_rate=16000).shape == (3200,)  # ogg at 22.05 kHz, 0.2 s
    assert [(Path(s.source).name, s.reason) for s in probe.skipped] == [
        ("1-1-1-1.wav", "audio holds NaN or infinite samples")]
    assert "car_horn" not in probe.labels
    again = load_probe(**probe.spec)
    assert [c.id for c in again] == [c.id for c in probe]
    with pytest.raises(AudioDissectError, match="does not look like UrbanSound8K"):
        load_probe("urbansound8k", root=str(tmp_path))


# ---------------------------------------------------------------- GTZAN

@pytest.fixture
def gtzan(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    genres = tmp_path / "gtzan" / "genres"
    for genre in ("blues", "jazz"):
        (genres / genre).mkdir(parents=True)
        for k in range(5):
            sf.write(genres / genre / f"{genre}.{k:05d}.wav", noise(rng, rate=22050), 22050, subtype="PCM_16")
    (genres / "jazz" / "jazz.00054.wav").write_bytes(b"\x00" * 64)  # the famous broken file
    (genres / "blues" / "notes.txt").write_text("not audio")
    return tmp_path / "gtzan"


def test_gtzan_seeded_split(gtzan, caplog):
    caplog.set_level(logging.WARNING, logger="audiodissect")
    probe = load_probe("gtzan", root=str(gtzan))
    assert len(probe) == 10 and probe.labels == ["blues", "jazz"]
    assert probe[0].id == "blues.00000"
    assert [(Path(s.source).name, s.reason.split(" (")[0]) for s in probe.skipped] == [
        ("jazz.00054.wav", "cannot decode audio")]
    # each file's split is the seeded draw of "<genre>/<file name>"
    assert [c.split for c in probe] == seeded_split([f"{c.label}/{Path(c.path).name}" for c in probe], seed=0)
    # same seed, same split; the genres folder itself is accepted as root
    same = load_probe("gtzan", root=str(gtzan / "genres"))
    assert [(c.id, c.split) for c in same] == [(c.id, c.split) for c in probe]
    again = load_probe(**probe.spec)
    assert [(c.id, c.split) for c in again] == [(c.id, c.split) for c in probe]
    splits = {seed: tuple(c.split for c in load_probe("gtzan", root=str(gtzan), seed=seed))
              for seed in range(6)}
    assert len(set(splits.values())) > 1


def test_gtzan_wrong_root(tmp_path):
    (tmp_path / "stuff" / "cats").mkdir(parents=True)
    with pytest.raises(AudioDissectError, match="does not look like GTZAN") as info:
        load_probe("gtzan", root=str(tmp_path / "stuff"))
    assert "genres/<genre>/*.wav" in info.value.hint


# ---------------------------------------------------------------- label folders

def test_folder_layout_with_mixed_formats(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="audiodissect")
    rng = np.random.default_rng(RNG_SEED)
    root = tmp_path / "clips"
    for label, ext in (("bird", "wav"), ("rain", "flac"), ("wind", "ogg")):
        (root / label).mkdir(parents=True)
        for k in range(5):
            sf.write(root / label / f"take{k}.{ext}", noise(rng), 16000)
    sf.write(root / "bird" / "stereo.WAV", np.stack([noise(rng), noise(rng)], axis=1), 16000)
    bad = {"corrupt": "broken.wav", "empty": "empty.wav", "zero": "zero.flac", "nan": "nan.wav"}
    write_bad_files(root / "rain", bad)
    probe = load_probe("folder", root=str(root))
    assert probe.labels == ["bird", "rain", "wind"]
    ids = [c.id for c in probe]
    assert "bird-take0" in ids and "wind-take4" in ids and "stereo" in ids  # take0 occurs in each folder
    assert len(ids) == 16
    assert_bad_files_reported(probe, bad, caplog)
    # each file's split is the seeded draw of "<label>/<file name>", whatever the other files
    assert [c.split for c in probe] == seeded_split([f"{c.label}/{Path(c.path).name}" for c in probe], seed=0)
    assert {PROBE, HELDOUT} <= {c.split for c in probe}
    stereo = probe.audio(ids.index("stereo"), sample_rate=16000)
    assert stereo.ndim == 1 and stereo.shape == (3200,)
    assert [c.id for c in load_probe(**probe.spec)] == ids


def test_folder_layout_with_fixed_split(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    root = tmp_path / "split"
    for split, n in (("probe", 3), ("heldout", 2)):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for k in range(n):
                sf.write(root / split / label / f"{split}{k}.wav", noise(rng), 8000)
    probe = load_probe("folder", root=str(root))
    assert sorted((c.split, c.label) for c in probe).count((HELDOUT, "a")) == 2
    assert [c.split for c in probe].count(PROBE) == 6
    assert all(Path(c.path).parent.parent.name == c.split for c in probe)
    assert probe.audio(0, sample_rate=16000).shape == (6400,)


def test_folder_without_audio(tmp_path):
    (tmp_path / "empty_label").mkdir()
    with pytest.raises(AudioDissectError, match="holds no audio files") as info:
        load_probe("folder", root=str(tmp_path))
    assert "<root>/<label>/*" in info.value.hint


def test_no_usable_clip_is_an_error(tmp_path):
    write_bad_files(tmp_path / "only_bad", {"corrupt": "a.wav", "empty": "b.wav", "zero": "c.wav", "nan": "d.wav"})
    with pytest.raises(AudioDissectError, match="none of the 4 files"):
        load_probe("folder", root=str(tmp_path))


# ---------------------------------------------------------------- CSV manifest

def test_csv_manifest(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="audiodissect")
    rng = np.random.default_rng(RNG_SEED)
    data = tmp_path / "data"
    (data / "x").mkdir(parents=True)
    (data / "y").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for k in range(4):
        sf.write(data / "x" / f"clip{k}.wav", noise(rng), 16000)
        sf.write(data / "y" / f"clip{k}.flac", noise(rng), 16000)
    sf.write(elsewhere / "far.ogg", noise(rng), 16000)
    manifest = data / "manifest.csv"
    lines = ["path,label,split,speaker"]
    lines += [f"x/clip{k}.wav,cat,,s{k}" for k in range(4)]
    lines += [f"y/clip{k}.flac,dog,{'heldout' if k == 0 else 'probe'},s{k}" for k in range(4)]
    lines += [f"{elsewhere / 'far.ogg'},dog,Held-Out,s9", "x/missing.wav,cat,probe,s0"]
    manifest.write_text("\n".join(lines) + "\n")
    probe = load_probe("csv", root=str(manifest))
    ids = [c.id for c in probe]
    assert ids == ["x-clip0", "x-clip1", "x-clip2", "x-clip3", "y-clip0", "y-clip1", "y-clip2", "y-clip3", "far"]
    assert {c.id: c.split for c in probe if c.label == "dog"} == {
        "y-clip0": HELDOUT, "y-clip1": PROBE, "y-clip2": PROBE, "y-clip3": PROBE, "far": HELDOUT}
    # rows without a split: the seeded draw of their path cell
    cats = [c for c in probe if c.label == "cat"]
    assert [c.split for c in cats] == seeded_split([f"x/clip{k}.wav" for k in range(4)], seed=0)
    assert probe[0].metadata == {"speaker": "s0"}
    assert [(Path(s.source).name, s.reason) for s in probe.skipped] == [("missing.wav", "file not found")]
    assert probe.spec["name"] == "csv" and probe.spec["root"] == str(manifest)
    assert [c.id for c in load_probe(**probe.spec)] == ids


def test_csv_manifest_errors(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label\na.wav,cat\n")
    with pytest.raises(AudioDissectError, match="lacks the column") as info:
        load_probe("csv", root=str(manifest))
    assert "path,label[,split]" in info.value.hint
    sf.write(tmp_path / "a.wav", tone(), 16000)
    manifest.write_text("path,label,split\na.wav,cat,train\n")
    with pytest.raises(AudioDissectError, match="line 2: unknown split 'train'"):
        load_probe("csv", root=str(manifest))
    with pytest.raises(AudioDissectError, match="is not a file"):
        load_probe("csv", root=str(tmp_path))


# ---------------------------------------------------------------- registry and helpers

def test_registry_names_and_unknown_name():
    assert PROBE_NAMES == ("soundbank", "scenes", "esc50", "urbansound8k", "gtzan", "folder", "csv",
                           "hf-dataset:<id or path>")
    with pytest.raises(AudioDissectError, match="unknown probe set 'esc-50'") as info:
        load_probe("esc-50", root="x")
    assert info.value.hint.startswith("closest: esc50")
    for name in PROBE_NAMES[2:-1]:  # the generated sets need no root
        with pytest.raises(AudioDissectError, match="needs a root"):
            load_probe(name)


def test_unique_ids():
    assert unique_ids(["a", "b", "a"], ["f1", "f2", "f3"]) == ["f1-a", "b", "f3-a"]
    assert unique_ids(["a", "a", "q-a"], ["q", "q", "x"]) == ["q-a", "q-a-2", "q-a-3"]


def test_content_key_changes_when_a_file_changes(tmp_path):
    rate = 8000
    for label in ("dog", "rain"):
        (tmp_path / label).mkdir()
        sf.write(tmp_path / label / "a.wav", 0.1 * np.ones(rate, dtype=np.float32), rate)
    probe = load_probe("folder", root=str(tmp_path), heldout_fraction=0.0)
    key = probe.content_key()
    assert load_probe(**probe.spec).content_key() == key
    sf.write(tmp_path / "dog" / "a.wav", 0.2 * np.ones(2 * rate, dtype=np.float32), rate)
    assert load_probe(**probe.spec).content_key() != key
