"""Activation recording: hooks, pooling, the run-directory cache and errors.

Models here have hand-set weights, so every expected activation is exact.
"""

import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.record.hooks import channel_axis, pool_units, recording
from audiodissect.layers import resolve_layers
from audiodissect.probes.base import ArrayProbeSet, ClipInfo
from audiodissect.progress import silent
from audiodissect import Dissection
from audiodissect.record import length_batches, record_activations
from audiodissect.rundir import RunDir
from audiodissect.targets.base import Target


def run_record(run, target, probe, *, layers, shard_size=512, hook=silent):
    """The record stage of `run` through the front door; returns its manifest section."""
    Dissection(target, probe, out=run.path, config={"record": {"shard_size": shard_size}}, hook=hook).record(layers)
    return run.stage("record")


class TinyNet(torch.nn.Module):
    """Waveform (B, T) -> frames (B, T/2, 2) -> Linear(2, 3) -> ReLU -> Conv1d(3, 2, 1) -> mean -> logits (B, 2)."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(2, 3)
        self.act = torch.nn.ReLU()
        self.conv = torch.nn.Conv1d(3, 2, kernel_size=1)
        with torch.no_grad():
            self.proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]))
            self.proj.bias.copy_(torch.tensor([0.0, 1.0, 0.0]))
            self.conv.weight.copy_(torch.tensor([[[1.0], [1.0], [0.0]], [[0.0], [0.0], [2.0]]]))
            self.conv.bias.copy_(torch.tensor([0.0, -1.0]))

    def forward(self, x):
        frames = x.reshape(x.shape[0], -1, 2)
        h = self.act(self.proj(frames))          # (B, F, 3)
        c = self.conv(h.transpose(1, 2))         # (B, 2, F)
        return c.mean(dim=2)


def expected(waves):
    """Hand computation of TinyNet's proj (B, F, 3) and conv (B, 2, F) outputs."""
    frames = np.stack(waves).reshape(len(waves), -1, 2)
    proj = np.stack([frames[..., 0], frames[..., 1] + 1, frames[..., 0] - frames[..., 1]], axis=-1)
    relu = np.maximum(proj, 0)
    conv = np.stack([relu[..., 0] + relu[..., 1], 2 * relu[..., 2] - 1], axis=1)
    return proj, conv


def make_probe(n=5, length=8, seed=0):
    rng = np.random.default_rng(seed)
    waves = [rng.normal(size=length).astype(np.float32) for _ in range(n)]
    clips = [ClipInfo(id=f"c{i}", label="a" if i % 2 else "b", split="probe" if i < n - 1 else "heldout")
             for i in range(n)]
    return ArrayProbeSet(name="tiny", clips=clips, audio=waves, sample_rate=100, spec={"name": "tiny"}), waves


def make_target():
    return Target(name="tiny", module=TinyNet(), sample_rate=100,
                  preprocess=lambda ws: torch.tensor(np.stack(ws)), class_names=["x", "y"])


@pytest.mark.parametrize("pool", ["mean", "max", "first"])
def test_recorded_values_are_exact(pool):
    probe, waves = make_probe()
    acts, logits = record_activations(make_target(), probe, ["proj", "conv"], pool=pool, batch_size=2, hook=silent)
    proj, conv = expected(waves)
    reduce = {"mean": lambda a, ax: a.mean(ax), "max": lambda a, ax: a.max(ax),
              "first": lambda a, ax: np.take(a, 0, axis=ax)}[pool]
    np.testing.assert_allclose(acts["proj"], reduce(proj, 1), rtol=1e-5, atol=1e-6)   # Linear: units on last axis
    np.testing.assert_allclose(acts["conv"], reduce(conv, 2), rtol=1e-5, atol=1e-6)   # Conv: units on axis 1
    np.testing.assert_allclose(logits, conv.mean(2), rtol=1e-5, atol=1e-6)
    assert acts["proj"].dtype == np.float32 and acts["proj"].shape == (5, 3)


def test_rows_stay_in_clip_order_when_batches_are_sorted_by_length():
    rng = np.random.default_rng(1)
    waves = [rng.normal(size=length).astype(np.float32) for length in (8, 4, 6, 4, 8, 6)]
    clips = [ClipInfo(id=f"c{i}", label="a") for i in range(len(waves))]
    probe = ArrayProbeSet(name="v", clips=clips, audio=waves, sample_rate=100, spec={})
    acts, _ = record_activations(make_target(), probe, ["proj"], pool="mean", batch_size=2, hook=silent)
    for i, w in enumerate(waves):
        proj, _ = expected([w])
        np.testing.assert_allclose(acts["proj"][i], proj[0].mean(0), rtol=1e-5, atol=1e-6)


def test_length_batches_hold_one_length_each_and_cover_each_position_once():
    batches = length_batches([5, 1, 3, 1, 5, 5, 5], 2)
    assert sorted(np.concatenate(batches).tolist()) == [0, 1, 2, 3, 4, 5, 6]
    assert [b.tolist() for b in batches] == [[1, 3], [2], [0, 4], [5, 6]]
    with pytest.raises(AudioDissectError, match="batch_size"):
        length_batches([1], 0)


def test_channel_axis_rules():
    lin, conv = torch.nn.Linear(2, 3), torch.nn.Conv2d(1, 4, 1)
    assert channel_axis(lin, torch.zeros(2, 7, 3)) == 2
    assert channel_axis(conv, torch.zeros(2, 4, 5, 5)) == 1
    custom = torch.nn.Identity()
    custom.channel_axis = 1
    assert channel_axis(custom, torch.zeros(2, 4, 3, 5, 5)) == 1


def test_pool_units_on_5d_output():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    np.testing.assert_allclose(pool_units(x, axis=1, pool="mean").numpy(), x.mean(dim=(2, 3)).numpy())
    np.testing.assert_allclose(pool_units(x, axis=1, pool="max").numpy(), x.amax(dim=(2, 3)).numpy())
    np.testing.assert_allclose(pool_units(x, axis=1, pool="first").numpy(), x[:, :, 0, 0].numpy())


def test_unknown_layer_lists_closest_names():
    with pytest.raises(AudioDissectError) as err:
        resolve_layers(TinyNet(), ["prj"])
    assert "proj" in str(err.value)


def test_globs_and_predicates_select_layers():
    net = TinyNet()
    assert resolve_layers(net, "c*") == ["conv"]
    assert resolve_layers(net, ["proj", "conv"]) == ["proj", "conv"]
    assert resolve_layers(net, lambda n: n.startswith("p")) == ["proj"]


def test_hook_that_never_fires_is_an_error_and_hooks_are_removed():
    net = TinyNet()
    net.unused = torch.nn.Linear(2, 2)
    with pytest.raises(AudioDissectError, match="never ran"):
        with recording(net, ["unused"], n_rows=1) as rec:
            rec.rows = np.array([0])
            net(torch.zeros(1, 4))
    assert not net.unused._forward_hooks
    with pytest.raises(ZeroDivisionError):
        with recording(net, ["proj"], n_rows=1):
            1 / 0
    assert not net.proj._forward_hooks


def test_unknown_pooling_is_an_error():
    probe, _ = make_probe()
    with pytest.raises(AudioDissectError, match="pooling"):
        record_activations(make_target(), probe, ["proj"], pool="median", hook=silent)


def test_run_record_writes_files_and_reuses_cache(tmp_path):
    probe, waves = make_probe(n=7)
    run = RunDir(tmp_path / "run")
    target = make_target()
    section = run_record(run, target, probe, layers=["proj", "conv"], shard_size=3, hook=silent)
    assert section["layers"] == {"proj": 3, "conv": 2}
    proj, conv = expected(waves)
    np.testing.assert_allclose(run.activations("proj"), proj.mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run.logits(), conv.mean(2), rtol=1e-5, atol=1e-6)
    assert [c.id for c in run.clips()] == [c.id for c in probe.clips]
    assert run.probe_rows().tolist() == [0, 1, 2, 3, 4, 5]
    mtime = run.activation_path("proj").stat().st_mtime_ns
    run_record(run, target, probe, layers=["proj", "conv"], shard_size=3, hook=silent)
    assert run.activation_path("proj").stat().st_mtime_ns == mtime          # cached: not rewritten
    with torch.no_grad():
        target.module.proj.bias.add_(1.0)
    run_record(run, target, probe, layers=["proj", "conv"], shard_size=3, hook=silent)
    assert run.activation_path("proj").stat().st_mtime_ns != mtime          # weights changed: recomputed
    np.testing.assert_allclose(run.activations("proj"), proj.mean(1) + 1, rtol=1e-5, atol=1e-6)


def test_changed_audio_under_the_same_ids_is_recorded_again(tmp_path):
    probe, waves = make_probe(n=4)
    run = RunDir(tmp_path / "run")
    target = make_target()
    run_record(run, target, probe, layers=["proj"], hook=silent)
    louder = [2 * w for w in waves]  # same spec, ids, labels and splits; other audio
    changed = ArrayProbeSet(name="tiny", clips=probe.clips, audio=louder, sample_rate=100, spec={"name": "tiny"})
    assert changed.content_key() != probe.content_key()
    run_record(run, target, changed, layers=["proj"], hook=silent)
    proj, _ = expected(louder)
    np.testing.assert_allclose(run.activations("proj"), proj.mean(1), rtol=1e-5, atol=1e-6)


def shards_recorded(monkeypatch, *, interrupt_at: int | None = None) -> list:
    """Note the clips of each shard the record stage records from now on; with `interrupt_at`, the run is
    interrupted (KeyboardInterrupt) at that shard, counted from 1."""
    import audiodissect.record.stage as rec
    from audiodissect.record.activations import record_clips

    calls = []

    def noted(*args, indices, **kw):
        calls.append(list(indices))
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return record_clips(*args, indices=indices, **kw)

    monkeypatch.setattr(rec, "record_clips", noted)
    return calls


def test_interrupted_run_resumes_finished_shards(tmp_path, monkeypatch):
    probe, waves = make_probe(n=6)
    run = RunDir(tmp_path / "run")
    shards_recorded(monkeypatch, interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_record(run, make_target(), probe, layers=["proj"], shard_size=2, hook=silent)
    calls = shards_recorded(monkeypatch)
    run_record(run, make_target(), probe, layers=["proj"], shard_size=2, hook=silent)
    assert calls == [[2, 3], [4, 5]]                # the first shard was not recorded again
    proj, _ = expected(waves)
    np.testing.assert_allclose(run.activations("proj"), proj.mean(1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("damage", ["rows", "width", "frames", "order", "traversal"])
def test_a_finished_shard_that_does_not_fit_its_clips_is_recorded_again(tmp_path, monkeypatch, caplog, damage):
    import dataclasses

    probe, waves = make_probe(n=6)
    out = tmp_path / "run"

    def record():
        target = dataclasses.replace(make_target(), layouts={"proj": "BTC"})
        Dissection(target, probe, out=out, config={"record": {"shard_size": 2}}, hook=silent).record(
            ["proj"], frames="proj")

    shards_recorded(monkeypatch, interrupt_at=3)
    with pytest.raises(KeyboardInterrupt):
        record()
    shard_dir = next((out / "activations" / "shards").iterdir())
    first = shard_dir / "00000"
    if damage == "rows":
        np.save(first / "proj.npy", np.load(first / "proj.npy")[:1])
    elif damage == "width":
        np.save(first / "logits.npy", np.zeros((2, 5), dtype=np.float32))
    elif damage == "frames":
        np.save(first / "proj.offsets.npy", np.array([0, 9, 2], dtype=np.int64))
    elif damage == "order":
        (shard_dir / "order.json").write_text("not json")
    else:  # a layer "name" that would read a file outside the shard
        (shard_dir / "order.json").write_text('["../../../../../elsewhere"]')
    calls = shards_recorded(monkeypatch)
    with caplog.at_level("WARNING", logger="audiodissect"):
        record()
    # two finished shards that disagree on a width leave no majority: both are recorded again
    again = [[0, 1], [2, 3], [4, 5]] if damage in ("order", "traversal", "width") else [[0, 1], [4, 5]]
    assert calls == again                             # the damaged shard, and the unfinished one
    assert "is recorded again" in caplog.text
    proj, _ = expected(waves)
    run = RunDir(out)
    np.testing.assert_allclose(run.activations("proj"), proj.mean(1), rtol=1e-5, atol=1e-6)
    assert run.frames("proj").values.shape == (6 * 4, 3)
