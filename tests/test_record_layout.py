"""Units on the right axis, declared layouts, frame-wise models, windows, layer order, short clips, TorchScript.

Models have hand-set weights (or are checked against a hand computation), so
expected activations are exact.
"""

import numpy as np
import pytest
import torch

import audiodissect as ad
from audiodissect.errors import AudioDissectError
from audiodissect.layers import resolve_layers
from audiodissect.progress import silent
from audiodissect.record import record_waveforms
from audiodissect.layout import parse_layout
from audiodissect.record.unit_axis import channel_axis
from audiodissect.record.windows import plan_windows
from audiodissect.targets import from_module
from audiodissect.targets.base import Target
from audiodissect.targets.demo_cnn import DemoCNN, make_target

POOLS = {"mean": lambda a, ax: a.mean(ax), "max": lambda a, ax: a.max(ax), "first": lambda a, ax: np.take(a, 0, ax)}


def waves(*lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) for n in lengths]


def stack(ws):
    return torch.from_numpy(np.stack(ws))


# -- units per module type ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo():
    torch.manual_seed(0)
    return make_target(DemoCNN(n_classes=3), ["a", "b", "c"])


def test_demo_cnn_units_follow_module_types(demo):
    clip = waves(8000)
    acts, logits = record_waveforms(demo, clip, "*", hook=silent)
    units = {name: a.shape[1] for name, a in acts.items()}
    assert units["features.conv1"] == units["features.bn1"] == units["features.relu1"] == 16
    assert units["features.pool1"] == 16 and units["features.pool3"] == 64
    assert units["features"] == units["features.relu4"] == 128          # a Sequential: its last child's layout
    assert units["fc"] == 128 and units["dropout"] == 128 and units["classifier"] == 3
    with torch.no_grad():
        model = demo.module
        x = ((demo.preprocess(clip) - model.band_mean) / model.band_std).unsqueeze(1)
        relu1 = model.features.relu1(model.features.bn1(model.features.conv1(x)))
    np.testing.assert_allclose(acts["features.relu1"], relu1.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, acts["classifier"], rtol=1e-6)


class Square(torch.nn.Module):
    def forward(self, x):
        return x * x


class Framed(torch.nn.Module):
    """(B, T) -> frames (B, F, 2) -> Linear(2, 3) [weights hand-set] -> Square -> ReLU -> mean -> (B, 3)."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(2, 3, bias=False)
        self.square = Square()
        self.act = torch.nn.ReLU()
        with torch.no_grad():
            self.proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]))

    def forward(self, x):
        return self.act(self.square(self.proj(x.reshape(x.shape[0], -1, 2)))).mean(dim=1)


def framed_expected(ws):
    frames = np.stack(ws).reshape(len(ws), -1, 2)
    return np.stack([frames[..., 0], frames[..., 1], frames[..., 0] - frames[..., 1]], axis=-1) ** 2  # (B, F, 3)


def test_ambiguous_custom_module_is_an_error_until_its_layout_is_declared():
    ws = waves(8, 8, 12)
    target = from_module(Framed(), sample_rate=100, preprocess=stack)
    with pytest.raises(AudioDissectError) as err:
        record_waveforms(target, ws, ["square"], hook=silent)
    assert "square" in str(err.value) and "(2, 4, 3)" in str(err.value) and "layouts=" in err.value.hint
    with pytest.raises(AudioDissectError):                  # a ReLU outside a Sequential: no guess either
        record_waveforms(target, ws, ["act"], hook=silent)
    declared = from_module(Framed(), sample_rate=100, preprocess=stack, layouts={"square": "BTC", "act": "BTC"})
    for pool, reduce in POOLS.items():
        acts, _ = record_waveforms(declared, ws, ["square", "act"], pool=pool, hook=silent)
        for i, w in enumerate(ws):
            np.testing.assert_allclose(acts["square"][i], reduce(framed_expected([w])[0], 0), rtol=1e-5)
        np.testing.assert_array_equal(acts["act"], acts["square"])


def test_channel_axis_per_module_type():
    x3, x4 = torch.zeros(2, 5, 7), torch.zeros(2, 5, 6, 7)
    assert channel_axis(torch.nn.Conv1d(1, 5, 1), x3) == 1
    assert channel_axis(torch.nn.MaxPool2d(2), x4) == 1
    assert channel_axis(torch.nn.BatchNorm1d(5), x3) == 1
    assert channel_axis(torch.nn.Linear(1, 7), x3) == 2
    assert channel_axis(torch.nn.LayerNorm(7), x3) == 2
    assert channel_axis(torch.nn.Sequential(torch.nn.Conv1d(1, 5, 1), torch.nn.GELU(), torch.nn.Dropout()), x3) == 1
    assert channel_axis(torch.nn.ReLU(), torch.zeros(2, 5)) == 1          # 2-D: unambiguous
    with pytest.raises(AudioDissectError, match="declare its layout"):
        channel_axis(torch.nn.ReLU(), x3)


def test_sequence_first_attention_keeps_clips_on_axis_1():
    class Attend(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = torch.nn.MultiheadAttention(4, 2)

        def forward(self, x):                                        # x (B, T*4)
            seq = x.reshape(x.shape[0], -1, 4).transpose(0, 1)      # (T, B, 4)
            return self.attn(seq, seq, seq)[0].mean(dim=0)

    torch.manual_seed(0)
    target = from_module(Attend(), sample_rate=100, preprocess=stack)
    ws = waves(12, 12)
    acts, logits = record_waveforms(target, ws, ["attn"], hook=silent)
    np.testing.assert_allclose(acts["attn"], logits, rtol=1e-5, atol=1e-6)


# -- frame-wise models: "(BT)C" ----------------------------------------------------------------------------

class FrameNet(torch.nn.Module):
    """Frames (B*F, 2) -> Linear(2, 3) hand-set -> (B*F, 3) frame scores: no clip logits."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(2, 3, bias=False)
        with torch.no_grad():
            self.proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]))

    def forward(self, frames):
        return self.proj(frames)


def frames_of(ws):
    return stack(ws).reshape(-1, 2)          # clip-major: every frame of clip 0, then of clip 1, ...


@pytest.mark.parametrize("pool", list(POOLS))
def test_frame_wise_model_with_bt_layout(pool):
    ws = waves(8, 8, 6, 10)
    target = from_module(FrameNet(), sample_rate=100, preprocess=frames_of, layouts={"proj": "(BT)C"})
    acts, logits = record_waveforms(target, ws, ["proj"], pool=pool, batch_size=3, hook=silent)
    assert logits.shape == (4, 0)
    for i, w in enumerate(ws):
        f = w.reshape(-1, 2)
        expected = np.stack([f[:, 0], f[:, 1], f[:, 0] - f[:, 1]], axis=1)      # (F, 3)
        np.testing.assert_allclose(acts["proj"][i], POOLS[pool](expected, 0), rtol=1e-5, atol=1e-6)
    pooled = from_module(FrameNet(), sample_rate=100, preprocess=frames_of, layouts={"proj": "(BT)C"},
                         output_layout="(BT)C")
    _, logits = record_waveforms(pooled, ws, ["proj"], hook=silent)
    np.testing.assert_allclose(logits, acts["proj"] if pool == "mean" else logits, rtol=1e-6)
    undeclared = from_module(FrameNet(), sample_rate=100, preprocess=frames_of)
    with pytest.raises(AudioDissectError, match="clip axis"):
        record_waveforms(undeclared, ws, ["proj"], hook=silent)


def test_layout_strings():
    assert parse_layout("(BT)C").frames and parse_layout("BCHW").unit == 1
    assert parse_layout("TBC").batch == 1
    for bad in ("BT", "CC", "B(TC)", "(TB)C", "btc", ""):
        with pytest.raises(AudioDissectError):
            parse_layout(bad)
    with pytest.raises(AudioDissectError, match="matches no module"):
        record_waveforms(from_module(FrameNet(), sample_rate=100, preprocess=frames_of, layouts={"prj": "BC"}),
                         waves(4), ["proj"], hook=silent)


# -- windows -------------------------------------------------------------------------------------------------

class PerSample(torch.nn.Module):
    """(B, T) -> Linear(1, 3) on every sample (B, T, 3), weights [1, -1, 2], bias [0, 0, 1]; logits: mean over T."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(1, 3)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[1.0], [-1.0], [2.0]]))
            self.lin.bias.copy_(torch.tensor([0.0, 0.0, 1.0]))

    def forward(self, x):
        return self.lin(x.unsqueeze(-1)).mean(dim=1)


def test_windows_are_near_equal_and_cover_the_clip():
    plan = plan_windows([20, 5, 16], window=8)
    assert plan.clip.tolist() == [0, 0, 0, 1, 2, 2]
    assert plan.lengths.tolist() == [6, 7, 7, 5, 8, 8]
    assert plan.start.tolist() == [0, 6, 13, 0, 0, 8] and plan.first.tolist() == [0, 3, 4]


@pytest.mark.parametrize("pool", list(POOLS))
def test_long_clip_windows_combine_as_the_pooling_says(pool):
    ws = waves(20, 5, 16)
    target = from_module(PerSample(), sample_rate=10, preprocess=stack)
    acts, logits = record_waveforms(target, ws, ["lin"], pool=pool, window_seconds=0.8, hook=silent)
    for i, w in enumerate(ws):
        out = np.stack([w, -w, 2 * w + 1], axis=1)                           # (T, 3)
        np.testing.assert_allclose(acts["lin"][i], POOLS[pool](out, 0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(logits[i], out.mean(0), rtol=1e-5, atol=1e-6)   # length-weighted mean


# -- layer order ----------------------------------------------------------------------------------------------

class Reversed(torch.nn.Module):
    """Modules registered c, b, a; the forward runs a, then b, then c."""

    def __init__(self):
        super().__init__()
        self.c = torch.nn.Linear(2, 1)
        self.b = torch.nn.Linear(2, 2)
        self.a = torch.nn.Linear(2, 2)

    def forward(self, x):
        return self.c(self.b(self.a(x)))


def test_layer_order_is_the_users_then_the_forward_pass():
    model = Reversed()
    target = from_module(model, sample_rate=10, preprocess=stack)
    assert resolve_layers(model, ["c", "a"]) == ["c", "a"]
    acts, _ = record_waveforms(target, waves(2, 2), ["c", "a"], hook=silent)
    assert list(acts) == ["c", "a"]
    acts, _ = record_waveforms(target, waves(2), "*", hook=silent)
    assert list(acts) == ["a", "b", "c"]
    acts, _ = record_waveforms(target, waves(2), lambda n: n in "bc", hook=silent)
    assert list(acts) == ["b", "c"]
    acts, _ = record_waveforms(target, waves(2), ["c", "[ab]"], hook=silent)
    assert list(acts) == ["c", "a", "b"]
    defaults = resolve_layers(model, target.default_layers, one_group=True)
    assert defaults == ["c", "b", "a"]
    acts, _ = record_waveforms(target, waves(2), defaults, hook=silent)
    assert list(acts) == ["a", "b", "c"]


# -- short clips and TorchScript -------------------------------------------------------------------------------

def test_clips_too_short_name_the_clips_or_are_padded_to_a_declared_minimum(demo):
    bare = Target(name="bare", module=demo.module, sample_rate=16000, preprocess=demo.preprocess)
    short = waves(160, 8000, 160)
    with pytest.raises(AudioDissectError) as err:
        record_waveforms(bare, short, ["fc"], hook=silent, names=["tick", "ok", "tock"])
    assert "tick (0.01 s)" in str(err.value) and "tock (0.01 s)" in str(err.value)
    assert "min_samples" in err.value.hint
    acts, _ = record_waveforms(demo, short, ["fc"], hook=silent)                  # demo-cnn declares its minimum
    padded = np.pad(short[0], (0, demo.min_samples - 160))
    alone, _ = record_waveforms(demo, [padded], ["fc"], hook=silent)
    np.testing.assert_allclose(acts["fc"][0], alone["fc"][0], rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_module_is_a_clear_error(tmp_path):
    scripted = torch.jit.script(PerSample())
    with pytest.raises(AudioDissectError, match="TorchScript") as err:
        from_module(scripted, sample_rate=10, preprocess=stack)
    assert "model.load_state_dict(scripted.state_dict())" in err.value.hint and "torch.allclose" in err.value.hint
    with pytest.raises(AudioDissectError, match="TorchScript") as err:
        ad.Dissection(scripted, ad.clips(waves(4, 4, 4, 4, 4), sample_rate=10), out=tmp_path / "run", sample_rate=10,
                      preprocess=stack).record(["lin"])
    assert "scripted.state_dict()" in err.value.hint
    # the hint's recipe: the Python module rebuilt from the scripted weights computes the same and records
    model = PerSample()
    model.load_state_dict(scripted.state_dict())
    x = stack(waves(4))
    assert torch.allclose(model.eval()(x), scripted(x), atol=1e-5)
    assert record_waveforms(from_module(model, sample_rate=10, preprocess=stack), waves(4), ["lin"],
                            hook=silent)[0]["lin"].shape[0] == 1
    target = Target(name="s", module=scripted, sample_rate=10, preprocess=stack)
    with pytest.raises(AudioDissectError, match="TorchScript"):
        record_waveforms(target, waves(4), ["lin"], hook=silent)
