"""Scenes with known timing, events CSV files for probing sets on disk, and frame labels from events."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiodissect.errors import AudioDissectError
from audiodissect.probes import load_probe
from audiodissect.probes.base import SkippedClip, without_clips
from audiodissect.probes.events import Event, frame_truth, read_events
from audiodissect.probes.scenes import SCENE_LABELS, sounding_extent


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    return load_probe("scenes", n_clips=10, duration=3.0, root=str(root))


def test_scene_audio_sounds_inside_its_events_only(scenes):
    assert len(scenes) == 10 and set(scenes.labels) <= set(SCENE_LABELS)
    by_clip: dict[str, list[Event]] = {}
    for e in scenes.events:
        by_clip.setdefault(e.clip, []).append(e)
    for i, clip in enumerate(scenes.clips):
        events = by_clip[clip.id]
        assert 2 <= len(events) <= 4 and len({e.label for e in events}) == len(events)
        assert clip.label == max(events, key=lambda e: e.offset - e.onset).label
        audio = scenes.audio(i, sample_rate=16000)
        inside = np.zeros(audio.size, dtype=bool)
        for a, b in zip(events, events[1:]):
            assert b.onset - a.offset >= 0.05 - 1e-4       # never overlapping, a gap between two
        for e in events:
            start, stop = int(round(e.onset * 16000)), int(round(e.offset * 16000))
            inside[start:stop] = True
            head = audio[start:start + 800]                 # the event's first 50 ms are not silent
            assert np.abs(head).max() > 1e-3, (clip.id, e)
        assert np.abs(audio[~inside]).max() == 0.0          # silence everywhere else, exactly


def test_scene_events_are_stored_beside_the_clips(scenes):
    stored = read_events(scenes.folder / "events.csv", scenes.clips)
    assert [(e.clip, e.label) for e in stored] == [(e.clip, e.label) for e in scenes.events]
    np.testing.assert_allclose([e.onset for e in stored], [e.onset for e in scenes.events], atol=1e-4)
    assert scenes.clips[0].metadata["events"][0]["label"] == scenes.events[0].label


def test_a_subset_keeps_the_events_of_its_clips(scenes):
    first = scenes.clips[0].id
    subset = without_clips(scenes, [SkippedClip(first, "test")])
    assert subset.events and all(e.clip != first for e in subset.events)
    assert len(subset.events) == sum(e.clip != first for e in scenes.events)


def test_sounding_extent_trims_silence_to_10_ms_frames():
    audio = np.zeros(16000, dtype=np.float32)
    audio[3200:4800] = 0.5
    audio[8000:8160] = 0.5 * 10 ** (-40 / 20)               # 40 dB down: silence
    assert sounding_extent(audio) == (3200, 4800)
    assert sounding_extent(np.zeros(100, dtype=np.float32)) == (0, 0)


def test_frame_truth_marks_frames_whose_centre_lies_in_an_event():
    spans = np.array([[0.0, 0.5], [0.5, 1.0], [1.0, 1.5],      # clip a: centres 0.25, 0.75, 1.25
                      [0.0, 1.0], [1.0, 2.0]])                   # clip b: centres 0.5, 1.5
    offsets = np.array([0, 3, 5])
    events = [Event("a", 0.7, 1.3, "dog"), Event("b", 0.0, 0.5, "dog"), Event("b", 1.2, 2.0, "car"),
              Event("c", 0.0, 9.0, "dog"), Event("a", 0.0, 0.3, "bird")]
    truth = frame_truth(events, ["a", "b"], offsets, spans, ["car", "dog"])
    np.testing.assert_array_equal(truth, [[0, 0], [0, 1], [0, 1], [0, 0], [1, 0]])


def write_folder(root):
    rng = np.random.default_rng(0)
    for label in ("dog", "cat"):
        (root / label).mkdir(parents=True)
        for k in range(3):
            sf.write(root / label / f"{label}{k}.wav", 0.1 * rng.standard_normal(8000), 16000, subtype="FLOAT")


def test_disk_probes_bring_events_from_a_csv_file(tmp_path):
    write_folder(tmp_path / "data")
    table = tmp_path / "events.csv"
    table.write_text("clip,onset,offset,label\ndog0.wav,0.1,0.3,bark\ndog1,0.0,0.2,bark\ncat2,0.2,0.4,meow\n")
    probe = load_probe("folder", root=str(tmp_path / "data"), events=str(table))
    assert [(e.clip, e.onset, e.offset, e.label) for e in probe.events] == [
        ("dog0", 0.1, 0.3, "bark"), ("dog1", 0.0, 0.2, "bark"), ("cat2", 0.2, 0.4, "meow")]
    again = load_probe(**probe.spec)                           # the spec names the file: a reopened set reads it
    assert again.events == probe.events and again.content_key() == probe.content_key()
    plain = load_probe("folder", root=str(tmp_path / "data"))
    assert plain.events == () and plain.content_key() != probe.content_key()
    table.write_text("clip,onset,offset,label\ndog0.wav,0.1,0.35,bark\n")
    assert load_probe(**probe.spec).content_key() != probe.content_key()  # other annotations, another key


@pytest.mark.parametrize("text, message", [
    ("clip,onset,label\ndog0,0.1,bark\n", "lacks the column(s) offset"),
    ("clip,onset,offset,label\ndog0,soon,0.3,bark\n", "line 2: onset 'soon'"),
    ("clip,onset,offset,label\ndog0,0.3,0.3,bark\n", "0 <= onset < offset"),
    ("clip,onset,offset,label\ndog0,-0.1,0.3,bark\n", "0 <= onset < offset"),
    ("clip,onset,offset,label\ndog0,0.1,0.3,\n", "has no label"),
    ("clip,onset,offset,label\ndgo0,0.1,0.3,bark\n", "no clip 'dgo0'"),
])
def test_bad_events_files_are_clear_errors(tmp_path, text, message):
    write_folder(tmp_path / "data")
    table = tmp_path / "events.csv"
    table.write_text(text)
    with pytest.raises(AudioDissectError) as info:
        load_probe("folder", root=str(tmp_path / "data"), events=str(table))
    assert message in info.value.message and info.value.hint
    if "dgo0" in text:
        assert "dog0" in info.value.hint


def test_a_missing_events_file_is_a_clear_error(tmp_path):
    write_folder(tmp_path / "data")
    with pytest.raises(AudioDissectError, match="does not exist"):
        load_probe("folder", root=str(tmp_path / "data"), events=str(tmp_path / "nope.csv"))
