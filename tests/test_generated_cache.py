"""The user cache of a generated probing set: generated once, read after, generated again when damaged."""

import logging

import numpy as np

from audiodissect.probes.generated import cached_clips


def _generator(calls):
    def generate():
        calls.append(1)
        audio = (np.arange(6, dtype=np.int16) * (len(calls))).reshape(2, 3)
        records = [{"id": f"c-{i}", "label": "x", "metadata": {}} for i in range(2)]
        return audio, records, {"made": len(calls)}, lambda folder: (folder / "extra.txt").write_text("more")
    return generate


def test_a_set_is_generated_once_then_read_from_its_folder(tmp_path):
    calls = []
    first = cached_clips(tmp_path, _generator(calls), what="test", base_metadata={"format_version": 1})
    again = cached_clips(tmp_path, _generator(calls), what="test", base_metadata={"format_version": 1})
    assert len(calls) == 1
    assert first[0]["made"] == again[0]["made"] == 1 and first[0]["format_version"] == 1
    assert again[1] == first[1] and np.array_equal(again[2], first[2]) and again[2].dtype == np.int16
    assert (tmp_path / "extra.txt").read_text() == "more"


def test_a_damaged_or_unfinished_cache_is_generated_again(tmp_path, caplog):
    calls = []
    cached_clips(tmp_path, _generator(calls), what="test", base_metadata={})
    np.save(tmp_path / "audio.npy", np.zeros((5, 3), dtype=np.int16))  # audio and clip list disagree
    with caplog.at_level(logging.WARNING, logger="audiodissect"):
        metadata, _, audio = cached_clips(tmp_path, _generator(calls), what="test", base_metadata={})
    assert len(calls) == 2 and metadata["made"] == 2 and audio.shape == (2, 3)
    assert any("test cache" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)
    (tmp_path / "meta.json").unlink()  # written last: without it the generation did not finish
    cached_clips(tmp_path, _generator(calls), what="test", base_metadata={})
    assert len(calls) == 3
