"""Small tensor jobs side by side on threads (audiodissect.threads), and the stages that use them giving what
one job at a time gives."""

import threading

import numpy as np
import pytest
import torch

from audiodissect.identify.naming import name_layer, name_units, naming_sources
from audiodissect.identify.stability import name_stability
from audiodissect.records import UnitName
from audiodissect.threads import largest_float32_bytes, thread_map, thread_workers, torch_threads


def test_jobs_run_on_threads_with_one_torch_thread_and_come_back_in_order():
    seen = []
    both = threading.Barrier(2, timeout=10)  # only passes when two jobs run at the same time

    def job(i):
        if i < 2:
            both.wait()
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return i * i

    with torch_threads(2):
        assert list(thread_map(job, range(6), workers=2)) == [0, 1, 4, 9, 16, 25]
        assert torch.get_num_threads() == 2  # restored
    assert all(name.startswith("audiodissect") and threads == 1 for name, threads in seen)


def test_one_worker_runs_here_with_torch_threads_unchanged():
    seen = []
    with torch_threads(2):
        out = list(thread_map(lambda i: seen.append((threading.current_thread(), torch.get_num_threads())) or i,
                              [1, 2], workers=1))
    assert out == [1, 2] and seen == [(threading.current_thread(), 2)] * 2


def test_an_error_is_raised_and_jobs_not_started_never_start():
    started = []
    gate = threading.Event()

    def job(i):
        started.append(i)
        if i == 0:
            raise ValueError("bad item")
        gate.wait(10)  # job 1 holds the other thread until the error is raised
        return i

    threading.Timer(0.5, gate.set).start()
    with torch_threads(2), pytest.raises(ValueError, match="bad item"):
        list(thread_map(job, range(50), workers=2))
    assert len(started) < 50
    assert torch.get_num_threads() >= 1


def test_workers_follow_torch_threads_and_the_memory_budget():
    with torch_threads(3):
        assert thread_workers() == 3
        assert thread_workers(item_bytes=400, budget=1000) == 2
        assert thread_workers(item_bytes=5000, budget=1000) == 1  # one item at a time, even over budget


def _planted(seed=0, n=200, layers=6):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    evidence = np.eye(3, dtype=np.float32)[labels] + 0.3 * rng.normal(size=(n, 3)).astype(np.float32)
    acts = {}
    for k in range(layers):
        a = rng.normal(size=(n, 5)).astype(np.float32)
        a[:, :3] += (0.25 + 0.05 * k) * np.eye(3, dtype=np.float32)[labels]
        acts[f"L{k}"] = a
    return evidence, acts


def test_name_stability_on_threads_equals_one_group_at_a_time(monkeypatch):
    evidence, acts = _planted()
    concepts = ["dog", "rain", "piano"]
    names = [UnitName(unit=f"{layer}#{i}", layer=layer, index=i, name=concepts[i % 3], status="named",
                      method="tab", similarity="cos") for layer in acts for i in range(5)]  # some names weak
    noisy = {layer: a + 0.5 * np.random.default_rng(1).normal(size=a.shape).astype(np.float32)
             for layer, a in acts.items()}
    with torch_threads(2):
        parallel = name_stability(names, {"tab": evidence}, acts, noisy, concepts, resamples=7, seed=3)
    monkeypatch.setattr("audiodissect.identify.stability.thread_workers", lambda **_: 1)
    sequential = name_stability(names, {"tab": evidence}, acts, noisy, concepts, resamples=7, seed=3)
    assert parallel == sequential
    # the resamples differ from group to group: survival is not the same everywhere
    assert len({r.bootstrap_survival for r in parallel}) > 1


def test_name_units_on_threads_equals_one_layer_at_a_time(monkeypatch):
    evidence, acts = _planted()
    concepts = ["dog", "rain", "piano"]
    seen = []  # the threads that named a layer

    def naming(layer, *args, **kwargs):
        seen.append(threading.current_thread().name)
        return name_layer(layer, *args, **kwargs)

    monkeypatch.setattr("audiodissect.identify.naming.name_layer", naming)
    with torch_threads(2):
        names = name_units({"tab": evidence}, acts, concepts)
    sources = naming_sources({"tab": evidence}, concepts)
    assert names == [r for layer, a in acts.items() for r in name_layer(layer, a, sources, concepts)]
    assert [r.layer for r in names] == [layer for layer in acts for _ in range(5)]   # the layers' order kept
    assert all(name.startswith("audiodissect") for name in seen)                     # named on the pool's threads


def test_largest_float32_bytes():
    assert largest_float32_bytes([(3, 4), (10, 2), (5,)]) == 4 * 20
    assert largest_float32_bytes([]) == 0


def test_identify_on_threads_writes_what_one_layer_at_a_time_writes(tmp_path, monkeypatch):
    import audiodissect as ad
    from audiodissect.progress import silent
    from stage_fixtures import CLASSES, PROBE_OPTIONS, make_target, write_descriptions

    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    probe = ad.load_probe("soundbank", **PROBE_OPTIONS)
    write_descriptions(tmp_path / "descriptions.json", probe)
    written = []
    for out in ("threads", "one"):
        if out == "one":
            monkeypatch.setattr("audiodissect.threads.thread_workers", lambda **_: 1)
        d = ad.Dissection(make_target().module, probe, tmp_path / out, sample_rate=16000,
                          preprocess=make_target().preprocess, class_names=CLASSES, hook=silent)
        d.record(layers=["conv", "classifier"])
        d.describe(f"file:{tmp_path / 'descriptions.json'}")
        with torch_threads(2):
            d.identify(methods=["db", "labels"])
        written.append([(tmp_path / out / "units" / name).read_bytes() for name in ("identify.jsonl", "names.jsonl")])
    assert written[0] == written[1] and written[0][0].count(b"\n") > 10
