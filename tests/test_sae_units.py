"""SAE latents as units: attached to a model, recorded, ablated (exactly), and dissected through the stages."""

import copy
import pickle

import numpy as np
import pytest
import torch

import audiodissect as ad
from audiodissect.cli import main
from audiodissect.errors import AudioDissectError
from audiodissect.layers import resolve_layers
from audiodissect.progress import silent
from audiodissect.prune.ablation import ablate
from audiodissect.record.hooks import recording
from audiodissect.sae import (SparseAutoencoder, attach_sae, attached_saes, detach_all, detach_sae, load_sae,
                              save_sae)
from stage_fixtures import CLASSES, PROBE_OPTIONS, make_target, write_descriptions


class Flat(torch.nn.Module):
    """x (B, 3) -> lin (identity) -> head: the layer's output is exactly its input."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)
        self.head = torch.nn.Linear(3, 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.eye(3))
            self.lin.bias.zero_()
            self.head.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]]))
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(self.lin(x))


class Frames(torch.nn.Module):
    """x (B, 2, T) -> conv (identity 1x1) -> mean over time -> head."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(2, 2, 1)
        self.head = torch.nn.Linear(2, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(2).unsqueeze(-1))
            self.conv.bias.zero_()
            self.head.weight.fill_(1.0)
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(self.conv(x).mean(dim=2))


def identity_sae(d, k):
    eye = torch.eye(d)
    return SparseAutoencoder.from_weights(eye, torch.zeros(d), eye.clone(), torch.zeros(d), k=k)


def test_latents_are_a_module_path_that_recording_sees_and_sae_colon_names():
    model = Flat()
    path = attach_sae(model, "lin", identity_sae(3, k=2))
    assert path == "sae.lin" and "sae.lin" in dict(model.named_modules())
    assert list(resolve_layers(model, ["lin", "sae:lin"])) == ["lin", "sae.lin"]
    assert list(resolve_layers(model, ["sae:l*"])) == ["sae.lin"]
    x = torch.tensor([[2.0, 1.0, 3.0], [-1.0, 4.0, 0.5]])
    with recording(model, ["lin", "sae.lin"], n_rows=2) as rec:
        rec.rows = [0, 1]
        logits = model(x)
    assert rec.arrays["sae.lin"].tolist() == [[2.0, 0.0, 3.0], [0.0, 4.0, 0.5]]  # the top 2 of each row
    assert torch.equal(logits, Flat()(x))  # attached but not ablated: the model computes what it did
    with pytest.raises(AudioDissectError, match="no sparse autoencoder is attached to 'head'"):
        resolve_layers(model, ["sae:head"])


def test_ablating_a_latent_removes_exactly_its_decoder_contribution():
    model = Flat()
    sae = identity_sae(3, k=2)
    sae.load_weights({**sae.weights(), "b_dec": torch.tensor([0.5, 0.0, 0.0])})  # a reconstruction error remains
    attach_sae(model, "lin", sae)
    x = torch.tensor([[2.0, 1.0, 3.0]])
    z = sae(x)  # latents [1.5, 0, 3]: their contributions are 1.5 e0 and 3 e2
    assert z.tolist() == [[1.5, 0.0, 3.0]]
    with ablate(model, ["sae.lin#2"]), recording(model, ["lin"], n_rows=1) as rec:
        rec.rows = [0]
        out = model(x)
    assert rec.arrays["lin"].tolist() == [[2.0, 1.0, 0.0]]  # lin's output minus 3 e2; the rest kept
    assert out.tolist() == Flat().head(torch.tensor([[2.0, 1.0, 0.0]])).tolist()
    with ablate(model, ["sae.lin#0", "sae.lin#2"]):
        assert model(x).tolist() == Flat().head(torch.tensor([[0.5, 1.0, 0.0]])).tolist()
    with pytest.raises(AudioDissectError, match="3 units; no unit 3"):
        with ablate(model, ["sae.lin#3"]):
            pass


@pytest.mark.parametrize("pool", ["mean", "max", "first"])
def test_ablation_on_a_conv_layer_shifts_every_frame_so_the_pooled_output_loses_the_contribution(pool):
    model = Frames()
    attach_sae(model, "conv", identity_sae(2, k=2), pool=pool)
    x = torch.tensor([[[1.0, 3.0, 2.0], [4.0, 0.0, 2.0]]])  # (B=1, 2 units, T=3)
    pooled = {"mean": [2.0, 2.0], "max": [3.0, 4.0], "first": [1.0, 4.0]}[pool]
    with recording(model, ["conv", "sae.conv"], n_rows=1, pool=pool) as rec:
        rec.rows = [0]
        model(x)
    assert rec.arrays["sae.conv"].tolist() == [pooled]
    with ablate(model, ["sae.conv#1"]), recording(model, ["conv"], n_rows=1, pool=pool) as rec:
        rec.rows = [0]
        model(x)
    assert rec.arrays["conv"].tolist() == [[pooled[0], 0.0]]


def test_copies_pickles_detaching_and_nested_layers():
    model = torch.nn.Module()
    model.block = torch.nn.Linear(2, 2)
    model.block.inner = torch.nn.Linear(2, 2)  # a child the block's forward never calls: a layer path all the same
    attach_sae(model, "block", identity_sae(2, k=1))
    attach_sae(model, "block.inner", identity_sae(2, k=2))
    assert set(attached_saes(model)) == {"block", "block.inner"}
    assert {"sae.block", "sae.block.inner"} <= set(dict(model.named_modules()))
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        hook = next(iter(clone.block._forward_hooks.values()))
        assert hook.sae is clone.sae.block  # the copy's hook drives the copy's SAE
    detach_sae(model, "block")
    assert set(attached_saes(model)) == {"block.inner"} and "sae.block.inner" in dict(model.named_modules())
    assert not model.block._forward_hooks
    detach_all(model)
    assert not hasattr(model, "sae") and not model.block.inner._forward_hooks


def test_attaching_checks_the_layer_and_the_model():
    with pytest.raises(AudioDissectError, match="has 3 units; the SAE reads 2"):
        attach_sae(Flat(), "lin", identity_sae(2, k=1))
    with pytest.raises(AudioDissectError, match="unknown layer 'lim'"):
        attach_sae(Flat(), "lim", identity_sae(3, k=1))
    with pytest.raises(AudioDissectError, match="bare Sequential"):
        attach_sae(torch.nn.Sequential(torch.nn.Linear(3, 3)), "0", identity_sae(3, k=1))
    model = Flat()
    model.sae = torch.nn.Linear(1, 1)
    with pytest.raises(AudioDissectError, match="already has an attribute 'sae'"):
        attach_sae(model, "lin", identity_sae(3, k=1))
    model = Flat()
    attach_sae(model, "lin", identity_sae(3, k=1))
    with pytest.raises(AudioDissectError, match="SAE's own layer"):
        attach_sae(model, "sae.lin", identity_sae(3, k=1))


# -- through the stages -----------------------------------------------------------------------

@pytest.fixture
def tiny_run(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    probe = ad.load_probe("soundbank", **PROBE_OPTIONS)
    descriptions = tmp_path / "descriptions.json"
    write_descriptions(descriptions, probe)
    d = ad.Dissection(make_target(), probe, tmp_path / "run", factory="stage_fixtures:make_target", hook=silent)
    d.record(layers=["conv", "classifier"])
    d.describe(f"file:{descriptions}")
    return d, tmp_path


def test_latents_go_through_identify_summarize_score_prune_and_report(tiny_run):
    d, tmp = tiny_run
    training = d.train_sae("conv", k=2, d_sae=8, epochs=30, batch_size=8)
    heldout = sum(c.split == "heldout" for c in d.run_dir.clips())
    assert training.latents == "sae.conv" and training.report.heldout.rows == heldout > 0
    assert d.config.sae.attached == ["conv"]
    assert sorted(p.name for p in training.folder.iterdir()) == ["cfg.json", "sae_weights.safetensors",
                                                                 "training.json"]
    acts = d.record(layers=["conv", "sae:conv", "classifier"])
    assert list(acts) == ["conv", "sae.conv", "classifier"] and acts["sae.conv"].shape == (18, 8)
    assert acts.output_layer == "classifier"
    rows = d.run_dir.probe_rows()
    expected = training.sae.encode(torch.from_numpy(np.asarray(acts["conv"])[rows])).numpy()
    np.testing.assert_allclose(np.asarray(acts["sae.conv"])[rows], expected, rtol=1e-5, atol=1e-6)

    units = d.identify(methods=["db"], similarities=["cos3"]).to_pandas()
    assert (units["layer"] == "sae.conv").sum() == 8
    assert len([r for r in d.summarize() if r["layer"] == "sae.conv"]) == 8
    assert {r["layer"] for r in d.score(audio_text=False)} >= {"sae.conv"}
    latent_units = [u for u in units["unit"] if u.startswith("sae.conv#")][:3]
    pruned = d.prune("trumpet", units=latent_units, strategies=["units"])
    assert pruned.selections[0].units == latent_units and pruned.results[0].units_pruned == 3
    assert "sae.conv" in d.report().read_text()
    assert d.run_dir.unnamed_files() == []
    from audiodissect.prune.strategies import Selection

    saved = torch.load(d.save_pruned_weights(Selection("units", "trumpet", ["conv#1"]), tmp / "pruned.pt"))
    assert set(saved) == set(make_target().module.state_dict()) and float(saved["conv.weight"][1].abs().sum()) == 0
    assert "sae.conv" in dict(d.target.module.named_modules())  # the run's model keeps its SAE

    # reopened (the user's own run, whose factory they trust): the model comes back with its SAE attached
    again = ad.Dissection.open(tmp / "run", trust=True)
    assert "sae.conv" in dict(again.target.module.named_modules())
    trained_again = again.train_sae("conv", k=2, d_sae=8, epochs=30, batch_size=8)
    assert torch.equal(trained_again.sae.W_dec, training.sae.W_dec)  # the stage's result is reused
    assert again.runner.outcomes["sae:conv"].reused


def test_an_sae_trained_elsewhere_is_attached_from_its_files_and_by_the_command_line(tiny_run):
    d, tmp = tiny_run
    g = torch.Generator().manual_seed(3)
    outside = SparseAutoencoder.from_weights(torch.randn(4, 6, generator=g), torch.zeros(6),
                                             torch.randn(6, 4, generator=g), torch.zeros(4), k=2)
    folder = save_sae(outside, tmp / "elsewhere")
    run = str(tmp / "run")
    assert main(["sae", "attach", "--run", run, "--layer", "conv", "--path", str(folder), "--trust-run"]) == 0
    reopened = ad.Dissection.open(run, trust=True)
    assert reopened.run_dir.layers() == ["conv", "classifier", "sae.conv"]
    kept = load_sae(tmp / "run" / "sae" / "conv")
    assert all(torch.equal(a, b) for a, b in zip(kept.weights().values(), outside.weights().values()))
    assert (tmp / "run" / "sae" / "conv" / "source.json").exists()
    with pytest.raises(AudioDissectError, match="reads 4"):
        reopened.attach_sae("classifier", folder)

    assert main(["sae", "train", "--run", run, "--layer", "conv", "--k", "1", "--d-sae", "4", "--epochs", "5",
                 "--trust-run"]) == 0
    trained = load_sae(tmp / "run" / "sae" / "conv")
    assert trained.d_sae == 4 and not (tmp / "run" / "sae" / "conv" / "source.json").exists()
    assert ad.Dissection.open(run, trust=True).activations()["sae.conv"].shape == (18, 4)
    assert main(["sae", "train", "--run", run, "--layer", "sae.conv", "--trust-run"]) == 2  # latents are not a model layer


# -- neurons against latents, and the planted superposition layer --------------------------------

def test_confident_names_keep_their_top_concept_under_resampling():
    from audiodissect.sae.compare import confident_names, mean_interval

    rng = np.random.default_rng(0)
    evidence = rng.random((300, 3)).astype(np.float32)
    acts = np.stack([evidence[:, 0] + 0.01 * rng.normal(size=300),   # tuned to concept 0
                     rng.normal(size=300),                           # noise
                     np.zeros(300)], axis=1).astype(np.float32)      # dead
    top1, confident = confident_names(evidence, acts, similarity="cos3", resamples=20)
    assert top1[0] == 0 and top1[2] == -1
    assert confident.tolist()[0] and not confident.tolist()[2]
    mean, low, high = mean_interval([0.1, 0.2, 0.3, 0.4])
    assert mean == pytest.approx(0.25) and 0.1 <= low < mean < high <= 0.4
    assert all(np.isnan(v) for v in mean_interval([None]))


def test_recovery_needs_the_right_name_and_a_pure_unit():
    from audiodissect.sae.superposition import recovery

    truth = np.repeat(np.eye(3), 20, axis=0)  # 60 clips, one concept each
    pure = truth[:, 0]
    mixed = truth[:, 1] + 0.9 * truth[:, 2]   # carries b most, but not alone
    result = recovery(np.stack([pure, mixed], axis=1), truth, ["a", "b"], ["a", "b", "c"])
    assert result["recovered_concepts"] == ["a"] and result["recovered"] == pytest.approx(1 / 3)
    assert result["named_only"] == pytest.approx(2 / 3) and result["pure_units"] == 0.5
    assert recovery(np.stack([pure, mixed], axis=1), truth, ["c", None], ["a", "b", "c"])["recovered"] == 0


def test_a_superposed_layer_mixes_its_concepts_by_a_fixed_rotation(tmp_path, monkeypatch):
    from audiodissect.sae.superposition import CONCEPTS_LAYER, random_rotation_rows, superposed_target

    rows = random_rotation_rows(5, 3, seed=1)
    torch.testing.assert_close(rows @ rows.T, torch.eye(3))
    assert torch.equal(rows, random_rotation_rows(5, 3, seed=1))
    with pytest.raises(AudioDissectError, match="units <= concepts"):
        random_rotation_rows(2, 3)
    target = superposed_target(make_target(), units=2, seed=0)
    waves = [np.random.default_rng(i).normal(size=16000).astype(np.float32) for i in range(4)]
    with recording(target.module, [CONCEPTS_LAYER, "planted"], n_rows=4) as rec:
        rec.rows = np.arange(4)
        target.logits(waves)
    concepts, mixed = rec.arrays[CONCEPTS_LAYER], rec.arrays["planted"]
    np.testing.assert_allclose(concepts.sum(axis=1), 1.0, rtol=1e-5)  # class probabilities
    np.testing.assert_allclose(mixed, concepts @ target.module.planted.mixing.numpy().T, rtol=1e-5, atol=1e-6)
    assert target.module.planted.names == CLASSES


def test_neurons_and_latents_compared_on_one_run(tiny_run):
    from audiodissect.sae.compare import live_units, name_status_rows, naming_rows, pruning_rows, score_rows

    d, _ = tiny_run
    d.train_sae("conv", k=2, d_sae=8, epochs=30, batch_size=8)
    d.record(layers=["conv", "sae:conv", "classifier"])
    d.identify(methods=["db"], similarities=["cos3"])
    d.summarize()
    d.score(audio_text=False)
    groups = {"neurons": "conv", "latents": "sae.conv"}
    naming = naming_rows(d.run_dir, groups, pairs=[("db", "cos3")], resamples=5)
    assert [(r["group"], r["units"]) for r in naming] == [("neurons", 4), ("latents", 8)]
    assert all(0 <= r["confident"] <= 1 and r["live"] <= r["units"] for r in naming)
    statuses = name_status_rows(d.run_dir, groups)
    names = d.run_dir.read_units("names")
    for row in statuses:  # the shares count the identify stage's answers for the live units
        live = live_units(d.run_dir, row["layer"])
        answers = [r.status for r in names if r.layer == row["layer"] and live[r.index]]
        assert row["live"] == int(live.sum()) == len(answers)
        assert row["named"] == pytest.approx(answers.count("named") / len(answers))
        assert row["named"] + row["ambiguous"] + row["unexplained"] == pytest.approx(1.0)
    scores = score_rows(d.run_dir, groups)
    assert scores and all(r["predictor"] == "description" and r["neurons_n"] <= 4 for r in scores)
    detection = score_rows(d.run_dir, groups, measure="detection_auprc")
    assert [r["explanation"] for r in detection] == [r["explanation"] for r in scores]
    assert all(0 <= r["neurons"] <= 1 for r in detection if r["neurons_n"])
    with pytest.raises(AudioDissectError, match="unknown score measure"):
        score_rows(d.run_dir, groups, measure="pearsonn")
    table, rows = pruning_rows(d.run_dir, d.target, d.probe, groups, concepts=["trumpet"], method="db",
                               similarity="cos3")
    assert {r.strategy for r in rows} <= {"neurons/db", "latents/db", "random"}
    assert all(r.units_pruned <= naming[1]["live"] for r in rows if r.strategy == "latents/db")
    assert {row["strategy"] for row in table} >= {"neurons/db", "latents/db"}
