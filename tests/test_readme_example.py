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
