import ctypes
import os

import numpy as np
import pytest
import torch

from audiodissect.record.hooks import recording
from audiodissect.targets import clip_logits, load_target
from audiodissect.targets import yamnet as y

SR = 16000


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    before = os.environ.get("AUDIODISSECT_CACHE")
    os.environ["AUDIODISSECT_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        del os.environ["AUDIODISSECT_CACHE"]
    else:
        os.environ["AUDIODISSECT_CACHE"] = before


@pytest.fixture(scope="module")
def target(cache):
    return load_target("yamnet")


def _top(target, wave, k=5):
    logits = target.logits([wave])[0]
    return [target.class_names[i] for i in logits.argsort(descending=True)[:k].tolist()]


def test_names_layers_and_cache(target):
    assert len(target.class_names) == 521
    assert target.class_names[0] == "Speech"
    assert target.sample_rate == SR
    layers = target.default_layers
    assert len(layers) == 28
    assert layers[:3] == ["layers.layer1", "layers.layer2_depthwise", "layers.layer2_pointwise"]
    assert layers[-2:] == ["layers.layer14_pointwise", "classifier"]
    assert y.weights_path().exists()
    cached = torch.load(y.weights_path(), weights_only=True)
    assert torch.equal(cached["classifier.weight"], target.module.classifier.weight)


def test_strip_qdq_and_match_onnx_graph(target):
    from onnx.reference import ReferenceEvaluator

    stripped = y.strip_qdq(y.load_onnx())
    ops = {n.op_type for n in stripped.graph.node}
    assert ops == {"Conv", "Relu", "GlobalAveragePool", "Reshape", "Gemm"}
    rng = np.random.default_rng(0)
    patch = (rng.standard_normal((2, 1, 96, 64)) * 2 - 4).astype(np.float32)
    evaluator = ReferenceEvaluator(stripped)
    expected = np.concatenate([evaluator.run(None, {"audio": p[None]})[0] for p in patch])
    with torch.no_grad():  # one patch per clip: (B, 1, P=1, 96, 64)
        got = target.module(torch.from_numpy(patch).unsqueeze(2)).numpy()
    assert np.abs(expected).max() > 5
    np.testing.assert_allclose(got, expected, atol=2e-4, rtol=1e-4)


def test_convolutions_run_channels_last_with_the_contiguous_layout_s_values(target):
    import copy

    convs = [m.conv.weight for m in target.module.layers]
    # channels-last strides (the input channels' stride is 1); torch picks its kernels by the strides
    assert all(w.is_contiguous(memory_format=torch.channels_last_3d) and w.stride(1) == 1 for w in convs)
    contiguous = copy.deepcopy(target.module).to(memory_format=torch.contiguous_format)
    waves = [np.random.default_rng(i).standard_normal(SR * 3).astype(np.float32) * 0.1 for i in range(4)]
    inputs = target.preprocess(waves)
    with torch.no_grad():
        got, want = target.module(inputs), contiguous(inputs)
    assert target.module.layers.layer2_pointwise(target.module.layers[:2](inputs)).is_contiguous(
        memory_format=torch.channels_last_3d)  # the layers' outputs too
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


def test_hooked_outputs_keep_clip_batch(target):
    waves = [np.random.default_rng(i).standard_normal(SR * 2).astype(np.float32) * 0.1 for i in range(3)]
    inputs = target.preprocess(waves)
    assert inputs.shape == (3, 1, 4, 96, 64)  # 2 s padded to 38640 samples: 240 frames, 4 patches
    with recording(target.module, target.default_layers, n_rows=3) as rec:
        rec.rows = np.arange(3)
        with torch.no_grad():
            logits = target.forward(target.module, inputs)
    assert rec.arrays["layers.layer1"].shape == (3, 32)
    assert rec.arrays["layers.layer14_pointwise"].shape == (3, 1024)
    # the classifier's mean over patches is the clip logits
    np.testing.assert_allclose(rec.arrays["classifier"], logits.numpy(), atol=1e-5)
    assert (rec.arrays["layers.layer7_depthwise"] >= 0).all()  # post-ReLU


def test_clip_logits_are_mean_of_patch_logits(target):
    wave = np.random.default_rng(1).standard_normal(SR * 3).astype(np.float32) * 0.1
    patches = target.preprocess([wave])
    with torch.no_grad():
        whole = target.module(patches)[0]
        each = torch.stack([target.module(patches[:, :, p:p + 1])[0] for p in range(patches.shape[2])])
    torch.testing.assert_close(whole, each.mean(0), atol=1e-5, rtol=1e-5)


def test_clip_logits_groups_lengths(target):
    rng = np.random.default_rng(2)
    waves = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (SR, SR * 2, SR, 8000)]
    out = clip_logits(target, waves, batch_size=2)
    assert out.shape == (4, 521)
    for i, w in enumerate(waves):
        np.testing.assert_allclose(out[i], target.logits([w])[0].numpy(), atol=1e-4)


def _espeak(text: str) -> np.ndarray:
    import espeakng_loader as loader
    from audiodissect.audio import resample

    lib = ctypes.CDLL(loader.get_library_path())
    rate = lib.espeak_Initialize(1, 0, loader.get_data_path().encode(), 0)  # 1: retrieve audio
    if rate <= 0:
        pytest.skip("espeak-ng did not initialise")
    chunks = []
    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

    def collect(wav, n, events):
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    callback = callback_type(collect)
    lib.espeak_SetSynthCallback(callback)
    data = text.encode()
    lib.espeak_Synth(ctypes.c_char_p(data), ctypes.c_size_t(len(data) + 1), 0, 0, 0, 0, None, None)
    lib.espeak_Synchronize()
    return resample(np.concatenate(chunks).astype(np.float32) / 32768, rate, SR)


def test_sensible_top_classes(target):
    t = np.arange(3 * SR) / SR
    tone = _top(target, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    assert {"Sine wave", "Dial tone", "Busy signal", "Sidetone", "Beep, bleep", "Tone"} & set(tone), tone
    high = _top(target, (0.5 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32), k=1)
    assert high == ["Sine wave"]
    noise = _top(target, (0.3 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32), k=3)
    assert {"White noise", "Static", "Noise", "Pink noise"} & set(noise), noise
    speech = _espeak("The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore.")
    assert _top(target, speech[: 3 * SR], k=1) == ["Speech"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_yamnet_on_cuda_matches_cpu(target):
    waves = [np.random.default_rng(i).standard_normal(SR * 3).astype(np.float32) * 0.1 for i in range(4)]
    cpu = target.logits(waves)
    gpu = load_target("yamnet", device="cuda")
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.logits(waves).cpu(), cpu, atol=1e-3, rtol=1e-3)


def test_relu_is_in_place_only_without_a_gradient(target):
    """A hook on a convolution may keep its output for the backward pass: with a gradient the ReLU leaves it be."""
    wave = np.random.default_rng(3).standard_normal(SR).astype(np.float32) * 0.1
    inputs = target.preprocess([wave])
    with torch.no_grad():
        plain = target.module(inputs)
    kept = []
    handle = target.module.layers.layer2_depthwise.conv.register_forward_hook(
        lambda module, args, out: kept.append((out * out).sum()))  # the product keeps `out` for backward
    try:
        x = inputs.clone().requires_grad_()
        logits = target.module(x)
        (logits.sum() + kept[0]).backward()  # fails if the ReLU changed `out` in place
    finally:
        handle.remove()
    assert x.grad is not None and torch.equal(logits.detach(), plain)
