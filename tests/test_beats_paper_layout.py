"""The AND paper authors' fine-tuned BEATs layout: a bare state dict with beats.* and fc.* keys and a separate
config (a pickled dict), loaded directly, converted to the official format, and dissected with the paper preset,
which records the classification head."""

import json
import pickle

import numpy as np
import pytest
import torch

import audiodissect as ad
from audiodissect.cli import main
from audiodissect.errors import AudioDissectError
from audiodissect.progress import silent
from audiodissect.targets import load_target
from audiodissect.targets.beats import read_class_names, read_config
from audiodissect.targets.beats_config import BEATsConfig
from audiodissect.targets.beats_model import BEATs
from stage_fixtures import tiny_probe
from test_targets_beats import DEEP_NORM, random_state

CLASSES = ["organ", "speech", "trumpet"]


def authors_checkpoint(tmp_path):
    """The layout of the paper's MyBeatsModel.state_dict(): the pre-trained BEATs (no predictor) under beats.*, and
    a Linear(encoder_embed_dim, 3) head fc applied to every token; the config pickled as cfg.pkl."""
    cfg = dict(DEEP_NORM, finetuned_model=False)
    encoder = random_state(dict(cfg, finetuned_model=True), 5)
    encoder = {k: v for k, v in encoder.items() if not k.startswith("predictor")}
    gen = torch.Generator().manual_seed(9)
    fc = torch.nn.Linear(cfg["encoder_embed_dim"], len(CLASSES))
    with torch.no_grad():
        fc.weight.copy_(0.5 * torch.randn(fc.weight.shape, generator=gen))
        fc.bias.copy_(0.1 * torch.randn(fc.bias.shape, generator=gen))
    state = {**{f"beats.{k}": v for k, v in encoder.items()}, "fc.weight": fc.weight.detach().clone(),
             "fc.bias": fc.bias.detach().clone()}
    torch.save(state, tmp_path / "beats-esc50-finetuned.pt")
    with open(tmp_path / "cfg.pkl", "wb") as f:
        pickle.dump(cfg, f)
    (tmp_path / "classes.txt").write_text("".join(f"{name}\t{i}\n" for i, name in enumerate(CLASSES)))
    return tmp_path / "beats-esc50-finetuned.pt", tmp_path / "cfg.pkl", encoder, fc, cfg


def waves(n=3, seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [0.1 * rng.standard_normal(int(16000 * seconds)).astype(np.float32) for _ in range(n)]


def test_the_authors_layout_loads_with_its_config_and_computes_their_forward(tmp_path):
    path, cfg_path, encoder, fc, cfg = authors_checkpoint(tmp_path)
    with pytest.raises(AudioDissectError, match="bare state dict .* beats.\\* and fc.\\* keys") as err:
        load_target(f"beats:{path}")
    assert "--model-option config=" in err.value.hint and "audiodissect convert beats" in err.value.hint
    target = load_target(f"beats:{path}", config=str(cfg_path), class_names=str(tmp_path / "classes.txt"))
    assert target.class_names == CLASSES and "predictor" in target.default_layers
    # their forward: the pre-trained encoder's tokens, the head on every token, the mean over the tokens
    reference = BEATs(BEATsConfig.from_dict(cfg))
    reference.load_state_dict(encoder)
    clips = waves()
    inputs = target.preprocess(clips)
    with torch.no_grad():
        tokens, _ = reference.eval().features(inputs["fbank"], inputs["padding_mask"])
        expected = fc(tokens).mean(dim=1)
    torch.testing.assert_close(target.logits(clips), expected, rtol=1e-5, atol=1e-5)
    # the config from JSON, or from the released checkpoint it came from
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    torch.save({"cfg": cfg, "model": {}}, tmp_path / "BEATs_iter3.pt")
    for source in ("cfg.json", "BEATs_iter3.pt"):
        again = load_target(f"beats:{path}", config=str(tmp_path / source))
        torch.testing.assert_close(again.logits(clips), expected, rtol=1e-5, atol=1e-5)


def test_a_pickled_config_that_names_code_is_refused(tmp_path):
    with open(tmp_path / "cfg.pkl", "wb") as f:
        pickle.dump({"encoder_layers": 2, "where": np.float64(1.0)}, f)  # names numpy's code
    with pytest.raises(AudioDissectError, match="not a pickled plain dict"):
        read_config(tmp_path / "cfg.pkl")
    (tmp_path / "names.txt").write_text("b\t1\na\t0\n")
    assert read_class_names(tmp_path / "names.txt") == ["a", "b"]


def test_convert_writes_the_official_format(tmp_path, capsys):
    path, cfg_path, *_ = authors_checkpoint(tmp_path)
    out = tmp_path / "official.pt"
    assert main(["convert", "beats", str(path), "--config", str(cfg_path), "--class-names",
                 str(tmp_path / "classes.txt"), "--out", str(out)]) == 0
    assert f"wrote {out}: BEATs with 2 layers and a 3-class head (3 class names)" in capsys.readouterr().out
    saved = torch.load(out, weights_only=True)
    assert set(saved) == {"cfg", "model", "label_dict"} and saved["cfg"]["predictor_class"] == 3
    assert "predictor.weight" in saved["model"] and not any(k.startswith(("beats.", "fc.")) for k in saved["model"])
    direct = load_target(f"beats:{path}", config=str(cfg_path))
    official = load_target(f"beats:{out}")
    assert official.class_names == CLASSES
    torch.testing.assert_close(official.logits(waves()), direct.logits(waves()))
    assert main(["convert", "beats", str(path), "--config", str(cfg_path), "--out", str(out)]) == 2  # no overwrite
    assert "replaces nothing" in capsys.readouterr().err


def test_the_paper_preset_records_the_classification_head(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    path, cfg_path, *_ = authors_checkpoint(tmp_path)
    d = ad.Dissection(f"beats:{path}", tiny_probe(), out=tmp_path / "run", preset="paper", hook=silent,
                      config={"record": {"model_options": {"config": str(cfg_path),
                                                           "class_names": str(tmp_path / "classes.txt")}}})
    acts = d.record()
    assert list(acts.layers) == ["encoder.layers.0.fc1", "encoder.layers.0.fc2", "encoder.layers.1.fc1",
                                 "encoder.layers.1.fc2", "predictor"]
    section = d.run_dir.stage("record")
    assert section["pool"] == "first" and section["output_layer"] == "predictor"
    assert acts.unit_classes == {f"predictor#{i}": c for i, c in enumerate(CLASSES)}
