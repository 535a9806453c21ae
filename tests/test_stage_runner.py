"""The stage runner: reuse when inputs, outputs and code are unchanged; a rerun when any of them changes."""

import importlib
import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from audiodissect import stage as stage_module
from audiodissect.config import RunConfig
from audiodissect.rundir import RunDir
from audiodissect.stage import Context, Runner, code_version, readable

STAGE_SOURCE = textwrap.dedent('''
    from audiodissect.stage import Stage

    CALLS = []


    class CountStage(Stage):
        name = "count"
        outputs = ("count.txt",)

        def inputs(self, ctx):
            return {"n": ctx.config.record.batch_size}

        def run(self, ctx, key):
            CALLS.append(key)
            (ctx.run.path / "count.txt").write_text(str(len(CALLS)))
            return {"calls": len(CALLS)}, len(CALLS)

        def load(self, ctx):
            return int((ctx.run.path / "count.txt").read_text())
    ''')


def load_toy(folder, source):
    (folder / "toy_stage.py").write_text(source)
    sys.modules.pop("toy_stage", None)
    stage_module._module_file.cache_clear()
    stage_module.module_imports.cache_clear()
    code_version.cache_clear()
    return importlib.import_module("toy_stage")


def test_reuse_and_every_reason_to_run_again(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    toy = load_toy(tmp_path, STAGE_SOURCE)
    run = RunDir(tmp_path / "run")
    config = RunConfig()
    lines = []
    runner = Runner(run, echo=lines.append)
    ctx = Context(run, config)

    first = runner(toy.CountStage(), ctx)
    assert not first.reused and first.value == 1 and lines[-1].startswith("[count] done in")
    section = run.stage("count")
    assert section["key_parts"] == {"n": 32} and len(section["code_version"]) == 16
    again = runner(toy.CountStage(), ctx)
    assert again.reused and again.value == 1 and lines[-1].startswith("[count] unchanged")

    config.record.batch_size = 8  # an input changed
    assert runner(toy.CountStage(), ctx).value == 2
    (run.path / "count.txt").unlink()  # an output went missing
    assert runner(toy.CountStage(), ctx).value == 3
    assert runner(toy.CountStage(), ctx, force=True).value == 4

    edited = load_toy(tmp_path, STAGE_SOURCE.replace("CALLS = []", "CALLS = []  # edited"))
    edited.CALLS.extend([None] * 4)
    assert not runner(edited.CountStage(), ctx).reused  # the stage's code changed: never a stale reuse


def test_code_version_follows_every_imported_module():
    version = code_version("audiodissect.describe.stage")
    assert version != code_version("audiodissect.identify.stage")
    imported = stage_module.module_imports(stage_module._module_file("audiodissect.describe.stage"),
                                     "audiodissect.describe.stage")
    assert "audiodissect.captioners" in imported  # a deferred import inside a function counts


def _package_modules() -> list[str]:
    modules = []
    for path in stage_module.ROOT.rglob("*.py"):
        parts = ("audiodissect",) + path.relative_to(stage_module.ROOT).with_suffix("").parts
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def _parsed_imports(path, module: str) -> set[str]:
    """The project modules `module` imports, read from its parsed statements (the reference)."""
    import ast

    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            stem = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            found.add(stem)
            found.update(f"{stem}.{a.name}" for a in node.names)
    return {m for m in found if m == "audiodissect" or m.startswith("audiodissect.")}


def test_import_pattern_finds_every_parsed_import_of_every_module(tmp_path):
    """The pattern the code versions read imports with misses no import statement of any module (it may
    find more, e.g. in a docstring: that only adds a file to a version), nor the awkward forms."""
    for module in _package_modules():
        path = stage_module._module_file(module)
        assert _parsed_imports(path, module) <= set(stage_module.module_imports(path, module)), module
    odd = tmp_path / "odd.py"
    odd.write_text("def f():\n    from .a import (b,  # why\n        c as d)\n    import audiodissect.x as y, "
                   "audiodissect.z\nif 1: from ..p import \\\n    q\n", encoding="utf-8")
    found = set(stage_module.module_imports(odd, "audiodissect.pkg.odd"))
    assert _parsed_imports(odd, "audiodissect.pkg.odd") <= found
    assert {"audiodissect.pkg.a.b", "audiodissect.pkg.a.c", "audiodissect.x", "audiodissect.z",
            "audiodissect.p.q"} <= found


def test_module_files_are_found_as_the_import_system_finds_them():
    """Every name the code versions look up (modules, and names imported from modules) gives the file
    :func:`importlib.util.find_spec` gives, though nothing is imported to find it."""
    names = set(_package_modules())
    for module in list(names):
        names.update(stage_module.module_imports(stage_module._module_file(module), module))

    def found(name):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        return Path(spec.origin).resolve() if spec and spec.origin and spec.origin.endswith(".py") else None

    assert {name: stage_module._module_file(name) for name in sorted(names)} == {name: found(name)
                                                                                for name in sorted(names)}


def test_a_code_version_imports_no_package():
    code = ("import json, sys\n"
            "from audiodissect.stage import code_version\n"
            "code_version('audiodissect.identify.stage')\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('torch', 'scipy', 'audiodissect.')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported = json.loads(out.stdout)
    assert not [m for m in imported if m.startswith(("torch", "scipy", "audiodissect.identify", "audiodissect.similarity",
                                                     "audiodissect.evidence"))]


def test_editing_any_module_a_stage_can_reach_changes_its_code_version(tmp_path, monkeypatch):
    """Also a module reached only through a registry's lazy entry (a similarity function) or a deferred
    import (the acoustic evidence), in a copy of the package."""
    package = code_version("audiodissect.identify.stage")
    root = tmp_path / "audiodissect"
    shutil.copytree(stage_module.ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(stage_module, "ROOT", root)

    def version():
        for cached in (stage_module._module_file, stage_module.module_imports, code_version):
            cached.cache_clear()
        return code_version("audiodissect.identify.stage")

    versions = [version()]
    assert versions[0] == package  # the copy is the package, read from its folder
    for module in ("similarity/cos.py", "similarity/wpmi.py", "evidence/acoustic.py", "identify/naming.py"):
        with open(root / module, "a", encoding="utf-8") as f:
            f.write("\n# edited\n")
        versions.append(version())
    monkeypatch.undo()
    for cached in (stage_module._module_file, stage_module.module_imports, code_version):
        cached.cache_clear()
    assert len(set(versions)) == len(versions)


def test_readable_key_parts():
    assert readable("minilm") == "minilm" and readable(3) == 3 and readable(["a", "b"]) == ["a", "b"]
    long = readable(["clip"] * 100)
    assert isinstance(long, str) and long.startswith("sha:")
