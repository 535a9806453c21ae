"""The stage runner: reuse when inputs, outputs and code are unchanged; a rerun when any of them changes."""

import importlib
import sys
import textwrap

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


def test_readable_key_parts():
    assert readable("minilm") == "minilm" and readable(3) == 3 and readable(["a", "b"]) == ["a", "b"]
    long = readable(["clip"] * 100)
    assert isinstance(long, str) and long.startswith("sha:")
