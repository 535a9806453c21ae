"""The README's Python example runs as written and does what its comments say."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def example_block(name: str = "python-api") -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"<!-- example: {name}[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert found, f"the README lost its {name} example"
    return found.group(1)


def test_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example_block(), str(README), "exec"), {"__name__": "readme_example"})
    lines = out.getvalue().splitlines()
    assert lines[0] == "(102, 32) head"
    assert any(line.startswith("strategy") for line in lines)  # the pruning table
    index = Path(lines[-1])
    assert index == Path("runs/tiny/report/index.html") and (tmp_path / index).exists()
    assert (tmp_path / "runs/tiny/units/summarize.jsonl").exists()


def test_readme_sae_example_trains_an_sae_and_dissects_its_latents(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example_block("sae"), str(README), "exec"), {"__name__": "readme_sae_example"})
    lines = out.getvalue().splitlines()
    assert lines[0] == "sae.layers.layer4_pointwise 256 8.0"
    assert any("sae.layers.layer4_pointwise#" in line for line in lines[1:])  # latents named like neurons
    assert any(line.startswith("tab ") for line in lines)  # the pruning table
    run = tmp_path / "runs/yamnet-sae"
    assert Path(lines[-1]) == Path("runs/yamnet-sae/report/index.html") and (run / "report/index.html").exists()
    assert sorted(p.name for p in (run / "sae/layers.layer4_pointwise").iterdir()) == [
        "cfg.json", "sae_weights.safetensors", "training.json"]


def test_readme_moments_example_finds_when_a_unit_fires(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        scope = {"__name__": "readme_moments_example"}
        exec(compile(example_block("moments"), str(README), "exec"), scope)
    table = scope["m"]
    assert len(table) == 3 and table["activation"].is_monotonic_decreasing
    assert ((table["snippet_end"] - table["snippet_start"]).round(6) == 1.0).all()
    assert all(len(a) == 16000 for a in table["audio"])
    assert "clip" in out.getvalue().splitlines()[0] and len(out.getvalue().splitlines()) == 4
    assert (tmp_path / "runs/scenes/frames/layers.layer14_pointwise/spans.npy").exists()


def quick_start_block() -> tuple[str, int]:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- example: quick-start[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert found, "the README lost its quick start"
    return found.group(1), text[:found.start()].count("\n")


def write_clips(root: Path) -> None:
    """my_clips/<label>/: five 1 s clips per label, in wav, flac, ogg and mp3."""
    import numpy as np
    import soundfile

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    sounds = {"whistle": lambda k: 0.3 * np.sin(2 * np.pi * (1200 + 60 * k) * t),
              "hum": lambda k: 0.3 * np.sin(2 * np.pi * (110 + 5 * k) * t),
              "hiss": lambda k: 0.1 * rng.standard_normal(t.size)}
    formats = ["wav", "flac", "ogg", "mp3", "wav"]
    for label, make in sounds.items():
        (root / label).mkdir(parents=True)
        for k, ext in enumerate(formats):
            soundfile.write(root / label / f"{label}{k}.{ext}", make(k).astype(np.float32), 16000)


def test_readme_starts_with_a_quick_start_that_runs(tmp_path, monkeypatch):
    code, line = quick_start_block()
    headings = [h for h in README.read_text(encoding="utf-8").splitlines() if h.startswith("## ")]
    assert headings[0] == "## Your own data and model" and line < 30
    assert len(code.strip().splitlines()) < 30
    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    write_clips(tmp_path / "my_clips")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme_quick_start"})
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["unit", "name", "status", "class"]
    assert lines[-1] == "runs/mine/report/index.html" and (tmp_path / lines[-1]).exists()
    assert any(line.split()[:1] == ["clip"] for line in lines)  # the top clips table
    import json

    record = json.loads((tmp_path / "runs/mine/manifest.json").read_text())["stages"]["record"]
    assert record["n_clips"] == 15 and record["output_layer"] == "head" and record["layers"] == {"hidden": 32,
                                                                                                 "head": 3}
