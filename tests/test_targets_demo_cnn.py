import dataclasses

import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.probes.base import ArrayProbeSet, ClipInfo
from audiodissect.targets import demo_train, load_target
from audiodissect.targets.demo_cnn import DemoCNN, TrainSettings, load_model, model_dir, save_model
from audiodissect.targets.demo_train import augment, cached_demo_cnn, train_demo_cnn

SR = 16000
FAST = dict(epochs=15, widths=(8, 8, 16, 16), hidden=16, batch_size=8, learning_rate=1e-2, threads=1)


def toy_probe(n=60, seconds=0.5):
    """Three labels: a low tone, a high tone (each +-20% in pitch) and white noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    clips, audio = [], []
    for i in range(n):
        label = ("low", "high", "noise")[i % 3]
        if label == "noise":
            wave = 0.2 * rng.standard_normal(t.size)
        else:
            f = (220 if label == "low" else 1760) * 2 ** rng.uniform(-0.25, 0.25)
            wave = rng.uniform(0.05, 0.5) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
            wave += 0.01 * rng.standard_normal(t.size)
        audio.append(wave.astype(np.float32))
        clips.append(ClipInfo(id=f"c{i}", label=label, split="probe" if i < 42 else "heldout"))
    return ArrayProbeSet(name="toy", clips=clips, audio=audio, sample_rate=SR, spec={"name": "toy", "n": n})


@pytest.fixture(scope="module")
def trained():
    return train_demo_cnn(toy_probe(), **FAST)


def test_learns_the_toy_set(trained):
    model, metrics = trained
    assert metrics["class_names"] == ["high", "low", "noise"]
    assert metrics["n_train"] == 42 and metrics["n_heldout"] == 18
    assert metrics["heldout_accuracy"] >= 0.75  # chance is 1/3
    assert set(metrics["per_class_accuracy"]) == {"high", "low", "noise"}
    assert metrics["epochs"] == 15 and metrics["train_seconds"] > 0


def test_training_is_seeded(trained):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    again, _ = train_demo_cnn(toy_probe(), **{**FAST, "epochs": 2})
    assert torch.rand(1) == before  # the caller's RNG state is restored
    again2, _ = train_demo_cnn(toy_probe(), **{**FAST, "epochs": 2})
    for (name, a), (_, b) in zip(again.state_dict().items(), again2.state_dict().items()):
        assert torch.equal(a, b), name


def test_checkpoint_round_trip(trained, tmp_path):
    model, metrics = trained
    save_model(tmp_path, model, metrics["class_names"], metrics)
    loaded, names = load_model(tmp_path)
    assert names == ["high", "low", "noise"]
    x = torch.randn(3, 50, 64)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))


def test_cache_reuse_and_target(monkeypatch, tmp_path):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path))
    probe = toy_probe(n=30)
    target = load_target("demo-cnn", probe=probe, **{**FAST, "epochs": 3})
    settings = TrainSettings(**{**FAST, "epochs": 3})
    folder = model_dir(probe.content_key(), settings)
    assert folder.parent == tmp_path / "demo-cnn"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "metrics.json", "model.pt"]
    assert target.default_layers == ["features.conv1", "features.conv2", "features.conv3", "features.conv4",
                                     "fc", "classifier"]
    assert target.class_names == ["high", "low", "noise"]
    wave = [probe.audio(0, sample_rate=SR)]
    expected = target.logits(wave)

    def no_training(*args, **kwargs):
        raise AssertionError("the cached model should have been loaded")

    monkeypatch.setattr(demo_train, "train_demo_cnn", no_training)
    model, names, metrics = cached_demo_cnn(probe, settings=settings)
    assert metrics["epochs"] == 3
    from audiodissect.targets.demo_cnn import make_target

    assert torch.equal(make_target(model, names).logits(wave), expected)  # the cached model is the trained one


def test_augment_keeps_shape_and_floor():
    x = torch.randn(4, 50, 64)
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert not torch.equal(out, x)
    assert out.min() >= np.log(0.001) - 1e-5


def test_bad_options():
    with pytest.raises(AudioDissectError, match="unknown demo-cnn option"):
        load_target("demo-cnn", probe=toy_probe(n=6), epochz=3)
    one_label = ArrayProbeSet(name="one", clips=[ClipInfo(id="a", label="x")], audio=[np.ones(800)],
                              sample_rate=SR, spec={})
    with pytest.raises(AudioDissectError, match="at least two labels"):
        train_demo_cnn(one_label)


def test_model_shapes():
    model = DemoCNN(n_classes=5).eval()
    assert model(torch.randn(2, 298, 64)).shape == (2, 5)


def test_random_crop_takes_contiguous_windows():
    x = torch.arange(3 * 10, dtype=torch.float32).reshape(3, 10, 1).expand(3, 10, 2)
    out = demo_train.random_crop(x, 4, torch.Generator().manual_seed(0))
    assert out.shape == (3, 4, 2)
    steps = out[:, 1:, 0] - out[:, :-1, 0]
    assert torch.equal(steps, torch.ones(3, 3))  # consecutive frames
    assert all(out[i, 0, 0] >= 10 * i and out[i, -1, 0] < 10 * (i + 1) for i in range(3))  # own clip
    assert torch.equal(demo_train.random_crop(x, 12, torch.Generator()), x)


@pytest.fixture(scope="module")
def soundbank():
    from audiodissect.probes import load_probe

    return load_probe("soundbank")


def test_default_soundbank_loads_the_shipped_weights_without_training(soundbank, monkeypatch, tmp_path):
    from audiodissect.targets import demo_cnn

    monkeypatch.setattr(demo_cnn, "cache_dir", lambda: tmp_path)  # an empty cache of trained models

    def no_training(*args, **kwargs):
        raise AssertionError("the shipped model should have been loaded")

    monkeypatch.setattr(demo_train, "train_demo_cnn", no_training)
    folder = model_dir(soundbank.content_key(), TrainSettings())
    assert demo_cnn.find_model(folder) == demo_cnn.SHIPPED / folder.name
    model, names, metrics = cached_demo_cnn(soundbank)
    assert names == list(soundbank.labels) and metrics["heldout_accuracy"] == 1.0
    from safetensors.torch import load_file

    shipped = load_file(demo_cnn.SHIPPED / folder.name / demo_cnn.SHIPPED_WEIGHTS)
    assert all(torch.equal(value, shipped[name]) for name, value in model.state_dict().items())
    held = soundbank.indices("heldout")[::20]
    target = demo_cnn.make_target(model, names)
    logits = target.logits([soundbank.audio(int(i), sample_rate=SR) for i in held])
    assert [names[k] for k in np.asarray(logits).argmax(axis=1)] == [soundbank[int(i)].label for i in held]


def test_a_model_trained_here_comes_before_the_shipped_one(soundbank, monkeypatch, tmp_path):
    from audiodissect.targets import demo_cnn

    monkeypatch.setattr(demo_cnn, "cache_dir", lambda: tmp_path)
    folder = model_dir(soundbank.content_key(), TrainSettings())
    own = DemoCNN(n_classes=len(soundbank.labels))
    save_model(folder, own, soundbank.labels, {"heldout_accuracy": 0.5})
    model, _, metrics = cached_demo_cnn(soundbank)
    assert demo_cnn.find_model(folder) == folder and metrics["heldout_accuracy"] == 0.5
    assert torch.equal(model.features.conv1.weight, own.features.conv1.weight)


@pytest.mark.slow
def test_retraining_reaches_the_shipped_models_heldout_accuracy(soundbank):
    from audiodissect.cache import read_json
    from audiodissect.targets import demo_cnn

    shipped = demo_cnn.SHIPPED / model_dir(soundbank.content_key(), TrainSettings()).name
    expected = read_json(shipped / "metrics.json")
    options = {**dataclasses.asdict(TrainSettings())}
    options["augment_data"] = options.pop("augment")
    _, metrics = train_demo_cnn(soundbank, **options)
    assert metrics["n_heldout"] == expected["n_heldout"] == 402
    assert metrics["heldout_accuracy"] == expected["heldout_accuracy"]


def test_pooling_on_a_channels_last_copy_gives_torch_s_values_and_layout(monkeypatch):
    from audiodissect.targets.demo_cnn import MaxPool2d

    x = torch.relu(torch.randn(3, 5, 9, 14, generator=torch.Generator().manual_seed(0)))  # ties among zeros
    with torch.inference_mode():
        fast = MaxPool2d(2)(x)
    assert torch.equal(fast, torch.nn.MaxPool2d(2)(x)) and fast.is_contiguous()
    seen = []
    monkeypatch.setattr(torch.nn.MaxPool2d, "forward", lambda self, t: seen.append(t.is_contiguous()) or
                        torch.nn.functional.max_pool2d(t, 2))
    with torch.inference_mode():
        MaxPool2d(2)(x)
    MaxPool2d(2)(x.clone().requires_grad_())
    assert seen == [False, True]  # a channels-last copy without a gradient, torch's own path with one
    model = DemoCNN(n_classes=3)
    assert [type(m) for m in model.features if isinstance(m, torch.nn.MaxPool2d)] == [MaxPool2d] * 3


def test_target_convolutions_run_channels_last_with_the_contiguous_layout_s_values():
    import copy

    from audiodissect.targets.demo_cnn import MaxPool2d, make_target

    model = DemoCNN(n_classes=3)
    contiguous = copy.deepcopy(model).eval()
    target = make_target(model, ["a", "b", "c"])
    convs = [m.weight for m in target.module.modules() if isinstance(m, torch.nn.Conv2d)]
    # channels-last strides (the input channels' stride is 1 where there is more than one)
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert sum(not w.is_contiguous() for w in convs) == len(convs) - 1  # conv1 has one input channel: both
    waves = [np.random.default_rng(i).standard_normal(SR).astype(np.float32) * 0.1 for i in range(3)]
    x = target.preprocess(waves)
    with torch.inference_mode():
        got, want = target.forward(target.module, x), target.forward(contiguous, x)
        h = torch.relu(target.module.features.conv2(torch.randn(2, 16, 20, 30)))
        pooled = MaxPool2d(2)(h)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert h.is_contiguous(memory_format=torch.channels_last) and not h.is_contiguous()
    assert pooled.is_contiguous(memory_format=torch.channels_last) and not pooled.is_contiguous()  # no copy back
    assert torch.equal(pooled, torch.nn.functional.max_pool2d(h, 2))
