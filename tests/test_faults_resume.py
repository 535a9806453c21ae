"""Fault injection, part 3: an LLM server that answers nothing, and a run killed in the middle of a stage.

The LLM is a real chat server on 127.0.0.1 (:mod:`llm_chat_server`) whose
answers are a function of the prompt, so two runs get the same answers. The
killed run is ``Dissection.run`` in a subprocess, rebuilding the seeded wave
model of :mod:`stage_fixtures` from its factory, SIGKILLed while the
summarize stage waits on the server; the rerun's outputs must equal those of
an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from audiodissect import Dissection
from audiodissect.errors import IncompleteStageError
from audiodissect.progress import silent
from audiodissect.rundir import RunDir
from llm_chat_server import ChatServer, chat_reply
from stage_fixtures import PROBE_OPTIONS, tiny_probe, write_descriptions

TESTS = Path(__file__).parent
WORDS = ["bright", "dull", "noisy", "tonal", "buzzing", "soft", "loud", "ringing"]
STAGES = ["record", "describe", "identify", "summarize"]
SCRIPT = """
import json, sys
from audiodissect import Dissection
from audiodissect.progress import silent
d = Dissection(factory="stage_fixtures:make_target", config=json.loads(sys.argv[1]), hook=silent, echo=print)
d.run()
"""


def answer(body: dict) -> dict:
    """The same short summary for the same prompt."""
    digest = hashlib.sha256(body["messages"][-1]["content"].encode()).digest()
    return chat_reply(f"A {WORDS[digest[0] % 8]} and {WORDS[digest[1] % 8]} sound.")


def settings(tmp_path: Path, out: str, url: str) -> dict:
    descriptions = tmp_path / "descriptions.json"
    if not descriptions.exists():
        write_descriptions(descriptions, tiny_probe())
    return {"out": str(tmp_path / out), "stages": STAGES,
            "probe": {"name": "soundbank", "options": dict(PROBE_OPTIONS)},
            "record": {"layers": ["conv", "classifier"]},
            "describe": {"captioner": f"file:{descriptions}"},
            "identify": {"methods": ["db"], "similarities": ["cos3"]},
            "summarize": {"llm": f"http:test@{url}", "retries": 0, "concurrency": 2, "timeout": 30.0}}


@pytest.fixture
def cache(tmp_path_factory, monkeypatch):
    path = tmp_path_factory.getbasetemp() / "faults-resume-cache"
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(path))
    return path


def cached_answers(run: RunDir) -> list[str]:
    """Every answer text in the run's LLM cache (whatever its table layout)."""
    if not run.llm_cache_path.exists():
        return []
    with sqlite3.connect(run.llm_cache_path) as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        return [str(v) for t in tables for row in db.execute(f"select * from {t}") for v in row]


def test_null_answers_fail_by_count_are_not_cached_and_a_healthy_rerun_gets_real_answers(tmp_path, cache):
    healthy = threading.Event()

    def behaviour(n, body, headers):
        if healthy.is_set():
            return 200, answer(body), 0
        return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]}, 0

    with ChatServer(behaviour) as server:
        config = settings(tmp_path, "run", server.base_url)
        lines: list[str] = []
        d = Dissection(factory="stage_fixtures:make_target", config=config, hook=silent, echo=lines.append)
        with pytest.raises(IncompleteStageError, match=r"summarize stage finished with \d+ failed prompts") as info:
            d.run(STAGES + ["report"])  # the later stages ran; the run ends with the failures' error
        assert "--allow-failed-prompts" in info.value.hint
        asked = len(server.requests)
        run = d.run_dir
        section = run.stage("summarize")
        assert section["failed"] > 0 and section["failed"] <= asked
        assert any(line.startswith("[summarize] done in") and f"({section['failed']} failed: rerun to retry them)"
                   in line for line in lines), lines
        assert any(line.startswith("[summarize] incomplete:") for line in lines), lines
        assert section["failures"]  # the manifest says which prompts failed and why
        assert (run.report_dir / "index.html").exists()
        assert not any(a.strip() == "" for a in cached_answers(run))  # nothing empty stored as an answer
        healthy.set()
        again: list[str] = []
        d = Dissection.open(run.path, hook=silent, echo=again.append, trust=True)  # the user's own run and server
        d.run(["summarize"])
        assert len(server.requests) > asked  # asked again, not answered from the cache
        records = run.read_units("summarize")
        assert records and all(r["s_high"].strip() and r["s_low"].strip() for r in records)
        assert not run.stage("summarize").get("failed")


def outputs(run: RunDir) -> dict:
    """What a finished run holds: activations, logits, descriptions, concepts and unit records."""
    drop = ("seconds", "key_parts", "code_version", "n_cached", "n_described")  # the probe cache is shared
    return {"activations": {layer: np.asarray(run.activations(layer)) for layer in run.layers()},
            "logits": np.asarray(run.logits()), "descriptions": run.descriptions(),
            "identify": run.read_units("identify"), "summarize": run.read_units("summarize"),
            "sections": {name: {k: v for k, v in s.items() if k not in drop}
                         for name, s in run.manifest()["stages"].items()}}


def test_a_run_killed_in_the_middle_of_summarize_resumes_to_the_uninterrupted_result(tmp_path, cache):
    hold = threading.Event()
    answered_before_kill = 6

    def behaviour(n, body, headers):
        if n >= answered_before_kill and not hold.is_set():
            return 200, answer(body), 120  # waits until the server stops (the kill comes first)
        return 200, answer(body), 0

    env = {**os.environ, "AUDIODISSECT_CACHE": str(cache),
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    with ChatServer(behaviour) as server:
        config = settings(tmp_path, "killed", server.base_url)
        proc = subprocess.Popen([sys.executable, "-c", SCRIPT, json.dumps(config)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while len(server.requests) <= answered_before_kill and proc.poll() is None:
                assert time.monotonic() < deadline, "the run never reached summarize"
                time.sleep(0.05)
            time.sleep(0.3)  # the answers given are stored while the next request waits
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(30)
        killed = RunDir(tmp_path / "killed", create=False)
        assert not killed.has_stage("summarize") and killed.has_stage("identify")
        hold.set()

    def healthy(n, body, headers):
        return 200, answer(body), 0

    with ChatServer(healthy) as server:
        resumed_config = settings(tmp_path, "killed", server.base_url)
        d = Dissection.open(tmp_path / "killed", hook=silent, trust=True)  # the user's own run: its factory
        d.config.summarize.llm = resumed_config["summarize"]["llm"]
        d.run()
        resumed_requests = len(server.requests)
    with ChatServer(healthy) as server:
        d = Dissection(factory="stage_fixtures:make_target", config=settings(tmp_path, "whole", server.base_url),
                       hook=silent)
        d.run()
        whole_requests = len(server.requests)

    assert resumed_requests <= whole_requests - answered_before_kill  # the answers before the kill were kept
    resumed, whole = outputs(killed), outputs(RunDir(tmp_path / "whole", create=False))
    assert resumed["activations"].keys() == whole["activations"].keys()
    for layer in whole["activations"]:
        np.testing.assert_array_equal(resumed["activations"][layer], whole["activations"][layer])
    np.testing.assert_array_equal(resumed["logits"], whole["logits"])
    for part in ("descriptions", "identify", "summarize"):
        assert resumed[part] == whole[part], part
    for name in ("record", "describe", "identify"):
        assert resumed["sections"][name] == whole["sections"][name], name


def test_an_in_process_llm_has_each_answer_stored_once(tmp_path, cache, monkeypatch):
    from audiodissect.llm.cached import CachedLLM

    stored = []
    store = CachedLLM._store
    monkeypatch.setattr(CachedLLM, "_store", lambda self, db, rows: (stored.append(len(rows)), store(self, db, rows)))
    config = settings(tmp_path, "extractive", "http://127.0.0.1:9/v1")
    config["summarize"] = {"llm": "extractive"}
    d = Dissection(factory="stage_fixtures:make_target", config=config, hook=silent)
    d.run()
    with sqlite3.connect(d.run_dir.llm_cache_path) as db:
        answers = db.execute("SELECT count(*) FROM answers").fetchone()[0]
    assert answers > 0 and sum(stored) == answers  # not once more by the worker's own cache
