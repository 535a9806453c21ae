"""`audiodissect train` on a tiny generated soundbank (three labels, six clips each, 1 s, two epochs)."""

import json

import pytest

from audiodissect.cli import main
from audiodissect.cli._options import parse_key_values, parse_value
from audiodissect.errors import AudioDissectError

TINY = ["--probe-option", "clips_per_label=6", "--probe-option", "labels=trumpet,organ,speech",
        "--probe-option", "duration=1", "--epochs", "2"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def train(cache, monkeypatch, capsys, *extra):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(cache))
    code = main(["train", *TINY, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def paths(out):
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in out.splitlines() if ":" in line}
    return lines["checkpoint"], lines["accuracy"]


def test_trains_caches_and_reports(cache, monkeypatch, capsys):
    code, out, _ = train(cache, monkeypatch, capsys)
    assert code == 0
    assert "trained in" in out and "seed 0, 2 epochs, 14 training clips" in out
    checkpoint, accuracy = paths(out)
    assert checkpoint.startswith(str(cache / "demo-cnn")) and checkpoint.endswith("model.pt")
    metrics = json.loads(open(accuracy).read())
    assert metrics["epochs"] == 2 and metrics["n_heldout"] == 4
    assert f"held-out accuracy {metrics['heldout_accuracy']:.3f} on 4 clips" in out

    code, again, _ = train(cache, monkeypatch, capsys)
    assert code == 0 and "loaded from the cache" in again and paths(again) == (checkpoint, accuracy)


def test_force_retrains_the_same_seeded_model(cache, monkeypatch, capsys):
    _, out, _ = train(cache, monkeypatch, capsys)
    checkpoint, _ = paths(out)
    before = open(checkpoint, "rb").read()
    code, forced, _ = train(cache, monkeypatch, capsys, "--force")
    assert code == 0 and "trained in" in forced
    assert open(checkpoint, "rb").read() == before  # seeded: same weights


def test_seed_selects_another_model(cache, monkeypatch, capsys):
    _, out, _ = train(cache, monkeypatch, capsys)
    code, other, _ = train(cache, monkeypatch, capsys, "--seed", "1")
    assert code == 0 and "seed 1" in other and paths(other)[0] != paths(out)[0]


def test_bad_options_are_one_line_errors(cache, monkeypatch, capsys):
    code, _, err = train(cache, monkeypatch, capsys, "--epochs", "0")
    assert code == 2 and "--epochs must be at least 1" in err
    code, _, err = train(cache, monkeypatch, capsys, "--probe-option", "clips_per_label")
    assert code == 2 and "malformed --probe-option 'clips_per_label'" in err and "hint:" in err
    code, _, err = train(cache, monkeypatch, capsys, "--probe-option", "clip_per_label=3")
    assert code == 2 and "unknown soundbank option 'clip_per_label'" in err


def test_parse_values():
    assert parse_value("3") == 3 and parse_value("-2") == -2
    assert parse_value("0.5") == 0.5 and parse_value("1e-3") == 1e-3
    assert parse_value("true") is True and parse_value("False") is False
    assert parse_value("none") is None
    assert parse_value("organ") == "organ" and parse_value("3a") == "3a"
    assert parse_value("4,5") == [4, 5] and parse_value("acoustic guitar,organ") == ["acoustic guitar", "organ"]
    assert parse_key_values(["seed=3", "labels=a,b", "name=x=y"]) == {"seed": 3, "labels": ["a", "b"],
                                                                      "name": "x=y"}
    for bad in (["=3"], ["seed"], ["seed=1", "seed=2"], ["two words=1"]):
        with pytest.raises(AudioDissectError):
            parse_key_values(bad)


def test_first_use_training_is_announced_without_verbose(tmp_path, monkeypatch, capsys, caplog):
    """Generating the soundbank and training the model take a while once: the CLI says so at default verbosity."""
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path))
    assert main(["train", *TINY]) == 0
    setup = [r.getMessage() for r in caplog.records if r.name == "audiodissect.setup"]
    assert any(m.startswith("generating the soundbank (first use") for m in setup)
    assert any(m.startswith("training the demo CNN on soundbank") for m in setup)
    assert any(m.startswith("demo-cnn trained on 14 soundbank clips") for m in setup)
