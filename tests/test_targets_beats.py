"""BEATs as a target: front end, network, checkpoint format, errors.

The network is checked against a second, independent implementation written
here from the release's description: time-first (T, B, C) tensors, heads
folded into the batch, the release's max-subtracted scaled attention, the
relative-position buckets computed one offset at a time, and the positional
convolution weight-normalised by torch's own parametrisation.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audiodissect.errors import AudioDissectError
from audiodissect.record import record_waveforms
from audiodissect.targets import load_target
from audiodissect.targets.beats_config import BEATsConfig
from audiodissect.targets.beats_fbank import FBANK_MEAN, FBANK_STD, fbank_batch, kaldi_fbank
from audiodissect.targets.beats_model import BEATs

SR = 16000
N_CLASSES = 5
DEEP_NORM = dict(input_patch_size=16, embed_dim=24, conv_bias=False, encoder_layers=2, encoder_embed_dim=32,
                 encoder_ffn_embed_dim=64, encoder_attention_heads=4, activation_fn="gelu",
                 layer_norm_first=False, deep_norm=True, conv_pos=16, conv_pos_groups=4,
                 relative_position_embedding=True, num_buckets=16, max_distance=64, gru_rel_pos=True,
                 finetuned_model=True, predictor_class=N_CLASSES, dropout=0.1, encoder_layerdrop=0.05)
PRE_NORM = dict(DEEP_NORM, embed_dim=32, conv_bias=True, layer_norm_first=True, deep_norm=False, conv_pos=15,
                gru_rel_pos=False)


def release_keys(cfg: dict) -> set[str]:
    """The state-dict keys of the release's BEATs for `cfg`, written out by hand."""
    keys = {"patch_embedding.weight", "layer_norm.weight", "layer_norm.bias",
            "encoder.pos_conv.0.weight_g", "encoder.pos_conv.0.weight_v", "encoder.pos_conv.0.bias",
            "encoder.layer_norm.weight", "encoder.layer_norm.bias", "predictor.weight", "predictor.bias"}
    if cfg["conv_bias"]:
        keys.add("patch_embedding.bias")
    if cfg["embed_dim"] != cfg["encoder_embed_dim"]:
        keys |= {"post_extract_proj.weight", "post_extract_proj.bias"}
    for i in range(cfg["encoder_layers"]):
        p = f"encoder.layers.{i}."
        for lin in ("self_attn.k_proj", "self_attn.v_proj", "self_attn.q_proj", "self_attn.out_proj", "fc1", "fc2",
                    "self_attn_layer_norm", "final_layer_norm"):
            keys |= {p + lin + ".weight", p + lin + ".bias"}
        if cfg["relative_position_embedding"]:
            keys.add(p + "self_attn.relative_attention_bias.weight")
        if cfg["gru_rel_pos"]:
            keys |= {p + "self_attn.grep_linear.weight", p + "self_attn.grep_linear.bias", p + "self_attn.grep_a"}
    return keys


def random_state(cfg: dict, seed: int) -> dict[str, torch.Tensor]:
    """Seeded random weights in the release's layout (the shared bias table equal in every layer)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in BEATs(BEATsConfig.from_dict(cfg)).state_dict().items():
        noise = torch.randn(value.shape, generator=gen)
        if key.endswith(("norm.weight", "grep_a", "weight_g")):
            state[key] = 1.0 + 0.2 * noise
        elif key.startswith("predictor"):
            state[key] = 0.5 * noise
        else:
            state[key] = 0.3 * noise / math.sqrt(max(1, value[0].numel() if value.ndim > 1 else 1))
    table = [k for k in state if k.endswith("relative_attention_bias.weight")]
    for key in table[1:]:
        state[key] = state[table[0]].clone()
    return state


def write_checkpoint(tmp_path, cfg: dict, *, seed: int = 0, name: str = "beats.pt", **extra) -> str:
    path = tmp_path / name
    torch.save({"cfg": dict(cfg), "model": random_state(cfg, seed),
                "label_dict": {i: f"/m/0{i}x" for i in range(N_CLASSES)}, **extra}, path)
    return str(path)


def clips() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    t = np.arange(SR) / SR
    return [(0.1 * rng.standard_normal(SR)).astype(np.float32),
            (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
            (0.3 * np.sin(2 * np.pi * (200 + 3000 * t) * t)).astype(np.float32)]


# ---------------------------------------------------------------- the second implementation


def bucket_table(length: int, num_buckets: int, max_distance: int) -> torch.Tensor:
    half = num_buckets // 2
    exact = half // 2
    rows = []
    for query in range(length):
        row = []
        for key in range(length):
            offset = key - query
            bucket = half if offset > 0 else 0
            dist = abs(offset)
            if dist < exact:
                bucket += dist
            else:
                far = exact + int(math.log(dist / exact) / math.log(max_distance / exact) * (half - exact))
                bucket += min(far, half - 1)
            row.append(bucket)
        rows.append(row)
    return torch.tensor(rows)


def reference(state: dict, cfg: dict, fbank: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Clip logits (B, K) and each layer's fc1 output averaged over tokens (B, ffn), time-first."""
    s = {k: v.double() for k, v in state.items()}
    fbank = fbank.double()
    x = F.conv2d(fbank[:, None], s["patch_embedding.weight"], s.get("patch_embedding.bias"),
                 stride=cfg["input_patch_size"])
    batch, embed = x.shape[:2]
    x = x.reshape(batch, embed, -1).transpose(1, 2)
    x = F.layer_norm(x, (embed,), s["layer_norm.weight"], s["layer_norm.bias"])
    if "post_extract_proj.weight" in s:
        x = F.linear(x, s["post_extract_proj.weight"], s["post_extract_proj.bias"])
    dim, heads = cfg["encoder_embed_dim"], cfg["encoder_attention_heads"]
    head_dim = dim // heads
    conv = torch.nn.Conv1d(dim, dim, cfg["conv_pos"], padding=cfg["conv_pos"] // 2,
                           groups=cfg["conv_pos_groups"]).double()
    torch.nn.utils.parametrizations.weight_norm(conv, dim=2)
    with torch.no_grad():
        conv.parametrizations.weight.original0.copy_(s["encoder.pos_conv.0.weight_g"])
        conv.parametrizations.weight.original1.copy_(s["encoder.pos_conv.0.weight_v"])
        conv.bias.copy_(s["encoder.pos_conv.0.bias"])
        pos = conv(x.transpose(1, 2))
    if cfg["conv_pos"] % 2 == 0:
        pos = pos[:, :, :-1]
    x = x + F.gelu(pos).transpose(1, 2)
    if not cfg["layer_norm_first"]:
        x = F.layer_norm(x, (dim,), s["encoder.layer_norm.weight"], s["encoder.layer_norm.bias"])
    x = x.transpose(0, 1)  # (T, B, C)
    length = x.shape[0]
    table = s["encoder.layers.0.self_attn.relative_attention_bias.weight"]
    bias = table[bucket_table(length, cfg["num_buckets"], cfg["max_distance"])].permute(2, 0, 1)  # (H, T, T)
    alpha = (2 * cfg["encoder_layers"]) ** 0.25 if cfg["deep_norm"] else 1.0
    fc1_means = []
    for i in range(cfg["encoder_layers"]):
        p = f"encoder.layers.{i}."

        def lin(name, h):
            return F.linear(h, s[p + name + ".weight"], s[p + name + ".bias"])

        def norm(name, h):
            return F.layer_norm(h, (dim,), s[p + name + ".weight"], s[p + name + ".bias"])

        def attention(h):
            scaling, a = head_dim ** -0.5, 32.0
            q = lin("self_attn.q_proj", h) * scaling / a
            k, v = lin("self_attn.k_proj", h), lin("self_attn.v_proj", h)
            q, k, v = (t.reshape(length, batch * heads, head_dim).transpose(0, 1) for t in (q, k, v))
            w = torch.bmm(q, k.transpose(1, 2))
            w = (w - w.max(dim=-1, keepdim=True)[0]) * a
            pb = bias.unsqueeze(0).repeat(batch, 1, 1, 1).view(batch * heads, length, length)
            if cfg["gru_rel_pos"]:
                query = q.view(batch, heads, length, head_dim) * a / scaling
                g = torch.sigmoid(F.linear(query, s[p + "self_attn.grep_linear.weight"],
                                           s[p + "self_attn.grep_linear.bias"]).view(batch, heads, length, 2, 4).sum(-1))
                ga, gb = g.chunk(2, dim=-1)
                pb = (ga * (gb * s[p + "self_attn.grep_a"] - 1.0) + 2.0).view(batch * heads, length, 1) * pb
            out = torch.bmm(torch.softmax(w + pb, dim=-1), v)
            return lin("self_attn.out_proj", out.transpose(0, 1).reshape(length, batch, dim))

        def ffn(h):
            hidden = lin("fc1", h)
            fc1_means.append(hidden.mean(dim=0))
            return lin("fc2", F.gelu(hidden))

        if cfg["layer_norm_first"]:
            x = x + attention(norm("self_attn_layer_norm", x))
            x = x + ffn(norm("final_layer_norm", x))
        else:
            x = norm("self_attn_layer_norm", x * alpha + attention(x))
            x = norm("final_layer_norm", x * alpha + ffn(x))
    if cfg["layer_norm_first"]:
        x = F.layer_norm(x, (dim,), s["encoder.layer_norm.weight"], s["encoder.layer_norm.bias"])
    logits = F.linear(x, s["predictor.weight"], s["predictor.bias"]).mean(dim=0)
    return logits.float(), [m.float() for m in fc1_means]


# ---------------------------------------------------------------- front end


def test_fbank_matches_an_independent_kaldi_reference():
    from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

    rng = np.random.default_rng(3)
    t = np.arange(int(1.3 * SR)) / SR
    wave = (0.2 * np.sin(2 * np.pi * 523 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    ours = kaldi_fbank(wave)
    with pytest.warns(UserWarning):  # the reference, too, has an all-zero filter (bin 3)
        mel = mel_filter_bank(num_frequency_bins=257, num_mel_filters=128, min_frequency=20.0,
                              max_frequency=8000.0, sampling_rate=SR, norm=None, mel_scale="kaldi",
                              triangularize_in_mel_space=True)
    ref = spectrogram(wave.astype(np.float64) * 2 ** 15, window_function(400, "povey", periodic=False),
                      frame_length=400, hop_length=160, fft_length=512, power=2.0, center=False,
                      preemphasis=0.97, remove_dc_offset=True, mel_filters=mel, log_mel="log",
                      mel_floor=float(np.finfo(np.float32).eps)).T
    assert ours.shape == ref.shape == (1 + (t.size - 400) // 160, 128)
    assert np.abs(ours - ref).max() < 2e-3
    assert np.all(ours[:, 3] == np.float32(np.log(np.finfo(np.float32).eps)))
    batch, mask = fbank_batch([wave])
    np.testing.assert_allclose(batch[0], (ours - FBANK_MEAN) / (2 * FBANK_STD), rtol=0, atol=1e-6)
    assert not mask.any()


def test_fbank_batch_pads_and_masks():
    waves = [np.zeros(SR, np.float32), np.full(SR // 2, 0.1, np.float32), np.zeros(100, np.float32)]
    batch, mask = fbank_batch(waves)
    assert batch.shape == (3, 98, 128) and mask.shape == (3, 98)
    assert mask.sum(axis=1).tolist() == [0, 98 - 48, 98 - 16]  # the 100-sample clip padded to one patch
    assert np.all(batch[mask] == 0)


# ---------------------------------------------------------------- the network and the target


def test_state_dict_keys_are_the_releases():
    for cfg in (DEEP_NORM, PRE_NORM):
        assert set(BEATs(BEATsConfig.from_dict(cfg)).state_dict()) == release_keys(cfg)


@pytest.mark.parametrize("cfg", [DEEP_NORM, PRE_NORM], ids=["deep-norm", "pre-norm"])
def test_target_matches_the_second_implementation(tmp_path, cfg):
    path = write_checkpoint(tmp_path, cfg, seed=1)
    target = load_target(f"beats:{path}")
    assert target.name == f"beats:{path}" and target.sample_rate == SR
    waves = clips()
    logits = target.logits(waves)
    assert logits.shape == (3, N_CLASSES)
    assert torch.equal(logits, target.logits(waves))  # deterministic
    inputs = target.preprocess(waves)
    state = torch.load(path, weights_only=True)["model"]
    expected, _ = reference(state, cfg, inputs["fbank"])
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
    assert logits.argmax(dim=1).tolist() == expected.argmax(dim=1).tolist()
    assert expected.std(dim=0).min() > 1e-3  # the clips are told apart


def test_unequal_lengths_in_one_batch_equal_each_clip_alone(tmp_path):
    target = load_target(f"beats:{write_checkpoint(tmp_path, DEEP_NORM)}")
    waves = [clips()[0], clips()[1][: int(0.55 * SR)], clips()[2][: int(0.3 * SR)]]
    together = target.logits(waves)
    alone = torch.cat([target.logits([w]) for w in waves])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_records_fc1_of_every_layer(tmp_path):
    path = write_checkpoint(tmp_path, DEEP_NORM, seed=2)
    target = load_target(f"beats:{path}")
    assert target.default_layers == ["encoder.layers.0.fc1", "encoder.layers.0.fc2", "encoder.layers.1.fc1",
                                     "encoder.layers.1.fc2", "predictor"]
    waves = clips()
    acts, logits = record_waveforms(target, waves, ["encoder.layers.0.fc1", "encoder.layers.1.fc1"], batch_size=2)
    assert set(acts) == {"encoder.layers.0.fc1", "encoder.layers.1.fc1"}
    _, fc1 = reference(torch.load(path, weights_only=True)["model"], DEEP_NORM, target.preprocess(waves)["fbank"])
    for i in range(2):
        assert acts[f"encoder.layers.{i}.fc1"].shape == (3, 64)
        np.testing.assert_allclose(acts[f"encoder.layers.{i}.fc1"], fc1[i].numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits, target.logits(waves).numpy(), rtol=1e-5, atol=1e-5)


def test_class_names_from_label_dict_and_class_map(tmp_path):
    path = write_checkpoint(tmp_path, DEEP_NORM)
    assert load_target(f"beats:{path}").class_names == [f"/m/0{i}x" for i in range(N_CLASSES)]
    csv = tmp_path / "class_labels_indices.csv"
    csv.write_text('index,mid,display_name\n0,/m/00x,Speech\n1,/m/01x,"Violin, fiddle"\n2,/m/99x,Dog\n')
    names = load_target(f"beats:{path}", class_map=str(csv)).class_names
    assert names == ["Speech", "Violin, fiddle", "/m/02x", "/m/03x", "/m/04x"]


def test_pretrained_checkpoint_without_head(tmp_path):
    cfg = dict(DEEP_NORM, finetuned_model=False)
    state = {k: v for k, v in random_state(DEEP_NORM, 0).items() if not k.startswith("predictor")}
    torch.save({"cfg": cfg, "model": state}, tmp_path / "pre.pt")
    target = load_target(f"beats:{tmp_path / 'pre.pt'}")
    assert target.class_names is None and "predictor" not in target.default_layers
    assert target.logits(clips()[:2]).shape == (2, 32)


# ---------------------------------------------------------------- errors


def test_missing_and_unexpected_keys_are_named(tmp_path):
    state = random_state(DEEP_NORM, 0)
    del state["encoder.layers.1.fc2.bias"]
    state["encoder.layers.1.fc3.weight"] = torch.zeros(2, 2)
    torch.save({"cfg": DEEP_NORM, "model": state}, tmp_path / "bad.pt")
    with pytest.raises(AudioDissectError) as err:
        load_target(f"beats:{tmp_path / 'bad.pt'}")
    text = str(err.value)
    assert "missing keys: 1 (encoder.layers.1.fc2.bias)" in text
    assert "unexpected keys: 1 (encoder.layers.1.fc3.weight)" in text


def test_wrong_cfg_is_an_error(tmp_path):
    state = random_state(DEEP_NORM, 0)
    for cfg, words in [(dict(DEEP_NORM, encoder_attention_heads=5), "not divisible by encoder_attention_heads"),
                       (dict(DEEP_NORM, encoder_layers="2"), "'encoder_layers'"),
                       (dict(DEEP_NORM, encoder_ffn_embed_dim=128), "encoder.layers.0.fc1.weight (64, 32) vs (128, 32)"),
                       ("not a dict", "no 'cfg' dict")]:
        torch.save({"cfg": cfg, "model": state}, tmp_path / "cfg.pt")
        with pytest.raises(AudioDissectError) as err:
            load_target(f"beats:{tmp_path / 'cfg.pt'}")
        assert words in str(err.value)


def test_a_pickled_object_is_refused(tmp_path):
    path = write_checkpoint(tmp_path, DEEP_NORM, args=argparse.Namespace(lr=0.1))
    with pytest.raises(AudioDissectError, match="weights_only"):
        load_target(f"beats:{path}")


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(AudioDissectError, match="no BEATs checkpoint"):
        load_target(f"beats:{tmp_path / 'absent.pt'}")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(AudioDissectError, match="not a BEATs checkpoint"):
        load_target(f"beats:{tmp_path / 'other.pt'}")
