"""Sparse autoencoders: exact inference rules, SAELens's files round trip, seeded out-of-core training."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from audiodissect.config import SaeConfig
from audiodissect.errors import AudioDissectError
from audiodissect.sae import (SaeSpec, SparseAutoencoder, evaluate_sae, load_sae, sae_config, save_sae,
                              train_sae)


def identity_sae(d=3, *, k=2, **spec):
    eye = torch.eye(d)
    return SparseAutoencoder.from_weights(eye, torch.zeros(d), eye, torch.zeros(d), k=k, **spec)


def random_sae(architecture="topk", *, d_in=5, d_sae=12, seed=0, **spec):
    g = torch.Generator().manual_seed(seed)
    weights = {"W_enc": torch.randn(d_in, d_sae, generator=g), "b_enc": torch.randn(d_sae, generator=g) * 0.1,
               "W_dec": torch.randn(d_sae, d_in, generator=g), "b_dec": torch.randn(d_in, generator=g) * 0.1}
    if architecture == "jumprelu":
        weights["threshold"] = torch.rand(d_sae, generator=g)
    k = 3 if architecture == "topk" else None
    return SparseAutoencoder.from_weights(**weights, architecture=architecture, k=k, **spec)


# -- inference rules -------------------------------------------------------------------------

def test_topk_with_an_identity_dictionary_keeps_the_k_largest_positive_entries():
    sae = identity_sae(4, k=2)
    x = torch.tensor([[3.0, -1.0, 2.0, 0.5], [-1.0, -2.0, -3.0, 1.0]])
    z = sae(x)
    assert z.tolist() == [[3.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]]  # ReLU after the top-k: -1 is dropped
    assert sae.decode(z).tolist() == z.tolist()
    assert sae.out_features == 4 and sae.channel_axis == -1


def test_b_dec_is_subtracted_before_encoding_and_added_after_decoding():
    eye = torch.eye(2)
    sae = SparseAutoencoder.from_weights(eye, torch.zeros(2), eye, torch.tensor([1.0, 1.0]), k=2)
    x = torch.tensor([[3.0, 0.5]])
    assert sae.encode(x).tolist() == [[2.0, 0.0]]
    assert sae.reconstruct(x).tolist() == [[3.0, 1.0]]


def test_jumprelu_and_standard_rules():
    eye = torch.eye(3)
    jump = SparseAutoencoder.from_weights(eye, torch.zeros(3), eye, torch.zeros(3), architecture="jumprelu",
                                          threshold=torch.tensor([1.0, 1.0, 5.0]))
    assert jump(torch.tensor([[2.0, 0.5, 4.0]])).tolist() == [[2.0, 0.0, 0.0]]
    standard = SparseAutoencoder.from_weights(eye, torch.zeros(3), eye, torch.zeros(3), architecture="standard")
    assert standard(torch.tensor([[2.0, -0.5, 4.0]])).tolist() == [[2.0, 0.0, 4.0]]


def test_decoder_norm_rescaling_and_input_normalisations_reconstruct_exactly():
    scaled = SparseAutoencoder.from_weights(0.5 * torch.eye(2), torch.zeros(2), 2 * torch.eye(2), torch.zeros(2),
                                            k=2, rescale_acts_by_decoder_norm=True)
    x = torch.tensor([[3.0, 1.0]])
    assert scaled.encode(x).tolist() == [[3.0, 1.0]] and scaled.reconstruct(x).tolist() == [[3.0, 1.0]]
    signed = torch.cat([torch.eye(3), -torch.eye(3)])  # +e_i and -e_i: every vector is reconstructed exactly
    x = torch.tensor([[3.0, 1.0, 2.0], [0.5, -4.0, 1.0]])
    for norm in ("none", "constant_norm_rescale", "layer_norm"):
        sae = SparseAutoencoder.from_weights(signed.T, torch.zeros(6), signed, torch.zeros(3), architecture="standard",
                                             normalize_activations=norm, apply_b_dec_to_input=False)
        torch.testing.assert_close(sae.reconstruct(x), x)
        z = sae.encode(x)  # a latent's contribution is its decoder row times its value, un-normalised
        torch.testing.assert_close(sae.decode(z, x) - sae.decode(z * torch.tensor([1.0, 0, 0, 0, 0, 0]), x),
                                   sae.contribution(z * torch.tensor([0.0, 1, 1, 1, 1, 1]), x))


def test_bad_specs_and_inputs_are_clear_errors():
    with pytest.raises(AudioDissectError, match="architecture"):
        SparseAutoencoder(SaeSpec(d_in=2, d_sae=3, architecture="gated"))
    with pytest.raises(AudioDissectError, match="k"):
        SparseAutoencoder(SaeSpec(d_in=2, d_sae=3, architecture="topk", k=4))
    with pytest.raises(AudioDissectError, match="normalisation"):
        SparseAutoencoder(SaeSpec(d_in=2, d_sae=3, k=1, normalize_activations="expected_average_only_in"))
    with pytest.raises(AudioDissectError, match="reads 3 units"):
        identity_sae(3)(torch.zeros(1, 4))


# -- SAELens's files -----------------------------------------------------------------------------

@pytest.mark.parametrize("architecture", ["topk", "jumprelu", "standard"])
def test_save_load_round_trip_gives_the_same_outputs(tmp_path, architecture):
    sae = random_sae(architecture, seed=1)
    sae.spec.metadata.update({"hook_name": "fc", "audiodissect": {"layer": "fc", "pool": "mean"}})
    folder = save_sae(sae, tmp_path / "sae")
    assert sorted(p.name for p in folder.iterdir()) == ["cfg.json", "sae_weights.safetensors"]
    tensors = load_file(str(folder / "sae_weights.safetensors"))
    expected = {"W_enc": (5, 12), "b_enc": (12,), "W_dec": (12, 5), "b_dec": (5,)}
    if architecture == "jumprelu":
        expected["threshold"] = (12,)
    assert {name: tuple(t.shape) for name, t in tensors.items()} == expected
    cfg = json.loads((folder / "cfg.json").read_text())
    assert cfg["architecture"] == architecture and cfg["d_in"] == 5 and cfg["d_sae"] == 12
    assert cfg["metadata"]["sae_lens_version"] == "6.0.0" and cfg["metadata"]["hook_name"] == "fc"
    assert (cfg.get("k") == 3) == (architecture == "topk")
    loaded = load_sae(folder)
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(loaded.encode(x), sae.encode(x))
    assert torch.equal(loaded.reconstruct(x), sae.reconstruct(x))
    assert loaded.spec.metadata["audiodissect"] == {"layer": "fc", "pool": "mean"}
    assert sae_config(loaded) == cfg


def test_loads_files_written_by_others_in_saelens_layouts(tmp_path):
    eye = torch.eye(3)
    weights = {"W_enc": eye, "b_enc": torch.zeros(3), "W_dec": eye.clone(), "b_dec": torch.zeros(3)}
    old = tmp_path / "old"  # a pre-6.0 config: TopK spelled as activation_fn, metadata at the top level
    old.mkdir()
    save_file(weights, str(old / "sae_weights.safetensors"))
    (old / "cfg.json").write_text(json.dumps({"d_in": 3, "d_sae": 3, "activation_fn": "topk",
                                              "activation_fn_kwargs": {"k": 1}, "hook_name": "x"}))
    assert load_sae(old)(torch.tensor([[1.0, 3.0, 2.0]])).tolist() == [[0.0, 3.0, 0.0]]
    batch = tmp_path / "batchtopk"  # a BatchTopK training checkpoint: one scalar threshold
    batch.mkdir()
    save_file({**weights, "topk_threshold": torch.tensor(1.5, dtype=torch.float64)},
              str(batch / "sae_weights.safetensors"))
    (batch / "cfg.json").write_text(json.dumps({"architecture": "batchtopk", "d_in": 3, "d_sae": 3, "k": 1.0,
                                                "metadata": {"sae_lens_version": "6.5.0"}}))
    sae = load_sae(batch)
    assert sae.spec.architecture == "jumprelu" and sae(torch.tensor([[1.0, 3.0, 2.0]])).tolist() == [[0, 3, 2]]


def test_bad_folders_are_clear_errors(tmp_path):
    with pytest.raises(AudioDissectError, match="no SAE folder"):
        load_sae(tmp_path / "missing")
    folder = save_sae(random_sae(), tmp_path / "sae")
    cfg = json.loads((folder / "cfg.json").read_text())
    (folder / "cfg.json").write_text(json.dumps({**cfg, "architecture": "gated"}))
    with pytest.raises(AudioDissectError, match="gated"):
        load_sae(folder)
    (folder / "cfg.json").write_text(json.dumps({**cfg, "d_sae": 13}))
    with pytest.raises(AudioDissectError, match="shape"):
        load_sae(folder)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    (folder / "sae_weights.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(AudioDissectError, match="cannot read"):
        load_sae(folder)


# -- training -------------------------------------------------------------------------------

def planted_dictionary(*, n=3000, concepts=16, units=8, active=2, seed=0):
    """Rows that are sums of `active` of `concepts` unit-norm directions in `units` dimensions, plus noise."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(concepts, units))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    codes = np.zeros((n, concepts))
    chosen = np.argsort(rng.random((n, concepts)), axis=1)[:, :active]
    np.put_along_axis(codes, chosen, rng.uniform(1.0, 3.0, size=(n, active)), axis=1)
    return (codes @ directions + 0.01 * rng.normal(size=(n, units))).astype(np.float32), directions


def test_topk_training_recovers_a_planted_dictionary_and_is_seeded(tmp_path):
    data, directions = planted_dictionary()
    config = SaeConfig(k=2, d_sae=32, epochs=40, batch_size=128, lr=3e-3)
    sae, report = train_sae(data, config, rows=np.arange(2500), heldout_rows=np.arange(2500, 3000))
    assert report.heldout.fve > 0.9 and report.heldout.l0 == pytest.approx(2.0)
    assert report.train.dead < 0.5 and report.d_sae == 32 and report.steps == 40 * 20
    learned = sae.W_dec.detach().numpy()
    learned = learned / np.linalg.norm(learned, axis=1, keepdims=True)
    assert np.median((directions @ learned.T).max(axis=1)) > 0.9  # most planted directions are found
    again, _ = train_sae(data, config, rows=np.arange(2500), heldout_rows=np.arange(2500, 3000))
    assert all(torch.equal(a, b) for a, b in zip(sae.weights().values(), again.weights().values()))

    path = tmp_path / "acts.npy"  # the same rows from a memory map: the same SAE
    np.save(path, data)
    mapped, _ = train_sae(np.load(path, mmap_mode="r"), config, rows=np.arange(2500))
    assert all(torch.equal(a, b) for a, b in zip(sae.weights().values(), mapped.weights().values()))
    measured = evaluate_sae(sae, np.load(path, mmap_mode="r"), np.arange(2500, 3000))
    assert measured.fve == pytest.approx(report.heldout.fve, abs=1e-6)


def test_batchtopk_is_saved_as_jumprelu_with_one_threshold():
    data, _ = planted_dictionary(n=1200, seed=1)
    sae, report = train_sae(data, SaeConfig(architecture="batchtopk", k=2, d_sae=24, epochs=30, batch_size=128,
                                            lr=3e-3), rows=np.arange(1000), heldout_rows=np.arange(1000, 1200))
    assert sae.spec.architecture == "jumprelu" and sae.spec.metadata["training"]["architecture"] == "batchtopk"
    assert torch.unique(sae.threshold).numel() == 1 and float(sae.threshold[0]) > 0 and not sae.threshold.requires_grad
    assert 1.0 < report.heldout.l0 < 4.0 and report.heldout.fve > 0.7


def never_updated(sae):
    """Latents whose encoder column is still parallel to their decoder row, as initialised: no gradient reached them."""
    enc, dec = sae.W_enc.detach().T, sae.W_dec.detach()
    return int(((enc * dec).sum(1) / (enc.norm(dim=1) * dec.norm(dim=1)) > 0.99999).sum())


def test_dead_latents_get_the_auxk_gradient_or_are_resampled():
    data, _ = planted_dictionary(n=800, concepts=8, units=6, seed=2)  # 8 directions for 48 latents: many die
    common = dict(k=1, d_sae=48, epochs=20, batch_size=100, dead_after_epochs=0.5)
    plain, none = train_sae(data, SaeConfig(dead_latents="none", **common))
    aux, _ = train_sae(data, SaeConfig(dead_latents="auxk", **common))
    _, resampled = train_sae(data, SaeConfig(dead_latents="resample", **common))
    assert none.train.dead > 0.2 and never_updated(plain) > 0
    assert never_updated(aux) == 0  # every latent that died was trained on the residual
    assert resampled.resampled > 0 and resampled.train.dead < none.train.dead


def test_training_errors_name_the_problem():
    with pytest.raises(AudioDissectError, match="rows, units"):
        train_sae(np.zeros(10, dtype=np.float32))
    with pytest.raises(AudioDissectError, match="k=9"):
        train_sae(np.ones((10, 2), dtype=np.float32), SaeConfig(k=9, d_sae=4))
    with pytest.raises(AudioDissectError, match="all zero"):
        train_sae(np.zeros((10, 2), dtype=np.float32), SaeConfig(k=1))
    bad = np.ones((10, 2), dtype=np.float32)
    bad[3, 1] = np.nan
    with pytest.raises(AudioDissectError, match="NaN"):
        train_sae(bad, SaeConfig(k=1))
    with pytest.raises(AudioDissectError, match="0..9"):
        train_sae(np.ones((10, 2), dtype=np.float32), SaeConfig(k=1), rows=[0, 10])
