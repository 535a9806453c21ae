"""The OpenAI-compatible HTTP backend against a real server on 127.0.0.1."""

import json
import random
import time

import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.llm import HttpLLM
from audiodissect.summarize.llms import load_llm
from audiodissect.llm.bounded import map_bounded
from audiodissect.llm.http_client import message_text
from audiodissect.llm.retry import backoff_delay, jittered_delay
from llm_chat_server import ChatServer, chat_reply


def echo(n, body, headers):
    return 200, chat_reply("echo: " + body["messages"][-1]["content"]), 0


def test_normal_reply_sends_the_openai_request():
    with ChatServer(echo) as server:
        llm = HttpLLM(base_url=server.base_url, model="m1", api_key_env=None)
        answers = llm.complete(["hello", "world"], system="be brief", temperature=0.5,
                               max_tokens=7, seed=3)
    assert answers == ["echo: hello", "echo: world"]
    assert llm.name == "http:m1"
    assert server.paths == ["/v1/chat/completions"] * 2
    first = min(server.requests, key=lambda r: r["messages"][-1]["content"])
    assert first == {"model": "m1", "temperature": 0.5, "max_tokens": 7, "seed": 3,
                     "messages": [{"role": "system", "content": "be brief"},
                                  {"role": "user", "content": "hello"}]}


def test_unset_parameters_are_left_out():
    with ChatServer(echo) as server:
        HttpLLM(base_url=server.base_url + "/", model="m", api_key_env=None).complete(["x"])
    assert server.requests == [{"model": "m", "messages": [{"role": "user", "content": "x"}]}]


def test_concurrency_is_bounded_and_order_kept():
    def slow_echo(n, body, headers):
        return 200, chat_reply(body["messages"][-1]["content"].upper()), 0.15

    prompts = [f"p{i}" for i in range(9)]
    with ChatServer(slow_echo) as server:
        llm = HttpLLM(base_url=server.base_url, model="m", max_concurrency=3, api_key_env=None)
        start = time.perf_counter()
        answers = llm.complete(prompts)
        elapsed = time.perf_counter() - start
    assert answers == [p.upper() for p in prompts]
    assert server.max_in_flight == 3
    assert elapsed >= 3 * 0.15  # at least three waves of three


def test_a_deadline_hit_fails_at_once_and_names_the_setting():
    def slow(n, body, headers):
        return 200, chat_reply("late"), 1.0

    with ChatServer(slow) as server:
        llm = HttpLLM(base_url=server.base_url, model="m", timeout=0.3, retries=2, backoff=0.01,
                      api_key_env=None)
        start = time.perf_counter()
        with pytest.raises(AudioDissectError, match="within the 0.3 s deadline") as info:
            llm.complete(["q"])
        assert time.perf_counter() - start < 0.9
    assert len(server.requests) == 1  # not tried again: that would multiply the wait
    assert "--llm-timeout" in info.value.hint and "summarize.timeout" in info.value.hint


def test_server_error_then_success():
    def fail_once(n, body, headers):
        if n == 0:
            return 500, {"error": {"message": "overloaded"}}, 0
        return 200, chat_reply("fine"), 0

    with ChatServer(fail_once) as server:
        llm = HttpLLM(base_url=server.base_url, model="m", retries=3, backoff=0.01, api_key_env=None)
        assert llm.complete(["q"]) == ["fine"]
    assert len(server.requests) == 2


def test_malformed_json_fails_alone_after_the_retries():
    with ChatServer(lambda n, body, headers: (200, b"{not json", 0)) as server:
        llm = HttpLLM(base_url=server.base_url, model="m", retries=2, backoff=0.01, api_key_env=None)
        answers = llm.complete(["q"])
    assert answers == [None] and answers.n_failed == 1
    assert "not JSON" in answers.errors[0] and "3 attempts" in answers.errors[0]
    assert len(server.requests) == 3


def test_missing_choices_is_a_per_item_failure():
    with ChatServer(lambda n, body, headers: (200, {"object": "chat.completion"}, 0)) as server:
        llm = HttpLLM(base_url=server.base_url, model="m", retries=0, api_key_env=None)
        answers = llm.complete(["q"])
    assert answers == [None] and "no choices" in answers.errors[0]


def test_401_fails_at_once_and_the_key_is_sent(monkeypatch):
    def needs_key(n, body, headers):
        if headers.get("Authorization") != "Bearer sekret":
            return 401, {"error": {"message": "Invalid API key"}}, 0
        return 200, chat_reply("welcome"), 0

    monkeypatch.delenv("AD_TEST_KEY", raising=False)
    with ChatServer(needs_key) as server:
        llm = HttpLLM(base_url=server.base_url, model="m", api_key_env="AD_TEST_KEY", retries=3, backoff=0.01)
        with pytest.raises(AudioDissectError, match="HTTP 401: Invalid API key") as info:
            llm.complete(["q"])
        assert "api_key_env" in info.value.hint
        assert len(server.requests) == 1  # no retries on 4xx
        monkeypatch.setenv("AD_TEST_KEY", "sekret")
        assert llm.complete(["q"]) == ["welcome"]


def test_other_4xx_is_not_retried():
    with ChatServer(lambda n, body, headers: (400, {"error": {"message": "bad max_tokens"}}, 0)) as server:
        llm = HttpLLM(base_url=server.base_url, model="m", retries=3, backoff=0.01, api_key_env=None)
        with pytest.raises(AudioDissectError, match="HTTP 400: bad max_tokens"):
            llm.complete(["q"])
    assert len(server.requests) == 1


def test_unreachable_server():
    with ChatServer(echo) as server:
        url = server.base_url
    # the server is shut down: the port refuses connections
    llm = HttpLLM(base_url=url, model="m", retries=1, backoff=0.01, timeout=2, api_key_env=None)
    with pytest.raises(AudioDissectError, match="failed 2 times .*cannot reach.*connection refused") as info:
        llm.complete(["q"])
    assert "base_url" in info.value.hint


def test_bad_base_url_and_params():
    with pytest.raises(AudioDissectError, match="http://"):
        HttpLLM(base_url="localhost:8000/v1", model="m")
    llm = HttpLLM(base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(AudioDissectError, match="unknown LLM parameter.*top_q"):
        llm.complete(["q"], top_q=1)


def test_backoff_doubles_and_is_capped_and_jitter_stays_in_the_upper_half():
    assert [backoff_delay(a, backoff=0.5) for a in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delay(20, backoff=1.0) == 30.0
    rng = random.Random(0)
    draws = [jittered_delay(2, backoff=0.5, rng=rng) for _ in range(200)]
    assert all(1.0 <= d <= 2.0 for d in draws) and max(draws) - min(draws) > 0.5


def test_map_bounded_keeps_order():
    assert map_bounded(lambda x: x * x, [3, 1, 2], max_concurrency=2) == [9, 1, 4]
    with pytest.raises(AudioDissectError):
        map_bounded(str, [1], max_concurrency=0)


def test_message_text_variants():
    assert message_text(chat_reply("  hi \n")) == "hi"
    parts = {"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]}
    assert message_text(parts) == "ab"
    assert message_text({"choices": [{"message": {"content": None}}]}) == ""
    with pytest.raises(AudioDissectError, match="error: boom"):
        message_text({"error": {"message": "boom"}})


def test_load_llm_http_specs(monkeypatch):
    llm = load_llm("http:llama3.1:8b@http://127.0.0.1:11434/v1")
    assert llm.name == "http:llama3.1:8b"
    assert llm.client.base_url == "http://127.0.0.1:11434/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "https://example.org/v1")
    assert load_llm("http:gpt-x").client.base_url == "https://example.org/v1"
    monkeypatch.delenv("OPENAI_BASE_URL")
    llm = load_llm("http:gpt-x", timeout=5, concurrency=2, retries=1)
    assert llm.client.base_url == "http://127.0.0.1:8000/v1"
    assert (llm.client.timeout, llm.concurrency, llm.client.retries) == (5.0, 2, 1)
    assert load_llm("http:gpt-x").concurrency == 4  # the HTTP default
    assert load_llm("http:gpt-x", max_concurrency=3).concurrency == 3  # the older name still works
    with pytest.raises(AudioDissectError, match="concurrency"):
        load_llm("http:gpt-x", concurrency=0)
    with pytest.raises(AudioDissectError, match="timeout"):
        load_llm("http:gpt-x", timeout=-1)


def test_request_body_is_json_serialisable_with_extra_body():
    with ChatServer(echo) as server:
        HttpLLM(base_url=server.base_url, model="m", api_key_env=None,
                extra_body={"top_p": 0.9}).complete(["x"])
    assert json.loads(json.dumps(server.requests[0]))["top_p"] == 0.9
