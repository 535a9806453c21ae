"""The HTTP LLM and captioner against a real loopback server that misbehaves, one fault per test."""

import email.utils
import json
import logging
import threading
import time

import numpy as np
import pytest

from audiodissect.captioners import ClipAudio, HttpAudioCaptioner, describe_cached, read_descriptions
from audiodissect.errors import AudioDissectError
from audiodissect.llm import CachedLLM, HttpLLM
from audiodissect.summarize.llms import load_llm
from audiodissect.llm.retry import MAX_RETRY_AFTER_S, retry_after_seconds
from llm_chat_server import ChatServer, Cut, Trickle, chat_reply


def null_reply():
    return {"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": None}}]}


def echo(n, body, headers):
    content = body["messages"][-1]["content"]
    return 200, chat_reply("echo: " + (content if isinstance(content, str) else content[0]["text"])), 0


def llm_at(server, **options):
    options = {"api_key_env": None, "backoff": 0.01, "retries": 2, "timeout": 5, **options}
    return HttpLLM(base_url=server.base_url, model="m", **options)


@pytest.mark.parametrize("reply, reason", [
    (null_reply(), "content is null"),
    (chat_reply("   "), "content is empty"),
    (b"<html>502 Bad Gateway</html>", "not JSON"),
    ({"object": "chat.completion", "model": "m"}, "no choices"),
])
def test_an_unusable_answer_is_retried_then_fails_alone(reply, reason):
    def bad_for_q(n, body, headers):
        return (200, reply, 0) if body["messages"][-1]["content"] == "bad" else echo(n, body, headers)

    with ChatServer(bad_for_q) as server:
        answers = llm_at(server, concurrency=1).complete(["ok", "bad", "fine"])
    assert answers == ["echo: ok", None, "echo: fine"]
    assert answers.n_failed == 1 and reason in answers.errors[1] and "3 attempts" in answers.errors[1]
    assert [r["messages"][-1]["content"] for r in server.requests].count("bad") == 3  # 1 + 2 retries


def test_a_trickling_server_is_cut_off_at_the_deadline():
    trickle = Trickle(b'{"choices": [{"message": {"content": "never finished"}}]}', every=0.5)
    with ChatServer(lambda n, body, headers: (200, trickle, 0)) as server:
        llm = llm_at(server, timeout=1.2)
        start = time.perf_counter()
        with pytest.raises(AudioDissectError, match=r"within the 1.2 s deadline \(attempt 1, reading the answer, "
                                                    r"[1-9] bytes received") as info:
            llm.complete(["q"])
        elapsed = time.perf_counter() - start
    assert 1.1 < elapsed < 2.0
    assert len(server.requests) == 1
    assert "--llm-timeout" in info.value.hint


def test_a_server_that_never_answers_fails_at_the_deadline():
    with ChatServer(lambda n, body, headers: (200, chat_reply("too late"), 60)) as server:
        llm = llm_at(server, timeout=0.4, retries=3)
        start = time.perf_counter()
        with pytest.raises(AudioDissectError, match="waiting for the answer"):
            llm.complete(["q"])
        assert time.perf_counter() - start < 1.2


def test_server_error_then_success():
    def fail_once(n, body, headers):
        return (500, {"error": {"message": "overloaded"}}, 0) if n == 0 else (200, chat_reply("fine"), 0)

    with ChatServer(fail_once) as server:
        assert llm_at(server).complete(["q"]) == ["fine"]
    assert len(server.requests) == 2


def test_persistent_server_errors_say_status_attempts_and_what_to_do():
    with ChatServer(lambda n, body, headers: (500, {"error": {"message": "CUDA out of memory"}}, 0)) as server:
        with pytest.raises(AudioDissectError, match=r"failed 3 times in [0-9.]+ s; last: HTTP 500 .*"
                                                    r"CUDA out of memory") as info:
            llm_at(server).complete(["q"])
    assert "retries=" in info.value.hint


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_honoured(status):
    def limited(n, body, headers):
        if n == 0:
            return status, {"error": {"message": "slow down"}}, 0, {"Retry-After": "1"}
        return 200, chat_reply("after the pause"), 0

    with ChatServer(limited) as server:
        start = time.perf_counter()
        assert llm_at(server, backoff=0.01).complete(["q"]) == ["after the pause"]
        assert time.perf_counter() - start >= 1.0  # the backoff alone would have waited 0.01 s
    assert len(server.requests) == 2


def test_retry_after_as_an_http_date_is_honoured():
    def limited(n, body, headers):
        if n == 0:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: waits 1-2 s
            return 429, {"error": {"message": "rate limited"}}, 0, {"Retry-After": when}
        return 200, chat_reply("ok"), 0

    with ChatServer(limited) as server:
        start = time.perf_counter()
        assert llm_at(server).complete(["q"]) == ["ok"]
        assert time.perf_counter() - start >= 0.9


def test_retry_after_parsing():
    now = 1_700_000_000.0
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30)
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert retry_after_seconds("86400") == MAX_RETRY_AFTER_S
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_persistent_429_names_the_concurrency_setting():
    with ChatServer(lambda n, body, headers: (429, {"error": {"message": "quota"}}, 0)) as server:
        with pytest.raises(AudioDissectError, match="HTTP 429") as info:
            llm_at(server, retries=1).complete(["q"])
    assert "concurrency" in info.value.hint


def test_a_connection_closed_mid_response_is_tried_again():
    def cut_first(n, body, headers):
        if n == 0:
            return 200, Cut(b'{"choices": [{"message": {"content": "half"}}]}', keep=12), 0
        return 200, chat_reply("whole"), 0

    with ChatServer(cut_first) as server:
        assert llm_at(server).complete(["q"]) == ["whole"]
    assert len(server.requests) == 2


def test_the_cache_keeps_no_failures(tmp_path):
    path = tmp_path / "llm.sqlite"
    with ChatServer(lambda n, body, headers: (200, null_reply(), 0)) as broken:
        cached = CachedLLM(llm_at(broken, retries=1), path)
        answers = cached.complete(["q1", "q2"])
    assert answers == [None, None] and answers.n_failed == 2
    assert (cached.failed, len(cached)) == (2, 0)
    assert [f.item for f in cached.failures] == ["q1", "q2"] and "null" in cached.failures[0].error
    with ChatServer(echo) as healthy:
        again = CachedLLM(HttpLLM(base_url=healthy.base_url, model="m", api_key_env=None), path)
        assert again.complete(["q1", "q2"]) == ["echo: q1", "echo: q2"]
        assert (again.calls, again.failed) == (2, 0)
        assert again.complete(["q2"]) == ["echo: q2"] and again.hits == 1
    assert len(healthy.requests) == 2


def test_empty_answers_stored_by_older_versions_are_asked_again(tmp_path):
    import sqlite3

    from audiodissect.llm import answer_key
    from audiodissect.llm.base import check_params

    path = tmp_path / "llm.sqlite"
    with ChatServer(echo) as server:
        cached = CachedLLM(llm_at(server), path)
        key = answer_key(cached.name, "q", check_params({}))
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?)", (key, cached.name, "q", "{}", "", 0.0))
        assert cached.complete(["q"]) == ["echo: q"] and cached.calls == 1


def test_refresh_asks_every_prompt_again(tmp_path):
    path = tmp_path / "llm.sqlite"
    with ChatServer(lambda n, body, headers: (200, chat_reply(f"answer {n}"), 0)) as server:
        assert CachedLLM(llm_at(server), path).complete(["q"]) == ["answer 0"]
        assert CachedLLM(llm_at(server), path).complete(["q"]) == ["answer 0"]  # from the cache
        fresh = load_llm(f"http:m@{server.base_url}", cache_path=path, refresh=True, api_key_env=None)
        assert fresh.complete(["q"]) == ["answer 1"]
        assert fresh.complete(["q"]) == ["answer 1"]  # its own answer is reused
        assert CachedLLM(llm_at(server), path).complete(["q"]) == ["answer 1"]  # and replaced the old one
    assert len(server.requests) == 2


def test_concurrency_four_is_about_four_times_faster_and_keeps_prompt_order():
    def slow(n, body, headers):
        return 200, chat_reply(body["messages"][-1]["content"].upper()), 0.3

    prompts = [f"p{i}" for i in range(8)]
    with ChatServer(slow) as server:
        start = time.perf_counter()
        answers = llm_at(server, concurrency=4).complete(prompts)
        elapsed = time.perf_counter() - start
    assert answers == [p.upper() for p in prompts]
    assert server.max_in_flight == 4
    assert elapsed < 8 * 0.3 / 2  # two waves of four take about 0.6 s; one at a time 2.4 s


def test_the_cache_is_safe_under_concurrent_callers(tmp_path):
    def slowish(n, body, headers):
        return 200, chat_reply("A:" + body["messages"][-1]["content"]), 0.02

    path = tmp_path / "llm.sqlite"
    results, errors = {}, []
    with ChatServer(slowish) as server:
        shared = CachedLLM(llm_at(server, concurrency=3), path)

        def worker(w):
            try:
                cache = shared if w % 2 else CachedLLM(llm_at(server, concurrency=3), path)
                prompts = [f"q{(w + i) % 12}" for i in range(12)]
                results[w] = (prompts, cache.complete(prompts))
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors
    for prompts, answers in results.values():
        assert answers == ["A:" + p for p in prompts]
    assert len(shared) == 12


def test_closing_the_stream_cuts_requests_in_flight_short():
    def first_fast(n, body, headers):
        return 200, chat_reply("fast"), (0 if body["messages"][-1]["content"] == "p0" else 30)

    with ChatServer(first_fast) as server:
        stream = llm_at(server, concurrency=3, timeout=20).complete_iter(["p0", "p1", "p2", "p3"])
        assert next(stream).text == "fast"
        start = time.perf_counter()
        stream.close()  # what Ctrl-C does to a running stage
        assert time.perf_counter() - start < 1.0


def test_an_api_key_over_plain_http_is_warned_about_once(monkeypatch, caplog):
    monkeypatch.setenv("AD_FAULT_KEY", "sekret")
    with ChatServer(echo) as server:
        local = llm_at(server, api_key_env="AD_FAULT_KEY")
        with caplog.at_level(logging.WARNING, logger="audiodissect"):
            local.complete(["a", "b"])
        assert not [r for r in caplog.records if "API key" in r.getMessage()]  # loopback: fine
        assert len(server.requests) == 2
    remote = HttpLLM(base_url="http://192.0.2.1:9/v1", model="m", api_key_env="AD_FAULT_KEY", timeout=0.2,
                     retries=0)  # TEST-NET-1: never routed
    with caplog.at_level(logging.WARNING, logger="audiodissect"):
        for _ in range(2):
            with pytest.raises(AudioDissectError):
                remote.complete(["q"])
    warnings = [r.getMessage() for r in caplog.records if "API key" in r.getMessage()]
    assert len(warnings) == 1 and "AD_FAULT_KEY" in warnings[0] and "https://" in warnings[0]
    assert "sekret" not in warnings[0]


def clips(n):
    rate = 8000
    t = np.arange(400) / rate
    return [ClipAudio(id=f"c{i}", audio=(0.3 * np.sin(2 * np.pi * 100 * (i + 1) * t)).astype(np.float32),
                      sample_rate=rate) for i in range(n)]


def test_the_captioner_reports_failed_clips_and_the_rerun_describes_only_those(tmp_path):
    path = tmp_path / "descriptions.json"
    given = clips(4)

    def null_for_c2(n, body, headers):
        wav = body["messages"][-1]["content"][1]["input_audio"]["data"]
        if wav == wav_of_c2:
            return 200, null_reply(), 0
        return 200, chat_reply(f"sound {n}"), 0

    from audiodissect.captioners.http_audio import wav_base64

    wav_of_c2 = wav_base64(given[2].audio, 8000)
    with ChatServer(null_for_c2) as broken:
        captioner = HttpAudioCaptioner(broken.base_url, "audio-m", api_key_env=None, backoff=0.01, retries=1)
        out = describe_cached(captioner, given, path)
    assert out[2] == "" and all(out[i] for i in (0, 1, 3))
    assert list(out.failed) == ["c2"] and "null" in out.failed["c2"] and out.n_failed == 1
    assert sorted(read_descriptions(path)["descriptions"]) == ["c0", "c1", "c3"]
    with ChatServer(lambda n, body, headers: (200, chat_reply("a low hum"), 0)) as healthy:
        captioner = HttpAudioCaptioner(healthy.base_url, "audio-m", api_key_env=None)
        again = describe_cached(captioner, given, path)
    assert len(healthy.requests) == 1 and again[2] == "a low hum"
    assert (again.n_cached, again.n_described, again.n_failed) == (3, 1, 0)


def test_the_captioner_runs_clips_concurrently_in_order():
    def slow(n, body, headers):
        return 200, chat_reply(str(len(body["messages"][-1]["content"][1]["input_audio"]["data"]))), 0.3

    given = clips(8)
    with ChatServer(slow) as server:
        captioner = HttpAudioCaptioner(server.base_url, "m", api_key_env=None, concurrency=4, timeout=3)
        start = time.perf_counter()
        out = captioner.describe(given)
        elapsed = time.perf_counter() - start
    assert len(set(out)) == 1 and out.n_failed == 0  # same length WAVs
    assert server.max_in_flight == 4 and elapsed < 8 * 0.3 / 2


def test_the_captioner_deadline_names_its_setting():
    with ChatServer(lambda n, body, headers: (200, chat_reply("late"), 60)) as server:
        captioner = HttpAudioCaptioner(server.base_url, "m", api_key_env=None, timeout=0.3)
        with pytest.raises(AudioDissectError, match="deadline") as info:
            captioner.describe(clips(1))
    assert "describe.timeout" in info.value.hint


@pytest.mark.parametrize("reply", [null_reply(), b"not json at all", {"object": "chat.completion"}])
def test_failed_prompts_end_summarize_with_exit_2_unless_allowed(tmp_path, monkeypatch, capsys, reply):
    """Garbage, null and choices-less answers make summarize exit 2 as a failing server does; the answers that
    came are kept, and --allow-failures accepts the rest (exit 0)."""
    from audiodissect import Dissection
    from audiodissect.cli import main
    from audiodissect.progress import silent
    from stage_fixtures import make_target, record_run, tiny_probe, write_descriptions

    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    run = record_run(tmp_path / "run")
    write_descriptions(tmp_path / "d.json", tiny_probe())
    Dissection.open(run.path, target=make_target(), hook=silent).describe(f"file:{tmp_path / 'd.json'}")

    config = json.loads((run.path / "config.json").read_text())
    config["summarize"]["retries"] = 0
    (run.path / "config.json").write_text(json.dumps(config))

    def bad_for_organ(n, body, headers):
        return (200, reply, 0) if "organ" in json.dumps(body) else echo(n, body, headers)

    with ChatServer(bad_for_organ) as server:
        llm = ["--llm", f"http:m@{server.base_url}"]
        code = main(["summarize", "--run", str(run.path), *llm])
        err = capsys.readouterr().err
        assert code == 2 and "summarize stage finished with" in err and "failed prompts" in err, err
        assert "--allow-failures" in err and "Traceback" not in err
        assert run.stage("summarize")["failed"] > 0 and run.has_units("summarize")  # what came is kept
        assert main(["summarize", "--run", str(run.path), *llm, "--allow-failures"]) == 0


@pytest.mark.parametrize("retry_after", ["3600", "2"])
def test_the_deadline_bounds_retries_and_their_waits(retry_after):
    """A Retry-After past the request's deadline fails at once, saying so; retries of a failing server stop at
    the deadline, whatever the number of retries left."""
    with ChatServer(lambda n, body, headers: (503, {"error": {"message": "busy"}}, 0,
                                              {"Retry-After": retry_after})) as server:
        start = time.perf_counter()
        with pytest.raises(AudioDissectError, match=r"past the 1.5 s deadline of this request") as info:
            llm_at(server, timeout=1.5, retries=10).complete(["q"])
        elapsed = time.perf_counter() - start
    assert elapsed < 1.6
    assert len(server.requests) == 1  # no wait of 3600 s (or of 2 s, past 1.5 s) was started
    assert "--llm-timeout" in info.value.hint


def test_backoff_retries_stop_at_the_deadline():
    with ChatServer(lambda n, body, headers: (500, {"error": {"message": "down"}}, 0.3)) as server:
        start = time.perf_counter()
        with pytest.raises(AudioDissectError, match="deadline"):
            llm_at(server, timeout=1.0, retries=50, backoff=0.05).complete(["q"])
        assert time.perf_counter() - start < 1.3
    assert 2 <= len(server.requests) < 10


def test_failed_captions_end_describe_with_exit_2_unless_allowed(tmp_path, monkeypatch, capsys):
    from audiodissect.cli import main
    from stage_fixtures import record_run

    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    run = record_run(tmp_path / "run")
    config = json.loads((run.path / "config.json").read_text())
    config["describe"]["retries"] = 0
    (run.path / "config.json").write_text(json.dumps(config))
    first_audio = []

    def null_for_one_clip(n, body, headers):
        wav = body["messages"][-1]["content"][1]["input_audio"]["data"]
        first_audio.append(wav) if not first_audio else None
        return (200, null_reply(), 0) if wav == first_audio[0] else (200, chat_reply("a tone"), 0)

    with ChatServer(null_for_one_clip) as server:
        captioner = ["--captioner", f"http:audio-m@{server.base_url}", "--concurrency", "1"]
        code = main(["describe", "--run", str(run.path), *captioner])
        err = capsys.readouterr().err
        assert code == 2 and "describe stage finished with 1 failed clips" in err and "content is null" in err, err
        assert "--allow-failures" in err
        assert main(["describe", "--run", str(run.path), *captioner, "--allow-failures"]) == 0
    assert run.stage("describe")["failed"] == 1 and run.has_stage("describe")


class StreamingEcho:
    """A streaming backend: answers every prompt with itself, one at a time, and reads the cache file before each
    next answer (what a killed process would leave)."""

    name = "echo"

    def __init__(self, path):
        self.path = path
        self.on_disk: list[int] = []

    def complete_iter(self, prompts, **params):
        import sqlite3

        from audiodissect.llm.answers import Completed

        for i, prompt in enumerate(prompts):
            if self.path.exists():
                with sqlite3.connect(self.path) as db:
                    self.on_disk.append(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
            yield Completed(i, prompt.upper())

    def complete(self, prompts, **params):
        return [p.upper() for p in prompts]


def test_each_streamed_answer_is_on_disk_before_the_next_arrives(tmp_path):
    """A server that stalls after some answers never holds them back: a process killed while it waits keeps them."""
    backend = StreamingEcho(tmp_path / "llm.sqlite")
    llm = CachedLLM(backend, tmp_path / "llm.sqlite", batch_size=32)
    prompts = [f"prompt {i}" for i in range(40)]
    assert llm.complete(prompts) == [p.upper() for p in prompts]
    assert backend.on_disk == list(range(40)) and len(llm) == 40
