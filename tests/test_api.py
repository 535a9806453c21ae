"""The Python front door: a run made from a user's own module, through the API and through the CLI after reopening.

Nothing is monkeypatched: the model reaches the stages as the user passes it
(or through the factory import path stored in the run), and the CLI reopens
the run the way a user would in another process.
"""

import numpy as np
import pytest

import audiodissect as ad
from audiodissect.cli import main
from audiodissect.progress import silent
from stage_fixtures import CLASSES, PROBE_OPTIONS, make_target, write_descriptions

FACTORY = "stage_fixtures:make_target"


@pytest.fixture
def made(tmp_path, monkeypatch):
    """A dissection of the tiny wave model on the tiny soundbank, with file descriptions."""
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    probe = ad.load_probe("soundbank", **PROBE_OPTIONS)
    descriptions = tmp_path / "descriptions.json"
    write_descriptions(descriptions, probe)

    def dissection(out, **kw):
        return ad.Dissection(make_target().module, probe, out, sample_rate=16000, preprocess=make_target().preprocess,
                             class_names=CLASSES, hook=silent, **kw)

    return dissection, descriptions, tmp_path


def test_custom_module_is_dissected_pruned_scored_and_reported(made):
    dissection, descriptions, tmp = made
    d = dissection(tmp / "run", factory=FACTORY)
    acts = d.record(layers=["conv", "classifier"])
    assert list(acts) == ["conv", "classifier"] and acts["conv"].shape == (18, 4)
    assert acts.output_layer == "classifier"  # its pooled activations are the logits
    np.testing.assert_allclose(acts["classifier"], acts.logits(), rtol=1e-5, atol=1e-6)
    assert list(acts.to_pandas("conv").columns[:3]) == ["clip", "label", "split"]
    assert len(d.describe(f"file:{descriptions}")) == 18
    units = d.identify(methods=["db"], similarities=["cos3"])
    frame = units.to_pandas()
    assert set(frame["layer"]) == {"conv", "classifier"} and len(frame) == 7
    assert all(set(c) <= set(d.run_dir.concepts()) for c in frame["concepts"])
    summaries = d.summarize()
    assert len(summaries) == 7 and all(r["s_high"] and "calibrated_summary" in r for r in summaries)
    scores = d.score(audio_text=False)
    assert {r["predictor"] for r in scores} == {"description"}
    pruned = d.prune("trumpet", strategies=["db", "random"], seeds=1)
    table = pruned.to_pandas()
    assert set(table["strategy"]) == {"db", "random~db"}
    assert pruned.selections and all(not u.startswith("classifier#") for s in pruned.selections for u in s.units)
    index = d.report()
    assert index.exists() and "trumpet" in index.read_text()
    assert d.run_dir.read_target() == {"kind": "factory", "factory": FACTORY}

    # the same run, reopened by the CLI in "another process": the model comes from the stored factory, which the
    # user trusts (a run directory's factory is code: without --trust-run it is never imported)
    run = str(tmp / "run")
    assert main(["prune", "--run", run, "--concept", "organ", "--strategy", "db", "random", "--seeds", "1"]) == 2
    assert main(["prune", "--run", run, "--concept", "organ", "--strategy", "db", "random", "--seeds", "1",
                 "--trust-run"]) == 0
    assert main(["score", "--run", run, "--no-audio-text"]) == 0
    assert main(["report", "--run", run]) == 0
    assert main(["evaluate", "last-layer", "--run", run]) == 0


def test_reopening_a_module_run_without_a_factory_needs_the_model(made, capsys):
    dissection, descriptions, tmp = made
    d = dissection(tmp / "run")
    d.record(layers=["conv", "classifier"])
    d.describe(f"file:{descriptions}")
    d.identify(methods=["db"], similarities=["cos3"])
    d.summarize()
    assert d.run_dir.read_target()["kind"] == "module"

    again = ad.Dissection.open(tmp / "run")
    read = []
    read_units = again.run_dir.read_units
    again.run_dir.read_units = lambda stage: read.append(stage) or read_units(stage)
    reused = again.identify()
    assert "identify" not in read  # a reused stage's rankings are read when first used
    assert reused.records == d.identify().records  # stages that need no model still work
    assert read.count("identify") == 1 and len(reused) == 7 and read.count("identify") == 1
    with pytest.raises(ad.AudioDissectError, match="made from a Python model") as err:
        again.prune("trumpet", strategies=["db"])
    assert "target=" in err.value.hint
    assert main(["prune", "--run", str(tmp / "run"), "--concept", "trumpet", "--strategy", "db"]) == 2
    assert "made from a Python model" in capsys.readouterr().err

    with_model = ad.Dissection.open(tmp / "run", target=make_target())
    assert with_model.prune("trumpet", strategies=["db"]).table[0]["strategy"] == "db"


def test_in_memory_clips_and_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    waves = [rng.normal(size=16000).astype(np.float32) * (0.1 + i % 3) for i in range(12)]
    probe = ad.clips(waves, sample_rate=16000, labels=["organ", "speech", "trumpet"] * 4)
    assert len(probe) == 12 and probe.labels == CLASSES
    d = ad.Dissection(make_target(), probe, tmp_path / "run", hook=silent)
    acts = d.record()
    assert acts["conv"].shape == (12, 4)
    reopened = ad.Dissection.open(tmp_path / "run", target=make_target())
    with pytest.raises(ad.AudioDissectError, match="clips held in memory"):
        reopened.probe  # noqa: B018 - opening the probe is the point
    assert ad.Dissection.open(tmp_path / "run", target=make_target(), probe=probe).probe is probe

    with pytest.raises(ad.AudioDissectError, match="unknown target model 'yamnett'"):
        ad.Dissection("yamnett", out=tmp_path / "x")
    with pytest.raises(ad.AudioDissectError, match="needs sample_rate= and preprocess="):
        ad.Dissection(make_target().module, probe, tmp_path / "y").record()
    with pytest.raises(ad.AudioDissectError, match="batch_size must be at least 1"):
        ad.Dissection(make_target(), probe, tmp_path / "z").record(batch_size=0)
    with pytest.raises(ad.AudioDissectError, match="no run directory at"):
        ad.Dissection.open(tmp_path / "missing-run")
    assert not (tmp_path / "missing-run").exists()
    with pytest.raises(ad.AudioDissectError, match="every clip is held out"):
        ad.clips(waves[:2], sample_rate=16000, splits=["heldout", "heldout"])


def test_paper_preset_on_a_hugging_face_ast(tmp_path, monkeypatch):
    """`preset="paper"`: first-token pooling and the paper's AST layers (attention output, fc1, fc2, classifier)."""
    import torch
    import transformers

    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    config = transformers.ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    max_length=64, num_mel_bins=32, num_labels=3)
    torch.manual_seed(0)
    transformers.ASTForAudioClassification(config).save_pretrained(tmp_path / "ast")
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(tmp_path / "ast")
    rng = np.random.default_rng(1)
    probe = ad.clips([rng.normal(size=8000).astype(np.float32) for _ in range(6)], sample_rate=16000,
                     labels=["a", "b", "c"] * 2)
    d = ad.Dissection(f"hf:{tmp_path / 'ast'}", probe, tmp_path / "run", preset="paper", hook=silent)
    assert d.config.identify.db_scope == "topk" and d.config.summarize.icl_shots == 2
    # the paper's TAB, concept set, summaries and calibration, where the defaults go beyond them
    default = ad.Dissection(f"hf:{tmp_path / 'ast'}", probe, tmp_path / "default", hook=silent).config
    for section, key, paper, ours in [("identify", "tab_backend", "tag-bridge", "tag-bridge+acoustic"),
                                      ("identify", "acoustic_concepts", False, True),
                                      ("summarize", "contrastive", False, True),
                                      ("summarize", "calibration", "sentence", "content")]:
        assert getattr(getattr(d.config, section), key) == paper
        assert getattr(getattr(default, section), key) == ours
    acts = d.record()
    blocks = [f"audio_spectrogram_transformer.layers.{i}.{name}" for i in range(2)
              for name in ("attention.o_proj", "mlp.fc1", "mlp.fc2")]
    assert list(acts) == blocks + ["classifier.dense"]
    assert d.run_dir.stage("record")["pool"] == "first"
    assert acts.output_layer == "classifier.dense"
    with pytest.raises(ad.AudioDissectError, match="unknown preset 'paperr'"):
        ad.Dissection("demo-cnn", probe, tmp_path / "x", preset="paperr")


def test_the_trust_checks_take_their_settings_as_keywords(made):
    """Each keyword of the stability and causal calls lands in its own settings section and the stage runs."""
    dissection, descriptions, tmp = made
    d = dissection(tmp / "run")
    d.record(layers=["conv", "classifier"])
    d.describe(f"file:{descriptions}")
    d.identify(methods=["db"], similarities=["cos3"])
    stability = d.stability(resamples=3, noise=0.05)
    assert (d.config.stability.resamples, d.config.stability.noise) == (3, 0.05)
    assert all(0.0 <= r.bootstrap_survival <= 1.0 for r in stability)
    causal = d.causal(units_per_layer=1, random_units=2)
    assert (d.config.causal.units_per_layer, d.config.causal.random_units) == (1, 2)
    assert all(r.layer != "classifier" for r in causal)
