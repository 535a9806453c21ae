"""Pruning, LLM prompts and captioning on the Ray executor give the local executor's outputs, also after a worker dies.

One local Ray instance (2 CPUs) serves the whole module, and one run of the
tiny wave model over the tiny soundbank (recorded, described from a file,
identified by DB) is made once; every test copies it twice and runs a stage
on each copy, once with the local executor and once on Ray. ``tests/`` is on
the workers' PYTHONPATH so that the model's factory can be imported there.
"""

import base64
import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

import audiodissect as ad
from audiodissect.cache import read_jsonl
from audiodissect.progress import silent
from llm_chat_server import ChatServer, chat_reply
from stage_fixtures import PROBE_OPTIONS, make_target, write_descriptions

LAYERS = ["conv", "classifier"]
ON_RAY = {"name": "ray", "workers": 2, "max_retries": 2}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The recorded, described and identified run every test copies, and its probing set."""
    root = tmp_path_factory.mktemp("made")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUDIODISSECT_CACHE", str(root / "cache"))
        probe = ad.load_probe("soundbank", **PROBE_OPTIONS)
        descriptions = root / "descriptions.json"
        write_descriptions(descriptions, probe)
        d = ad.Dissection(make_target(), probe, root / "run", factory="stage_fixtures:make_target", hook=silent)
        d.record(layers=LAYERS)
        d.describe(f"file:{descriptions}")
        d.identify(methods=["db"], similarities=["cos3"])
        yield root / "run", probe


def opened(made, out: Path, *, executor=None, target=None) -> ad.Dissection:
    """A copy of the made run at `out`, reopened with the given executor settings (default: local)."""
    run, probe = made
    shutil.copytree(run, out)
    if target is not None:
        d = ad.Dissection(target, probe, out, hook=silent, config=ad.Dissection.open(out, probe=probe).config)
    else:  # the user's own run: its stored factory is trusted
        d = ad.Dissection.open(out, probe=probe, hook=silent, trust=True)
    for name, value in (executor or {"name": "local"}).items():
        setattr(d.config.executor, name, value)
    return d


def answers(path: Path) -> dict[str, str]:
    """Every answer of an LLM cache file, by key."""
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT key, answer FROM answers"))


class DieOnceInWorker:
    """A target's forward that kills the first worker process it runs in (a marker file remembers)."""

    def __init__(self, marker: Path, driver: int):
        self.marker = marker
        self.driver = driver

    def __call__(self, module, inputs):
        if os.getpid() != self.driver and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)
        return module(inputs)


def _prune(d: ad.Dissection):
    d.config.prune.random_count = 2  # every random draw ablates units: a forward pass per draw
    return d.prune("all", strategies=["db", "random"], seeds=2)


def _assert_same_pruning(a: ad.Dissection, b: ad.Dissection) -> None:
    for name in ("table.csv", "table.jsonl", "results.jsonl"):
        assert (a.run_dir.pruning_dir / name).read_bytes() == (b.run_dir.pruning_dir / name).read_bytes()
    concepts = a.run_dir.stage("prune")["concepts"]
    assert concepts == b.run_dir.stage("prune")["concepts"] and len(concepts) == 3
    for folder in sorted(p.name for p in a.run_dir.pruning_dir.iterdir() if p.is_dir()):
        rows_a = read_jsonl(a.run_dir.pruning_dir / folder / "results.jsonl")
        rows_b = read_jsonl(b.run_dir.pruning_dir / folder / "results.jsonl")
        assert rows_a == rows_b and len({r["label"] for r in rows_b}) == len(rows_b)  # one row per selection
    assert a.run_dir.stage("prune")["key"] == b.run_dir.stage("prune")["key"]


def test_pruning_on_ray_equals_local(ray_cluster, made, tmp_path):
    local = opened(made, tmp_path / "local")
    on_ray = opened(made, tmp_path / "ray", executor=ON_RAY)
    table_local, table_ray = _prune(local).table, _prune(on_ray).table
    assert table_local == table_ray
    assert any(row["strategy"] == "random" and row["dA"] != 0 for row in table_ray)  # ablations did run
    _assert_same_pruning(local, on_ray)


def test_a_worker_killed_mid_pruning_is_retried_and_nothing_is_lost_or_doubled(ray_cluster, made, tmp_path):
    local = opened(made, tmp_path / "local")
    _prune(local)
    marker = tmp_path / "died"
    target = make_target()
    target.forward = DieOnceInWorker(marker, os.getpid())
    on_ray = opened(made, tmp_path / "ray", executor=ON_RAY, target=target)
    _prune(on_ray)
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # a worker did die
    _assert_same_pruning(local, on_ray)


def test_importance_curves_on_ray_equal_local(ray_cluster, made, tmp_path):
    runs = []
    for name, executor in (("local", None), ("ray", ON_RAY)):
        d = opened(made, tmp_path / name, executor=executor)
        d.summarize()
        d.importance(fractions=[0.5, 1.0])
        runs.append(d.run_dir.pruning_dir)
    local, on_ray = (read_jsonl(folder / "importance.jsonl") for folder in runs)
    assert on_ray == local and len(local) == 1 + 7 * 2  # the baseline, then 4 properties and 3 random seeds x 2
    assert {row["n_units"] for row in on_ray[1:]} == {2, 4}  # half and all of the conv layer's units pruned


def test_extractive_summaries_on_ray_equal_local(ray_cluster, made, tmp_path):
    local = opened(made, tmp_path / "local")
    on_ray = opened(made, tmp_path / "ray", executor=ON_RAY)
    records_local, records_ray = list(local.summarize()), list(on_ray.summarize())
    assert records_local == records_ray and len(records_ray) == 7
    assert all(r["s_high"] and "icl_top1" in r for r in records_ray)
    section_local, section_ray = local.run_dir.stage("summarize"), on_ray.run_dir.stage("summarize")
    assert section_ray["key"] == section_local["key"]
    assert section_ray["llm_calls"] == section_local["llm_calls"] > 0 and section_ray["failed"] == 0
    assert answers(on_ray.run_dir.llm_cache_path) == answers(local.run_dir.llm_cache_path)


def _summary_answer(n, body, headers):
    prompt = body["messages"][-1]["content"]
    return 200, chat_reply(f"Bright brassy tones {hashlib.sha1(prompt.encode()).hexdigest()[:6]}."), 0


def test_http_summaries_on_ray_equal_local_and_ask_each_prompt_once(ray_cluster, made, tmp_path):
    with ChatServer(_summary_answer) as server:
        llm = f"http:fake@{server.base_url}"
        records_local = list(opened(made, tmp_path / "local").summarize(llm))
        asked_local = [r["messages"][-1]["content"] for r in server.requests]
        server.requests.clear()
        on_ray = opened(made, tmp_path / "ray", executor=ON_RAY)
        records_ray = list(on_ray.summarize(llm))
        asked_ray = [r["messages"][-1]["content"] for r in server.requests]
    assert records_ray == records_local
    assert len(asked_ray) == len(set(asked_ray)) and sorted(asked_ray) == sorted(asked_local)
    assert answers(on_ray.run_dir.llm_cache_path) == answers(tmp_path / "local" / "cache" / "llm.sqlite")


def _caption(n, body, headers):
    content = body["messages"][-1]["content"]
    audio = next(part for part in content if part["type"] == "input_audio")["input_audio"]["data"]
    digest = hashlib.sha1(base64.b64decode(audio)).hexdigest()[:8]
    return 200, chat_reply(f"A short sound, take {digest}."), 0


def test_http_captions_on_ray_equal_local(ray_cluster, made, tmp_path, monkeypatch):
    with ChatServer(_caption) as server:
        spec = f"http:captioner@{server.base_url}"
        monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache-local"))
        local = opened(made, tmp_path / "local")
        texts_local = list(local.describe(spec).texts)
        monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache-ray"))  # a fresh description cache
        on_ray = opened(made, tmp_path / "ray", executor=ON_RAY)
        texts_ray = list(on_ray.describe(spec).texts)
        assert len(server.requests) == 2 * 18  # every clip described once by each executor
    assert texts_ray == texts_local and len(set(texts_ray)) == 18
    section = on_ray.run_dir.stage("describe")
    assert section["n_described"] == 18 and section["failed"] == 0
    assert on_ray.run_dir.descriptions_path.read_bytes() == local.run_dir.descriptions_path.read_bytes()
    [cache_file] = (tmp_path / "cache-ray").glob("probes/*/descriptions-*.json")
    stored = json.loads(cache_file.read_text())["descriptions"]
    assert sorted(stored.values()) == sorted(texts_local)  # checkpointed shards merged, nothing left beside
    assert not list(cache_file.parent.glob("*.parts"))
