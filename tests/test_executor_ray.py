"""The executor interface: local by default, Ray when asked, with the same answers and recovery from dead workers.

One local Ray instance (2 CPUs) serves the whole module. The tiny wave model
and soundbank of :mod:`stage_fixtures` reach the workers by cloudpickle;
``tests/`` is put on the workers' PYTHONPATH so that the classes they name
can be imported there, as a user's own modules must be importable on every
node.
"""

import os
from pathlib import Path

import numpy as np
import pytest

import audiodissect as ad
from audiodissect.config import RunConfig, from_dict
from audiodissect.errors import AudioDissectError
from audiodissect.executor import LocalExecutor, RayExecutor, make_executor, shared_state
from audiodissect.progress import silent
from audiodissect.record.stage import write_recording
from audiodissect.rundir import RunDir
from stage_fixtures import PROBE_OPTIONS, make_target

LAYERS = ["conv", "classifier"]


@pytest.fixture
def probe(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    return ad.load_probe("soundbank", **PROBE_OPTIONS)


def _double(x):
    return 2 * x


def _scaled(state, x):
    return state["factor"] * x, state["pid"]


def _factor_three():
    return {"factor": 3, "pid": os.getpid()}


class DieOnce:
    """Kills its own worker process the first time it runs (a marker file remembers), then doubles."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __call__(self, x):
        if x == 2 and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)
        return 2 * x


class DieOnceForward:
    """A target's forward that kills its worker process on its first call anywhere (a marker file remembers)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __call__(self, module, inputs):
        if not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)
        return module(inputs)


class FailAfterTwoBatches:
    """A target's forward that raises from its third call on (the first shard of four clips takes two)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, module, inputs):
        self.calls += 1
        if self.calls > 2:
            raise AudioDissectError("planted failure")
        return module(inputs)


def _fail_on_three(x):
    if x == 3:
        raise AudioDissectError("planted failure", hint="none")
    return x


def _record(run_path, probe, *, executor=None, target=None, shard_size=4, key="k"):
    run = RunDir(run_path)
    facts = write_recording(run, target or make_target(), probe, layers=LAYERS, pool="mean", batch_size=2,
                            key=key, shard_size=shard_size, hook=silent, executor=executor)
    return run, facts


def _assert_same_recording(a: RunDir, b: RunDir, facts_a, facts_b):
    assert facts_a == facts_b
    for layer in LAYERS:
        np.testing.assert_array_equal(np.asarray(a.activations(layer)), np.asarray(b.activations(layer)))
    np.testing.assert_array_equal(a.logits(), b.logits())
    assert [c.id for c in a.clips()] == [c.id for c in b.clips()]


# -- the interface, without Ray ---------------------------------------------------------------------------

def test_local_executor_keeps_order_and_sets_up_once():
    calls = []

    def setup():
        calls.append(1)
        return {"factor": 3, "pid": os.getpid()}

    executor = LocalExecutor()
    assert list(executor.map(_double, [3, 1, 2])) == [6, 2, 4]
    assert [v for v, _ in executor.map(_scaled, [1, 2, 3], setup=setup)] == [3, 6, 9] and calls == [1]
    assert list(executor.map(_scaled, [], setup=setup)) == [] and calls == [1]  # no items: no setup
    state = {"factor": 2, "pid": 0}
    assert [v for v, _ in executor.map(_scaled, [1, 2], setup=shared_state(state))] == [2, 4]
    assert shared_state(state)() is state  # in this process the value itself, not a copy


def test_executor_settings_are_validated_and_chosen_by_config():
    with pytest.raises(AudioDissectError, match="executor.name"):
        from_dict(RunConfig, {"executor": {"name": "spark"}})
    with pytest.raises(AudioDissectError, match="gpus_per_worker"):
        from_dict(RunConfig, {"executor": {"gpus_per_worker": -1}})
    with pytest.raises(AudioDissectError, match="workers"):
        RayExecutor(workers=0)
    chosen = make_executor(from_dict(RunConfig, {"executor": {"name": "ray", "ray_address": "auto"}}).executor)
    assert isinstance(chosen, RayExecutor) and chosen.address == "auto"
    assert isinstance(make_executor(RunConfig().executor), LocalExecutor)


def test_missing_ray_is_an_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # `import ray` now fails
    with pytest.raises(AudioDissectError) as info:
        list(RayExecutor().map(_double, [1]))
    assert "audiodissect[ray]" in info.value.hint


# -- on Ray ---------------------------------------------------------------------------------------------

def test_ray_tasks_and_workers_give_results_in_order(ray_cluster):
    executor = RayExecutor(workers=2)
    assert list(executor.map(_double, list(range(7)))) == [2 * i for i in range(7)]
    results = list(executor.map(_scaled, list(range(7)), setup=_factor_three))
    assert [v for v, _ in results] == [3 * i for i in range(7)]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2  # set up once per worker, never in the driver


def test_a_killed_task_is_retried_and_counted_once(ray_cluster, tmp_path):
    marker = tmp_path / "died"
    assert list(RayExecutor(max_retries=2).map(DieOnce(marker), [1, 2, 3])) == [2, 4, 6]
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # it did die, in a worker


def test_an_error_of_the_work_itself_is_raised_not_retried(ray_cluster):
    with pytest.raises(AudioDissectError, match="planted failure") as info:
        list(RayExecutor(max_retries=3).map(_fail_on_three, [1, 2, 3, 4]))
    assert info.value.hint == "none"  # the project's own error, as raised in the worker


def test_recording_on_ray_equals_local(ray_cluster, tmp_path, probe):
    local, facts_local = _record(tmp_path / "local", probe)
    on_ray, facts_ray = _record(tmp_path / "ray", probe, executor=RayExecutor(workers=2))
    _assert_same_recording(local, on_ray, facts_local, facts_ray)
    assert facts_ray["output_layer"] == "classifier" and len(probe) == 18  # 5 shards of at most 4 clips
    assert not (tmp_path / "ray" / "activations" / "shards").exists()  # merged, then removed


def test_a_worker_killed_mid_recording_is_retried_and_nothing_is_lost_or_doubled(ray_cluster, tmp_path, probe):
    local, facts_local = _record(tmp_path / "local", probe)
    marker = tmp_path / "died"
    target = make_target()
    target.forward = DieOnceForward(marker)
    on_ray, facts_ray = _record(tmp_path / "ray", probe, target=target, executor=RayExecutor(workers=2, max_retries=2))
    assert marker.exists() and int(marker.read_text()) != os.getpid()
    _assert_same_recording(local, on_ray, facts_local, facts_ray)


def test_an_interrupted_local_recording_resumes_on_ray(ray_cluster, tmp_path, probe):
    target = make_target()
    target.forward = FailAfterTwoBatches()  # shard 0 (two batches) is written, shard 1 fails
    with pytest.raises(AudioDissectError, match="planted failure"):
        _record(tmp_path / "run", probe, target=target)
    shards = RunDir(tmp_path / "run").shard_dir("k-4")  # the stage's key and the shard size
    assert (shards / "00000.done").exists() and not (shards / "00001.done").exists()
    planted = np.zeros_like(np.load(shards / "00000" / "conv.npy"))
    np.save(shards / "00000" / "conv.npy", planted)  # what the finished shard holds now
    resumed, facts = _record(tmp_path / "run", probe, executor=RayExecutor(workers=2))
    local, facts_local = _record(tmp_path / "local", probe)
    conv, conv_local = np.asarray(resumed.activations("conv")), np.asarray(local.activations("conv"))
    np.testing.assert_array_equal(conv[:4], planted)  # shard 0 was kept, not recorded again
    np.testing.assert_array_equal(conv[4:], conv_local[4:])  # the rest recorded on Ray, each clip once
    np.testing.assert_array_equal(resumed.logits(), local.logits())
    assert facts == facts_local and not shards.exists()


def test_dissection_on_ray_gives_the_same_run_and_cache(ray_cluster, tmp_path, probe):
    def dissection(out, **config):
        return ad.Dissection(make_target(), probe, out, factory="stage_fixtures:make_target", hook=silent,
                             config=config)

    acts_local = dissection(tmp_path / "local").record(layers=LAYERS)
    on_ray = dissection(tmp_path / "ray", executor={"name": "ray", "workers": 2})
    acts_ray = on_ray.record(layers=LAYERS)
    for layer in LAYERS:
        np.testing.assert_array_equal(acts_local[layer], acts_ray[layer])
    assert on_ray.run_dir.stage("record")["key"] == RunDir(tmp_path / "local").stage("record")["key"]
    # reopened (its saved settings ask for Ray again; the user's own run, whose factory it trusts): the
    # recording is current, nothing recomputed
    again = ad.Dissection.open(tmp_path / "ray", probe=probe, hook=silent, trust=True)
    assert again.config.executor.name == "ray"
    again.record(layers=LAYERS)
    assert again.runner.outcomes["record"].reused


def test_run_flags_fill_the_executor_settings():
    from audiodissect.cli import build_parser
    from audiodissect.cli._settings import settings_from_args
    from audiodissect.cli.run import FLAGS

    args = build_parser().parse_args(["run", "--executor", "ray", "--ray-address", "auto",
                                      "--gpus-per-worker", "0.5"])
    assert settings_from_args(args, FLAGS) == {"executor": {"name": "ray", "ray_address": "auto",
                                                            "gpus_per_worker": 0.5}}
