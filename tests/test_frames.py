"""Frame-level recording: frames along time with their spans, pooled arrays derived from them, the run's files,
and length buckets that let clips of different lengths share a batch without changing any clip's activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiodissect import Dissection
from audiodissect.errors import AudioDissectError
from audiodissect.frames import FrameActivations, FrameTiming, pool_frames, uniform_spans
from audiodissect.layout import frame_output, parse_layout
from audiodissect.progress import silent
from audiodissect.record.activations import bucket_lengths, record_waveform_frames, record_waveforms
from audiodissect.rundir import RunDir
from audiodissect.targets.base import Target

SR = 16000


class FrameNet(torch.nn.Module):
    """conv: 10 ms frames, unit 0 the frame's mean sample, unit 1 minus twice it; head: the pooled units summed."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(1, 2, 160, stride=160, bias=False)
        self.head = torch.nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight[0] = 1.0 / 160
            self.conv.weight[1] = -2.0 / 160
            self.head.weight[:] = 1.0

    def forward(self, x):
        return self.head(self.conv(x.unsqueeze(1)).mean(dim=2))


def frame_target(**options) -> Target:
    return Target(name="frame-net", module=FrameNet(), sample_rate=SR,
                  preprocess=lambda ws: torch.from_numpy(np.stack(ws)), layouts={"conv": "BCT"},
                  frame_timings={"conv": FrameTiming(hop=0.01, window=0.01)}, **options)


def steps(*levels_and_seconds):
    """A waveform of constant levels: (level, seconds) pairs one after another."""
    return np.concatenate([np.full(int(round(s * SR)), v, dtype=np.float32) for v, s in levels_and_seconds])


def test_frames_of_a_hand_weighted_layer_are_exact_with_their_spans():
    waves = [steps((0.0, 0.5), (1.0, 0.25), (0.5, 0.25)), steps((2.0, 0.3))]
    acts, logits, frames = record_waveform_frames(frame_target(), waves, ["conv", "head"], frames=["conv"],
                                                  hook=silent)
    f = frames["conv"]
    np.testing.assert_array_equal(f.counts, [100, 30])
    values, spans = f.clip(0)
    np.testing.assert_allclose(values[:, 0], [0.0] * 50 + [1.0] * 25 + [0.5] * 25, atol=1e-5)
    np.testing.assert_allclose(values[:, 1], -2 * values[:, 0], atol=1e-5)
    np.testing.assert_allclose(spans[[0, 50, 99]], [[0.0, 0.01], [0.5, 0.51], [0.99, 1.0]], atol=1e-6)
    np.testing.assert_allclose(acts["conv"], [[0.375, -0.75], [2.0, -4.0]], atol=1e-5)   # pooled from the frames
    np.testing.assert_allclose(logits[:, 0], [-0.375, -2.0], atol=1e-5)
    assert list(frames) == ["conv"]                                                          # head has no time axis


def test_windows_place_frames_where_they_lie_in_the_clip():
    wave = steps((0.0, 0.4), (1.0, 0.4), (3.0, 0.4))                                        # 1.2 s, windows of 0.4 s
    _, _, whole = record_waveform_frames(frame_target(), [wave], ["conv"], frames=["conv"], hook=silent,
                                         window_seconds=None)
    acts, _, cut = record_waveform_frames(frame_target(), [wave], ["conv"], frames=["conv"], hook=silent,
                                          window_seconds=0.5)
    np.testing.assert_allclose(cut["conv"].values, whole["conv"].values, atol=1e-6)
    np.testing.assert_allclose(cut["conv"].spans, whole["conv"].spans, atol=1e-5)
    np.testing.assert_allclose(cut["conv"].spans[[40, 119]], [[0.4, 0.41], [1.19, 1.2]], atol=1e-5)
    np.testing.assert_allclose(acts["conv"][0, 0], (0 + 1 + 3) / 3, atol=1e-5)


def test_frames_that_hold_only_padding_are_dropped():
    target = frame_target(min_samples=int(0.2 * SR))                                       # 0.05 s -> 0.2 s of input
    acts, _, frames = record_waveform_frames(target, [steps((1.0, 0.05))], ["conv"], frames=["conv"], hook=silent)
    assert frames["conv"].counts.tolist() == [5] and frames["conv"].spans[-1, 0] < 0.05
    np.testing.assert_allclose(acts["conv"][0, 0], 1.0, atol=1e-5)                         # not diluted by silence
    pooled, _ = record_waveforms(target, [steps((1.0, 0.05))], ["conv"], hook=silent)
    np.testing.assert_allclose(pooled["conv"][0, 0], 0.25, atol=1e-5)                      # pooled-only keeps it


def test_pooled_arrays_derived_from_frames_equal_direct_pooling():
    from audiodissect.targets.demo_cnn import DemoCNN, make_target

    torch.manual_seed(0)
    target = make_target(DemoCNN(n_classes=4), list("abcd"))
    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(int(s * SR))).astype(np.float32) for s in (0.4, 1.0, 2.5)]
    layers = ["features.conv1", "features.conv3", "features", "fc"]
    for pool in ("mean", "max", "first"):
        direct, logits = record_waveforms(target, waves, layers, pool=pool, window_seconds=2.0, hook=silent)
        derived, logits2, frames = record_waveform_frames(target, waves, layers, frames=["features*"], pool=pool,
                                                          window_seconds=2.0, hook=silent)
        assert list(frames) == ["features.conv1", "features.conv3", "features"]
        for name in layers:
            if pool == "mean" and name in frames:
                np.testing.assert_allclose(derived[name], direct[name], rtol=1e-5, atol=1e-6)
            else:
                np.testing.assert_array_equal(derived[name], direct[name])
        np.testing.assert_array_equal(logits2, logits)
        # conv3 (two poolings) frames: 40 ms hop, 55 ms window
        spans = frames["features.conv3"].clip(1)[1]
        np.testing.assert_allclose(spans[:2], [[0.0, 0.055], [0.04, 0.095]], atol=1e-6)


def test_layouts_name_time():
    assert parse_layout("BCTF").time == 2 and parse_layout("BTC").time == 1
    assert parse_layout("(BT)C").has_time and parse_layout("(BT)C").time is None
    assert not parse_layout("BCHW").has_time
    out = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)              # B C T F
    frames = frame_output(out, parse_layout("BCTF"), n_clips=2, pool="max")
    assert frames.shape == (2, 4, 3)
    np.testing.assert_array_equal(frames.numpy(), out.amax(dim=3).permute(0, 2, 1).numpy())
    flat = torch.arange(6 * 2, dtype=torch.float32).reshape(6, 2)                           # (BT) C, B=2, T=3
    np.testing.assert_array_equal(frame_output(flat, parse_layout("(BT)C"), n_clips=2, pool="mean").numpy(),
                                  flat.reshape(2, 3, 2).numpy())
    with pytest.raises(AudioDissectError, match="names no time axis") as info:
        frame_output(out, parse_layout("BCHW"), n_clips=2, pool="mean", layer="conv")
    assert "BCTF" in info.value.hint


def test_a_named_frame_layer_without_time_is_an_error_and_a_glob_skips_it():
    waves = [steps((1.0, 0.1))]
    with pytest.raises(AudioDissectError, match="'head'.*names no time axis"):
        record_waveform_frames(frame_target(), waves, ["conv", "head"], frames=["head"], hook=silent)
    _, _, frames = record_waveform_frames(frame_target(), waves, ["conv", "head"], frames=["*"], hook=silent)
    assert list(frames) == ["conv"]
    with pytest.raises(AudioDissectError, match="recorded layer for frames"):
        record_waveform_frames(frame_target(), waves, ["conv"], frames=["cnov"], hook=silent)


def test_ragged_frames_pool_and_uniform_spans():
    values = np.array([[1.0], [3.0], [2.0], [5.0], [4.0], [0.0]], dtype=np.float32)
    offsets = np.array([0, 2, 3, 6])
    np.testing.assert_array_equal(pool_frames(values, offsets, pool="mean")[:, 0], [2.0, 2.0, 3.0])
    np.testing.assert_array_equal(pool_frames(values, offsets, pool="max")[:, 0], [3.0, 2.0, 5.0])
    np.testing.assert_array_equal(pool_frames(values, offsets, pool="first")[:, 0], [1.0, 2.0, 5.0])
    np.testing.assert_allclose(uniform_spans(4, 16000, SR), [[0, .25], [.25, .5], [.5, .75], [.75, 1.0]])
    with pytest.raises(AudioDissectError, match="inconsistent frames"):
        FrameActivations(values=values, offsets=np.array([0, 2, 5]), spans=np.zeros((6, 2)))
    np.testing.assert_array_equal(bucket_lengths(np.array([1, 1600, 1601, 3200]), 1600), [1600, 1600, 3200, 3200])


@pytest.mark.parametrize("bucket", [None, 0.25])
def test_batch_sizes_1_3_and_32_give_equal_activations_and_frames(bucket):
    from audiodissect.targets.demo_cnn import DemoCNN, make_target

    torch.manual_seed(0)
    target = make_target(DemoCNN(n_classes=3), list("abc"))
    rng = np.random.default_rng(1)
    lengths = rng.uniform(0.3, 1.0, size=9)
    waves = [(0.1 * rng.standard_normal(int(s * SR))).astype(np.float32) for s in lengths]
    layers = ["features.conv2", "features", "fc", "classifier"]
    results = {bs: record_waveform_frames(target, waves, layers, frames=["features*"], batch_size=bs,
                                          length_bucket=bucket, hook=silent) for bs in (1, 3, 32)}
    acts1, logits1, frames1 = results[1]
    for bs in (3, 32):
        acts, logits, frames = results[bs]
        for name in layers:
            np.testing.assert_allclose(acts[name], acts1[name], rtol=0, atol=1e-5, err_msg=f"{name} bs={bs}")
        np.testing.assert_allclose(logits, logits1, rtol=0, atol=1e-5)
        for name in frames1:
            np.testing.assert_array_equal(frames[name].offsets, frames1[name].offsets)
            np.testing.assert_allclose(frames[name].values, frames1[name].values, rtol=0, atol=1e-5)
    alone = record_waveform_frames(target, waves[4:5], layers, frames=["features*"], length_bucket=bucket,
                                   hook=silent)
    np.testing.assert_allclose(alone[0]["fc"][0], acts1["fc"][4], rtol=0, atol=1e-5)
    if bucket is not None:      # no frame starts after its clip's audio ends
        for name, f in frames1.items():
            ends = np.repeat(lengths, f.counts)
            assert np.all(f.spans[:, 0] < ends + 1e-6), name


def test_a_recorded_run_keeps_frames_and_events_as_named_files(tmp_path, monkeypatch):
    from stage_fixtures import make_target, tiny_probe

    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    plain = Dissection(make_target(), tiny_probe(), out=tmp_path / "plain", hook=silent)
    plain.record(["conv", "classifier"])
    d = Dissection(make_target(), tiny_probe(), out=tmp_path / "framed", hook=silent, layouts={"conv": "BCT"})
    d.record(["conv", "classifier"], frames="conv")
    run = RunDir(tmp_path / "framed")
    assert run.frame_layers() == ["conv"] and run.unnamed_files() == []
    frames = run.frames("conv")
    n = len(run.clips())
    assert frames.n_clips == n and frames.values.shape[1] == 4
    np.testing.assert_array_equal(frames.counts, np.full(n, 1 + (SR - 256) // 128))        # 1 s clips, stride 128
    t = 1 + (SR - 256) // 128                       # no declared timing: the uniform rule over the 1 s input
    np.testing.assert_allclose(frames.spans[[1, t - 1]], [[1 / t, 2 / t], [(t - 1) / t, 1.0]], atol=1e-6)
    np.testing.assert_allclose(run.activations("conv"), frames.pooled("mean"), atol=1e-6)
    np.testing.assert_allclose(run.activations("conv"), RunDir(tmp_path / "plain").activations("conv"), atol=1e-5)
    np.testing.assert_array_equal(run.activations("classifier"), RunDir(tmp_path / "plain").activations("classifier"))
    assert run.stage("record")["frames"] == {"conv": int(frames.counts.sum())}
    with pytest.raises(AudioDissectError, match="not recorded frame by frame"):
        run.frames("classifier")
