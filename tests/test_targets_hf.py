import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.layers import resolve_layers
from audiodissect.targets import from_module, load_target

import transformers


@pytest.fixture(scope="module")
def ast_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("ast")
    labels = ["dog", "cat", "rain"]
    config = transformers.ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=64, max_length=64, num_mel_bins=32,
                                    id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    torch.manual_seed(0)
    transformers.ASTForAudioClassification(config).save_pretrained(path)
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def wav2vec2_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("w2v")
    config = transformers.Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, num_labels=4, classifier_proj_size=24,
        feat_extract_norm="layer", do_stable_layer_norm=True)
    torch.manual_seed(0)
    transformers.Wav2Vec2ForSequenceClassification(config).save_pretrained(path)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=8000, return_attention_mask=True).save_pretrained(path)
    return path


def _waves(*lengths):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(n).astype(np.float32) * 0.1 for n in lengths]


def test_ast_by_path(ast_dir):
    target = load_target(f"hf:{ast_dir}")
    assert target.name == f"hf:{ast_dir}"
    assert target.sample_rate == 16000
    assert target.class_names == ["dog", "cat", "rain"]
    linears = [n for n, m in target.module.named_modules() if isinstance(m, torch.nn.Linear)]
    assert target.default_layers == linears and len(linears) == 2 * 6 + 1
    assert resolve_layers(target.module, target.default_layers) == linears
    logits = target.logits(_waves(8000, 12000))
    assert logits.shape == (2, 3)
    # AST pads every clip to its fixed length, so a clip's logits do not depend on its batch
    torch.testing.assert_close(logits[1], target.logits(_waves(8000, 12000)[1:])[0], atol=1e-5, rtol=1e-5)


def test_wav2vec2_pads_and_passes_attention_mask(wav2vec2_dir):
    target = load_target(f"hf:{wav2vec2_dir}")
    assert target.sample_rate == 8000
    assert target.class_names == ["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"]
    inputs = target.preprocess(_waves(4000, 6000))
    assert inputs["input_values"].shape == (2, 6000)
    assert inputs["attention_mask"].sum(dim=1).tolist() == [4000, 6000]
    logits = target.logits(_waves(4000, 6000))
    assert logits.shape == (2, 4)
    alone = target.logits(_waves(4000))
    torch.testing.assert_close(logits[0], alone[0], atol=1e-4, rtol=1e-4)  # the mask hides the padding
    assert "classifier" in target.default_layers and "projector" in target.default_layers


def test_hub_id_offline_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(AudioDissectError) as err:
        load_target("hf:some-org/some-audio-model")
    assert "some-org/some-audio-model" in str(err.value)
    assert "local directory" in err.value.hint
    with pytest.raises(AudioDissectError, match="no model directory"):
        load_target(f"hf:{tmp_path}/missing/model")


def test_unknown_target_lists_choices():
    with pytest.raises(AudioDissectError) as err:
        load_target("yamnett")
    assert "yamnett" in str(err.value) and "yamnet" in err.value.hint
    with pytest.raises(AudioDissectError):
        load_target("yamnet", epochs=3)


def test_from_module():
    net = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3), torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 2))
    target = from_module(net, sample_rate=8000, class_names=["a", "b"],
                         preprocess=lambda ws: torch.from_numpy(np.stack(ws))[:, None])
    assert target.default_layers == ["0", "3"]
    assert target.logits(_waves(100, 100)).shape == (2, 2)
    with pytest.raises(AudioDissectError):
        from_module("not a module", sample_rate=8000, preprocess=lambda ws: ws)
