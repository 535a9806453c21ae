"""The README's Python example runs as written and does what its comments say."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def example_block() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- example: python-api[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert found, "the README lost its Python example"
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
