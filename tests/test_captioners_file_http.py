"""The captioner runner and cache, the file captioner, and the HTTP audio captioner."""

import base64
import functools
import io
import json

import numpy as np
import pytest
import signals
import soundfile as sf
from llm_chat_server import ChatServer, chat_reply

from audiodissect.captioners import (
    Captioner,
    ClipAudio,
    FileCaptioner,
    HttpAudioCaptioner,
    describe_cached,
    probe_clips,
    read_descriptions,
)
from audiodissect.captioners.http_audio import audio_part, wav_base64
from audiodissect.errors import AudioDissectError

tone = functools.partial(signals.tone, seconds=0.05, rate=8000)


def clips(n=3, rate=8000):
    return [ClipAudio(id=f"c{i}", audio=tone(200 * (i + 1), rate=rate), sample_rate=rate,
                      path=f"/data/audio/{i}-clip.wav") for i in range(n)]


class CountingCaptioner:
    name = "counting"

    def __init__(self, fail_on=None):
        self.described = []
        self.fail_on = fail_on

    def describe(self, batch):
        if any(c.id == self.fail_on for c in batch):
            raise RuntimeError("captioner died")
        self.described += [c.id for c in batch]
        return [f"{c.id} has {len(c.audio)} samples" for c in batch]


def test_protocol_is_met():
    assert isinstance(CountingCaptioner(), Captioner)


def test_describe_cached_resumes_and_repeats_without_work(tmp_path):
    path = tmp_path / "descriptions.json"
    some = clips(5)
    captioner = CountingCaptioner(fail_on="c3")
    with pytest.raises(RuntimeError):
        describe_cached(captioner, some, path, batch_size=2)
    # batches: (c0, c1), (c2, c3), (c4); the second failed, so only the first was kept
    assert sorted(read_descriptions(path)["descriptions"]) == ["c0", "c1"]
    fresh = CountingCaptioner()
    out = describe_cached(fresh, some, path, batch_size=2)
    assert fresh.described == ["c2", "c3", "c4"]
    assert list(out) == [f"c{i} has 400 samples" for i in range(5)]
    assert (out.n_cached, out.n_described) == (2, 3)
    again = CountingCaptioner()
    out2 = describe_cached(again, list(reversed(some)), path)
    assert again.described == [] and (out2.n_cached, out2.n_described) == (5, 0)
    assert list(out2) == list(reversed(out))


def test_describe_cached_ignores_another_captioners_file(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"captioner": "other", "descriptions": {"c0": "stale"}}))
    out = describe_cached(CountingCaptioner(), clips(1), path)
    assert list(out) == ["c0 has 400 samples"]
    assert read_descriptions(path) == {"captioner": "counting", "descriptions": {"c0": "c0 has 400 samples"}}


def test_describe_cached_rejects_duplicate_ids(tmp_path):
    twice = clips(1) * 2
    with pytest.raises(AudioDissectError, match="unique"):
        describe_cached(CountingCaptioner(), twice, tmp_path / "d.json")


def test_file_captioner_matches_ids_and_file_names(tmp_path):
    path = tmp_path / "salmonn.json"
    path.write_text(json.dumps({"c0": "by id", "1-clip.wav": "by file name",
                                "some/folder/2-clip.wav": "by path key"}))
    captioner = FileCaptioner(path)
    assert captioner.describe(clips(3)) == ["by id", "by file name", "by path key"]
    assert captioner.name.startswith("file:salmonn.json:")
    # the name changes with the content, so caches built on the old file are not reused
    path.write_text(json.dumps({"c0": "changed"}))
    assert FileCaptioner(path).name != captioner.name


def test_file_captioner_reads_describe_cached_files(tmp_path):
    path = tmp_path / "d.json"
    describe_cached(CountingCaptioner(), clips(2), path)
    assert FileCaptioner(path).describe(clips(2)) == ["c0 has 400 samples", "c1 has 400 samples"]


def test_file_captioner_reports_missing_clips(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"c0": "only one"}))
    many = clips(9)
    with pytest.raises(AudioDissectError, match=r"8 of 9 clips have no description .*'c1', 'c2', 'c3', "
                                                r"'c4', 'c5' and 3 more") as info:
        FileCaptioner(path).describe(many)
    assert "add the missing clips to the file" in info.value.hint and "allow_missing" not in info.value.hint
    lenient = FileCaptioner(path, allow_missing=True)
    with pytest.warns(UserWarning, match="8 of 9 clips"):
        out = lenient.describe(many)
    assert out == ["only one"] + [""] * 8 and lenient.n_missing == 8


def test_file_captioner_bad_files(tmp_path):
    with pytest.raises(AudioDissectError, match="no description file"):
        FileCaptioner(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(AudioDissectError, match="JSON object"):
        FileCaptioner(bad)
    bad.write_text(json.dumps({"a": 3}))
    with pytest.raises(AudioDissectError, match="not strings"):
        FileCaptioner(bad)
    bad.write_text("{oops")
    with pytest.raises(AudioDissectError, match="not valid JSON"):
        FileCaptioner(bad)


def decode_wav(data: str):
    audio, rate = sf.read(io.BytesIO(base64.b64decode(data)), dtype="float32")
    return audio, rate


def test_wav_roundtrip_is_16_bit_pcm():
    audio = tone(440)
    audio[0] = 1.7  # clipped to 1
    raw = base64.b64decode(wav_base64(audio, 8000))
    info = sf.info(io.BytesIO(raw))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (8000, 1, "PCM_16", "WAV")
    back, _ = decode_wav(wav_base64(audio, 8000))
    expected = np.clip(audio, -1, 1)
    assert np.max(np.abs(back - expected)) <= 1 / 32767 + 1e-6


def test_http_audio_captioner_sends_each_clip_as_wav():
    given = clips(3)
    by_samples = {}

    def listen(n, body, headers):
        [message] = body["messages"]
        text, audio = message["content"]
        assert text == {"type": "text", "text": "What do you hear?"}
        assert audio["type"] == "input_audio" and audio["input_audio"]["format"] == "wav"
        samples, rate = decode_wav(audio["input_audio"]["data"])
        match = [c.id for c in given
                 if rate == c.sample_rate and len(samples) == len(c.audio)
                 and np.max(np.abs(samples - c.audio)) <= 1 / 32767 + 1e-6]
        by_samples[n] = match
        return 200, chat_reply(f"sound of {match[0]}" if len(match) == 1 else "unknown"), 0

    with ChatServer(listen) as server:
        captioner = HttpAudioCaptioner(server.base_url, "qwen-audio", prompt="What do you hear?",
                                       api_key_env=None, max_concurrency=2)
        assert captioner.describe(given) == ["sound of c0", "sound of c1", "sound of c2"]
    assert server.requests[0]["model"] == "qwen-audio"
    assert server.requests[0]["temperature"] == 0.0 and server.requests[0]["max_tokens"] == 200
    assert server.max_in_flight <= 2


def test_http_audio_captioner_audio_url_resampling_and_retry():
    given = [ClipAudio(id="a", audio=tone(100, seconds=0.2, rate=8000), sample_rate=8000)]

    def flaky(n, body, headers):
        if n == 0:
            return 503, {"error": {"message": "loading"}}, 0
        part = body["messages"][-1]["content"][1]
        assert part["type"] == "audio_url"
        url = part["audio_url"]["url"]
        assert url.startswith("data:audio/wav;base64,")
        samples, rate = decode_wav(url.split(",", 1)[1])
        return 200, chat_reply(f"{rate} Hz, {len(samples)} samples"), 0

    with ChatServer(flaky) as server:
        captioner = HttpAudioCaptioner(server.base_url, "m", audio_format="audio_url", sample_rate=16000,
                                       max_seconds=0.1, system="You are an audio expert.",
                                       api_key_env=None, backoff=0.01)
        assert captioner.describe(given) == ["16000 Hz, 1600 samples"]
    assert server.requests[1]["messages"][0] == {"role": "system", "content": "You are an audio expert."}
    assert len(server.requests) == 2


def test_http_audio_captioner_name_tracks_settings_and_errors():
    a = HttpAudioCaptioner("http://127.0.0.1:9/v1", "m")
    b = HttpAudioCaptioner("http://127.0.0.1:9/v1", "m", prompt="Other prompt")
    assert a.name.startswith("http-audio:m:") and a.name != b.name
    with pytest.raises(AudioDissectError, match="audio_format"):
        HttpAudioCaptioner("http://127.0.0.1:9/v1", "m", audio_format="mp3")
    with pytest.raises(AudioDissectError, match="audio_format"):
        audio_part(tone(100), 8000, audio_format="flac")
    with pytest.raises(AudioDissectError, match="no audio"):
        a.messages(ClipAudio(id="e", audio=np.zeros(0, np.float32), sample_rate=8000))


class TinyProbe:
    """Stands in for a ProbeSet: indexable clip infos and audio at a requested rate."""

    class Info:
        def __init__(self, i):
            self.id, self.path = f"p{i}", None

    def __init__(self):
        self.reads = []

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return self.Info(i)

    def audio(self, i, *, sample_rate):
        self.reads.append(i)
        return np.full(sample_rate // 100, i, np.float32)


def test_probe_clips_read_audio_only_when_used():
    probe = TinyProbe()
    lazy = probe_clips(probe, sample_rate=1600)
    assert [c.id for c in lazy] == ["p0", "p1"] and probe.reads == []
    assert lazy[1].audio.tolist() == [1.0] * 16 and probe.reads == [1]


def test_probe_clips_from_a_real_probe_set():
    from audiodissect.probes.base import ArrayProbeSet, ClipInfo

    probe = ArrayProbeSet(name="t", clips=[ClipInfo(id="x", label="a", path="/p/x.wav")],
                          audio=[tone(100, seconds=0.1, rate=8000)], sample_rate=8000, spec={})
    [clip] = probe_clips(probe, sample_rate=16000)
    assert (clip.id, clip.path, clip.sample_rate, clip.audio.shape) == ("x", "/p/x.wav", 16000, (1600,))


class InterruptingCaptioner(CountingCaptioner):
    """Stops like Ctrl-C when asked to describe clip `stop_at`."""

    def __init__(self, stop_at):
        super().__init__()
        self.stop_at = stop_at

    def describe(self, batch):
        if any(c.id == self.stop_at for c in batch):
            raise KeyboardInterrupt
        return super().describe(batch)


class StreamingCaptioner(CountingCaptioner):
    """Has ``describe_iter``, like the HTTP captioner; Ctrl-C after `stop_after` clips."""

    def __init__(self, stop_after=None):
        super().__init__()
        self.stop_after = stop_after

    def describe_iter(self, batch):
        from audiodissect.llm import Completed

        for i, clip in enumerate(batch):
            if i == self.stop_after:
                raise KeyboardInterrupt
            self.described.append(clip.id)
            yield Completed(i, f"{clip.id} streamed")


def test_ctrl_c_keeps_the_finished_descriptions(tmp_path):
    path = tmp_path / "d.json"
    some = clips(7)
    with pytest.raises(KeyboardInterrupt):
        describe_cached(InterruptingCaptioner(stop_at="c4"), some, path, batch_size=2)
    assert sorted(read_descriptions(path)["descriptions"]) == ["c0", "c1", "c2", "c3"]
    with pytest.raises(KeyboardInterrupt):  # a streaming captioner keeps even a part of a checkpoint
        describe_cached(StreamingCaptioner(stop_after=1), some, path, batch_size=2)
    assert sorted(read_descriptions(path)["descriptions"]) == ["c0", "c1", "c2", "c3", "c4"]
    assert not (tmp_path / "d.json.parts").exists()
    rest = StreamingCaptioner()
    out = describe_cached(rest, some, path, batch_size=2)
    assert rest.described == ["c5", "c6"] and (out.n_cached, out.n_described) == (5, 2)
    assert out[4] == "c4 streamed" and out[0] == "c0 has 400 samples"


KILLED_RUN = """
import sys, time
import numpy as np
from audiodissect.captioners import ClipAudio, describe_cached

class Slow:
    name = "slow"
    def describe(self, batch):
        time.sleep(0.05)
        return [f"{c.id} described" for c in batch]

clips = [ClipAudio(id=f"k{i}", audio=np.zeros(10, np.float32), sample_rate=8000) for i in range(200)]
describe_cached(Slow(), clips, sys.argv[1], batch_size=2)
"""


def test_a_killed_describe_keeps_its_checkpoints_and_the_rerun_does_the_rest(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "d.json"
    parts = tmp_path / "d.json.parts"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(path)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(parts.glob("*.json"))) < 3:
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    shards = list(parts.glob("*.json"))
    assert len(shards) >= 3 and not path.exists()
    (parts / ".123-1.json.abcd1234.tmp").write_text('{"half": ')  # what a kill during a write leaves
    (tmp_path / ".d.json.efgh5678.tmp").write_text("")

    class Named(CountingCaptioner):
        name = "slow"

    from audiodissect.captioners import ClipAudio

    all_clips = [ClipAudio(id=f"k{i}", audio=np.zeros(10, np.float32), sample_rate=8000) for i in range(200)]
    rest = Named()
    out = describe_cached(rest, all_clips, path, batch_size=50)
    kept = out.n_cached
    assert kept >= 6 and kept % 2 == 0 and len(rest.described) == 200 - kept
    assert set(rest.described).isdisjoint({f"k{i}" for i in range(kept)})
    assert out[0] == "k0 described" and out[199] == "k199 has 10 samples"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json"]  # shards merged, leftovers gone
    assert len(read_descriptions(path)["descriptions"]) == 200
