"""The built-in soundbank: generation, determinism, cache, labels, split, audio."""

from __future__ import annotations

import numpy as np
import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.probes import HELDOUT, PROBE, SOUNDBANK_CONCEPTS, SOUNDBANK_LABELS, load_probe
from audiodissect.probes import soundbank as sb
from audiodissect.probes.phrases import INSTRUMENT_BY_NAME
from audiodissect.probes.splits import numbered_split, seeded_split

N_PER_LABEL = 4


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    root = tmp_path_factory.mktemp("soundbank")
    return load_probe("soundbank", root=str(root), seed=0, clips_per_label=N_PER_LABEL)


def _centroid(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(audio.size, 1.0 / rate)
    return float((spectrum * freqs).sum() / spectrum.sum())


def test_labels_and_concept_file():
    assert len(SOUNDBANK_LABELS) == 17
    assert SOUNDBANK_LABELS[-1] == "speech"
    assert "acoustic guitar" in SOUNDBANK_LABELS and "drum kit" in SOUNDBANK_LABELS
    lines = SOUNDBANK_CONCEPTS.read_text(encoding="utf-8").splitlines()
    assert lines == list(SOUNDBANK_LABELS)


def test_every_label_has_its_clips(bank):
    assert bank.labels == sorted(SOUNDBANK_LABELS)
    assert bank.metadata["dropped"] == {}
    for label in SOUNDBANK_LABELS:
        assert sum(c.label == label for c in bank) == N_PER_LABEL
    assert bank[0].id == "piano-0000"
    assert "acoustic_guitar-0003" in {c.id for c in bank}


def test_music_metadata_follows_the_instrument(bank):
    for clip in bank:
        meta = clip.metadata
        if clip.label == "speech":
            assert set(meta) >= {"voice", "text", "rate", "pitch"}
            assert meta["voice"].startswith("en")
            continue
        inst = INSTRUMENT_BY_NAME[clip.label]
        assert (meta["program"], meta["bank"], meta["family"]) == (inst.program, inst.bank, inst.family)
        assert 30 <= meta["velocity"] <= 127 and 40 <= meta["tempo"] <= 400
        if clip.label == "drum kit":
            assert meta["bank"] == 128 and meta["family"] == "drums"
            assert set(meta["notes"]) <= {36, 38, 42, 45, 46, 47, 49, 50, 51}
            assert 36 in meta["notes"]  # every pattern has a kick
        else:
            assert 4 <= len(meta["notes"]) <= 8
            assert inst.low <= min(meta["notes"]) and max(meta["notes"]) <= inst.high
            assert len(set(meta["notes"])) >= 1 and meta["pattern"] in (
                "arpeggio", "scale", "repeated", "melody")
    assert INSTRUMENT_BY_NAME["flute"].family == "pipe"
    assert INSTRUMENT_BY_NAME["bass guitar"].family == "bass"


def test_audio_is_16k_three_seconds_and_normalised(bank):
    assert bank.sample_rate == 16000 and bank.waveforms.shape == (len(bank), 48000)
    for i in range(len(bank)):
        audio = bank.audio(i, sample_rate=16000)
        assert audio.dtype == np.float32 and audio.shape == (48000,)
        peak = float(np.abs(audio).max())
        # peak 0.7 times a gain of -3..0 dB, int16-rounded
        assert 0.7 * 10 ** (-3 / 20) - 1e-3 <= peak <= 0.7 + 1e-4, bank[i].id
        assert abs(audio[-1]) < 1e-3  # faded out
    assert bank.audio(0, sample_rate=8000).shape == (24000,)


def test_split_is_even_per_label_and_follows_each_clip(bank, tmp_path):
    numbers = [int(c.id.rsplit("-", 1)[1]) for c in bank]
    assert [c.split for c in bank] == numbered_split([c.label for c in bank], numbers, seed=0)
    for label in SOUNDBANK_LABELS:
        splits = [c.split for c in bank if c.label == label]
        assert splits.count(HELDOUT) in (0, 1)  # floor or ceil of 0.2 * 4
    # a subset (fewer clips per label, fewer labels) keeps every clip's split
    full = {c.id: c.split for c in bank}
    subset = load_probe("soundbank", root=str(tmp_path), seed=0, clips_per_label=3, labels=["piano", "harp"])
    assert [c.id for c in subset] == ["piano-0000", "piano-0001", "piano-0002", "harp-0000", "harp-0001",
                                      "harp-0002"]
    assert all(c.split == full[c.id] for c in subset)
    # any prefix of n clips of a label holds out floor(n / 5) or ceil(n / 5), and keeps its splits
    labels = ["a"] * 118 + ["b"] * 118
    numbers = list(range(118)) * 2
    splits = numbered_split(labels, numbers, seed=3)
    for n in (1, 4, 5, 7, 50, 118):
        part = numbered_split(labels[:n], numbers[:n], seed=3)
        assert part == splits[:n] and part.count(HELDOUT) in (n // 5, -(-n // 5))
    assert splits[118:].count(HELDOUT) in (23, 24)
    # listing order does not matter; another seed moves the offsets
    assert numbered_split(labels[::-1], numbers[::-1], seed=3)[::-1] == splits
    assert numbered_split(labels, numbers, seed=4) != splits


def test_seeded_split_follows_each_clip():
    ids = [f"x{i:05d}" for i in range(20000)]
    splits = seeded_split(ids, seed=3)
    assert 0.19 < splits.count(HELDOUT) / len(ids) < 0.21
    assert seeded_split(ids[::-1], seed=3)[::-1] == splits
    assert seeded_split(ids[::7], seed=3) == splits[::7]  # a subset keeps every clip's split
    assert seeded_split(ids, seed=4) != splits
    wider = seeded_split(ids, seed=3, fraction=0.3)  # a larger fraction only adds held-out clips
    assert all(w == HELDOUT for w, s in zip(wider, splits) if s == HELDOUT)
    assert seeded_split(ids, seed=3, fraction=0.0) == [PROBE] * len(ids)


def test_bass_is_darker_than_flute(bank):
    def mean_centroid(label):
        return np.mean([_centroid(bank.audio(i, sample_rate=16000), 16000)
                        for i, c in enumerate(bank) if c.label == label])

    assert mean_centroid("bass guitar") < 0.75 * mean_centroid("flute")


def test_same_seed_same_audio_other_seed_other_audio(bank, tmp_path):
    again = load_probe("soundbank", root=str(tmp_path / "a"), seed=0, clips_per_label=N_PER_LABEL)
    assert again.folder != bank.folder
    assert [c.to_record() for c in again] == [c.to_record() for c in bank]
    assert np.array_equal(np.asarray(again.waveforms), np.asarray(bank.waveforms))
    other = load_probe("soundbank", root=str(tmp_path / "b"), seed=1, clips_per_label=N_PER_LABEL)
    assert [c.id for c in other] == [c.id for c in bank]
    for label in ("piano", "drum kit", "speech"):
        i = [c.label for c in bank].index(label)
        assert not np.array_equal(np.asarray(other.waveforms[i]), np.asarray(bank.waveforms[i]))


def test_a_clip_does_not_depend_on_the_other_labels(bank, tmp_path):
    flute = load_probe("soundbank", root=str(tmp_path), seed=0, clips_per_label=2, labels=["flute"])
    assert [c.id for c in flute] == ["flute-0000", "flute-0001"]
    i = [c.id for c in bank].index("flute-0001")
    assert np.array_equal(np.asarray(flute.waveforms[1]), np.asarray(bank.waveforms[i]))
    assert flute.spec["labels"] == ["flute"]


def test_cache_is_reused_and_regenerated_when_incomplete(tmp_path, monkeypatch):
    first = load_probe("soundbank", root=str(tmp_path), clips_per_label=1, labels=["harp", "speech"])
    audio_file = first.folder / "audio.npy"
    stamp = audio_file.stat().st_mtime_ns

    def refuse(**kwargs):
        raise AssertionError("the cached soundbank should have been reused")

    monkeypatch.setattr(sb, "generate_soundbank", refuse)
    second = load_probe("soundbank", root=str(tmp_path), clips_per_label=1, labels=["harp", "speech"])
    assert audio_file.stat().st_mtime_ns == stamp
    assert np.array_equal(np.asarray(second.waveforms), np.asarray(first.waveforms))
    monkeypatch.undo()
    # an interrupted generation leaves no meta.json: it starts again
    (first.folder / "meta.json").unlink()
    third = load_probe("soundbank", root=str(tmp_path), clips_per_label=1, labels=["harp", "speech"])
    assert (first.folder / "meta.json").is_file()
    assert np.array_equal(np.asarray(third.waveforms), np.asarray(first.waveforms))


def test_default_cache_folder_and_spec_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path))
    probe = load_probe("soundbank", clips_per_label=1, labels=["banjo"])
    assert probe.folder.parent == tmp_path / "soundbank"
    assert probe.spec == {"name": "soundbank", "seed": 0, "clips_per_label": 1, "speech_clips": None,
                          "labels": ["banjo"], "duration": 3.0, "heldout_fraction": 0.2}
    rebuilt = load_probe(**probe.spec)
    assert [c.id for c in rebuilt] == [c.id for c in probe] == ["banjo-0000"]
    assert rebuilt.folder == probe.folder


def test_dropped_clips_are_counted(tmp_path, monkeypatch):
    real_finish = sb._finish

    def silence_first_harp(audio, rng, *, source):
        if source == "harp-0000":
            audio = np.zeros_like(audio)
        return real_finish(audio, rng, source=source)

    monkeypatch.setattr(sb, "_finish", silence_first_harp)
    probe = load_probe("soundbank", root=str(tmp_path), clips_per_label=2, labels=["harp"])
    assert [c.id for c in probe] == ["harp-0001"]
    assert probe.metadata["dropped"] == {"silent render": 1}
    assert probe.metadata["dropped_clips"] == [{"id": "harp-0000", "reason": "silent render"}]
    assert "1 clips dropped" in probe.describe()


def test_bad_options(tmp_path):
    with pytest.raises(AudioDissectError, match="unknown soundbank label 'guitar'"):
        load_probe("soundbank", root=str(tmp_path), labels=["guitar"])
    with pytest.raises(AudioDissectError, match="clips_per_label"):
        load_probe("soundbank", root=str(tmp_path), clips_per_label=0)
    with pytest.raises(AudioDissectError) as info:
        load_probe("soundbank", root=str(tmp_path), clip_per_label=3)
    assert info.value.hint.startswith("closest: clips_per_label")


def test_content_key_follows_the_audio_format(tmp_path, monkeypatch):
    """Results cached on a soundbank (activations, the demo CNN) are keyed by what it holds, not only its spec."""
    options = dict(root=str(tmp_path), seed=0, clips_per_label=1, labels=["flute"])
    first = load_probe("soundbank", **options)
    assert load_probe("soundbank", **options).content_key() == first.content_key()
    monkeypatch.setattr(sb, "FORMAT_VERSION", sb.FORMAT_VERSION + 1)
    regenerated = load_probe("soundbank", **options)
    assert regenerated.spec == first.spec and [c.id for c in regenerated] == [c.id for c in first]
    assert regenerated.content_key() != first.content_key()
