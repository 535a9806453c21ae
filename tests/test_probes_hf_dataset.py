"""Probing sets from Hugging Face data sets saved with save_to_disk: clips, labels, splits, audio, errors."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
import soundfile as sf

from audiodissect.audio import resample
from audiodissect.errors import AudioDissectError
from audiodissect.probes import HELDOUT, HF_DATASET, PROBE, PROBE_NAMES, load_probe, probe_options
from audiodissect.probes.splits import seeded_split

datasets = pytest.importorskip("datasets")

RATE = 16000


def encoded(audio: np.ndarray, *, rate: int = RATE, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def waves(n: int, seed: int = 7) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(1600 + 160 * i)).astype(np.float32) for i in range(n)]  # never clipped


def audio_dataset(cells: list[dict], columns: dict, features: dict, *, cast: bool = True) -> object:
    """A Dataset whose ``audio`` column holds `cells` ({"bytes", "path"}), as an Audio feature if `cast`.

    (Writing cells through the Audio feature itself would need torchcodec.)
    """
    spec = datasets.Features({"audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
                              **features})
    data = datasets.Dataset.from_dict({"audio": cells, **columns}, features=spec)
    return data.cast_column("audio", datasets.Audio()) if cast else data


@pytest.fixture(scope="module")
def esc_like(tmp_path_factory):
    """A DatasetDict (train, test) with ClassLabel labels, a fold column and wav + flac bytes."""
    folder = tmp_path_factory.mktemp("hf") / "esc_like"
    audio = waves(10)
    cells = [{"bytes": encoded(a, fmt="FLAC" if i % 2 else "WAV", subtype="PCM_16"),
              "path": f"{i}-clip.{'flac' if i % 2 else 'wav'}"} for i, a in enumerate(audio)]
    labels = datasets.ClassLabel(names=["dog", "rain", "crying_baby"])
    train = audio_dataset(cells, {"category": [i % 3 for i in range(10)], "fold": [1 + i % 5 for i in range(10)],
                                  "esc10": [i % 2 == 0 for i in range(10)]},
                          {"category": labels, "fold": datasets.Value("int64"), "esc10": datasets.Value("bool")})
    test = audio_dataset(cells[:3], {"category": [0, 1, 2], "fold": [1, 1, 2], "esc10": [True, False, True]},
                         {"category": labels, "fold": datasets.Value("int64"), "esc10": datasets.Value("bool")})
    datasets.DatasetDict(train=train, test=test).save_to_disk(str(folder))
    return folder, audio


def test_registry_lists_hf_dataset():
    assert HF_DATASET == "hf-dataset:<id or path>" and HF_DATASET in PROBE_NAMES
    assert {"split", "audio_column", "label_column", "heldout_column", "heldout_values"} <= set(
        probe_options("hf-dataset:/some/folder"))


def test_class_labels_fold_split_audio_and_spec(esc_like):
    folder, audio = esc_like
    probe = load_probe(f"hf-dataset:{folder}", split="train", label_column="category",
                       heldout_column="fold", heldout_values=[5, 4])
    assert probe.name == "hf-dataset" and len(probe) == 10 and not probe.skipped
    assert [c.id for c in probe] == [f"{i}-clip" for i in range(10)]
    assert [c.label for c in probe] == [["dog", "rain", "crying_baby"][i % 3] for i in range(10)]
    assert [c.split for c in probe] == [HELDOUT if 1 + i % 5 in (4, 5) else PROBE for i in range(10)]
    assert probe[3].metadata == {"fold": 4, "esc10": False, "row": 3, "file": "3-clip.flac"}
    for i in (0, 1):  # wav and flac bytes decode to the written samples (16-bit)
        assert np.allclose(probe.audio(i, sample_rate=RATE), audio[i], atol=1 / 32767)
    assert np.allclose(probe.audio(1, sample_rate=8000), resample(probe.audio(1, sample_rate=RATE), RATE, 8000))
    again = load_probe(**probe.spec)
    assert again.spec == probe.spec and again.content_key() == probe.content_key()
    assert [(c.id, c.split) for c in again] == [(c.id, c.split) for c in probe]
    # the same data set through name + root
    assert load_probe("hf-dataset", root=str(folder), label_column="category").spec["name"] == f"hf-dataset:{folder}"


def test_other_split_and_seeded_fraction(esc_like):
    folder, _ = esc_like
    test = load_probe(f"hf-dataset:{folder}", split="test", label_column="category")
    assert [c.id for c in test] == ["0-clip", "1-clip", "2-clip"]
    train = load_probe(f"hf-dataset:{folder}", label_column="category", seed=5, heldout_fraction=0.5)
    assert [c.split for c in train] == seeded_split([f"{i}-clip.{'flac' if i % 2 else 'wav'}" for i in range(10)],
                                                    seed=5, fraction=0.5)
    assert {PROBE, HELDOUT} == {c.split for c in train}
    # a subset of the rows keeps every clip's split
    test_splits = [c.split for c in load_probe(f"hf-dataset:{folder}", split="test", label_column="category",
                                               seed=5, heldout_fraction=0.5)]
    assert test_splits == [c.split for c in train][:3]


def test_string_labels_single_dataset_and_content_key(tmp_path):
    audio = waves(6, seed=3)
    cells = [{"bytes": encoded(a), "path": None} for a in audio]
    names = ["bird", "bird", "wind", "wind", "bird", "wind"]
    data = audio_dataset(cells, {"label": names, "speaker": [f"s{i}" for i in range(6)]},
                         {"label": datasets.Value("string"), "speaker": datasets.Value("string")})
    data.save_to_disk(str(tmp_path / "plain"))
    probe = load_probe(f"hf-dataset:{tmp_path / 'plain'}", heldout_fraction=0.0)
    assert [c.label for c in probe] == names and [c.id for c in probe] == [f"row{i:06d}" for i in range(6)]
    assert probe[2].metadata == {"speaker": "s2", "row": 2}
    assert np.allclose(probe.audio(5, sample_rate=RATE), audio[5], atol=1 / 32767)
    # the same ids and labels over other audio get another content key
    louder = [{"bytes": encoded(0.5 * a), "path": None} for a in audio]
    audio_dataset(louder, {"label": names, "speaker": [f"s{i}" for i in range(6)]},
                  {"label": datasets.Value("string"), "speaker": datasets.Value("string")}
                  ).save_to_disk(str(tmp_path / "louder"))
    other = load_probe(f"hf-dataset:{tmp_path / 'louder'}", heldout_fraction=0.0)
    assert [c.id for c in other] == [c.id for c in probe]
    assert other.content_key() != probe.content_key()
    assert load_probe(**probe.spec).content_key() == probe.content_key()


def test_audio_paths_relative_to_the_folder_and_bad_rows(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="audiodissect")
    folder = tmp_path / "paths"
    (folder / "clips").mkdir(parents=True)
    audio = waves(4, seed=11)
    for i, a in enumerate(audio):
        sf.write(folder / "clips" / f"c{i}.wav", a, 22050, subtype="FLOAT")
    silent = encoded(np.zeros(800, dtype=np.float32))
    cells = ([{"bytes": None, "path": f"clips/c{i}.wav"} for i in range(4)]
             + [{"bytes": silent, "path": "quiet.wav"}, {"bytes": b"RIFF\x10\x00\x00\x00not audio", "path": "junk.wav"},
                {"bytes": None, "path": "clips/gone.wav"}])
    # plain {"bytes", "path"} records: saving an Audio column of paths needs the files in the working folder
    data = audio_dataset(cells, {"label": ["a", "b", "a", "b", "a", "b", "a"]}, {"label": datasets.Value("string")},
                         cast=False)
    data.save_to_disk(str(folder))
    probe = load_probe(f"hf-dataset:{folder}", heldout_fraction=0.0)
    assert [c.id for c in probe] == ["c0", "c1", "c2", "c3"]
    assert np.allclose(probe.audio(2, sample_rate=22050), audio[2], atol=1e-6)
    assert np.allclose(probe.audio(2, sample_rate=RATE), resample(audio[2], 22050, RATE), atol=1e-6)
    reasons = {s.source.rsplit("(", 1)[1].rstrip(")"): s.reason for s in probe.skipped}
    assert set(reasons) == {"quiet", "junk", "gone"}
    assert "silent" in reasons["quiet"] and "cannot decode audio" in reasons["junk"]
    assert reasons["gone"] == "file not found"
    assert "3 bad files skipped" in probe.describe()
    assert any("junk" in r.getMessage() for r in caplog.records)


def test_errors_name_what_is_there(esc_like, tmp_path):
    folder, _ = esc_like
    name = f"hf-dataset:{folder}"
    with pytest.raises(AudioDissectError, match="no column 'label'") as info:
        load_probe(name)  # the labels are in "category"
    assert info.value.hint == "its columns: audio, category, fold, esc10"
    with pytest.raises(AudioDissectError, match="no split 'validation'") as info:
        load_probe(name, split="validation", label_column="category")
    assert "train, test" in info.value.hint
    with pytest.raises(AudioDissectError, match=r"heldout_values \[9\] do not occur") as info:
        load_probe(name, label_column="category", heldout_column="fold", heldout_values=9)
    assert info.value.hint == "values present: 1, 2, 3, 4, 5"
    with pytest.raises(AudioDissectError, match="go together"):
        load_probe(name, label_column="category", heldout_column="fold")
    with pytest.raises(AudioDissectError, match="probe split is empty") as info:
        load_probe(name, label_column="category", heldout_column="fold", heldout_values=[1, 2, 3, 4, 5])
    assert "heldout_values" in info.value.hint
    with pytest.raises(AudioDissectError, match="does not hold audio") as info:
        load_probe(name, audio_column="esc10", label_column="category")
    assert "audio columns: audio" in info.value.hint
    with pytest.raises(AudioDissectError, match="unknown hf-dataset:<id or path> option 'labels'"):
        load_probe(name, labels="category")
    with pytest.raises(AudioDissectError, match="does not exist"):
        load_probe(f"hf-dataset:{tmp_path / 'nothing'}")
    with pytest.raises(AudioDissectError, match="not a data set saved with save_to_disk"):
        load_probe(f"hf-dataset:{tmp_path}")
    with pytest.raises(AudioDissectError, match="needs its data set once"):
        load_probe(name, root=str(folder))
    unlabelled = audio_dataset([{"bytes": encoded(waves(1)[0]), "path": None}], {"label": [""]},
                               {"label": datasets.Value("string")})
    unlabelled.save_to_disk(str(tmp_path / "unlabelled"))
    with pytest.raises(AudioDissectError, match="row 0 of .* has no label"):
        load_probe(f"hf-dataset:{tmp_path / 'unlabelled'}")
    assert load_probe(f"hf-dataset:{tmp_path / 'unlabelled'}", label_column=None, heldout_fraction=0.0)[0].label is None


def test_missing_datasets_package_names_the_extra(monkeypatch, esc_like):
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets now raises ImportError
    with pytest.raises(AudioDissectError, match="needs the `datasets` package") as info:
        load_probe(f"hf-dataset:{esc_like[0]}")
    assert "audiodissect[hf]" in info.value.hint
