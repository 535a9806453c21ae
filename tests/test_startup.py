"""Start-up cost: `audiodissect --help`, every command's `--help` and `import audiodissect` import neither torch
nor scipy."""

import json
import subprocess
import sys

HEAVY = ("torch", "scipy", "sentence_transformers", "transformers")

PROBE = """
import json, sys
{code}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def heavy_modules_after(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_imports_no_heavy_module():
    code = "from audiodissect.cli import build_parser\nbuild_parser().format_help()"
    assert heavy_modules_after(code) == []


#: Prints {command line: heavy modules imported once its help is printed}, for every command and sub-command.
EVERY_COMMAND_HELP = """
import contextlib, io, json, sys
from audiodissect.cli import _subparsers, build_parser

found = {}
for command in _subparsers(build_parser()):
    argv = command.prog.split()[1:] + ["--help"]
    with contextlib.redirect_stdout(io.StringIO()) as text, contextlib.suppress(SystemExit):
        build_parser().parse_args(argv)  # as `audiodissect <command> --help` does
    assert "usage: " in text.getvalue(), argv
    found[" ".join(argv)] = sorted(m for m in %r if m in sys.modules)
print(json.dumps(found))
""" % (HEAVY,)


def test_every_commands_help_imports_no_heavy_module():
    from audiodissect.cli import COMMANDS

    out = subprocess.run([sys.executable, "-c", EVERY_COMMAND_HELP], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert {argv.split()[0] for argv in found} == set(COMMANDS) and "evaluate pruning --help" in found
    assert {argv: heavy for argv, heavy in found.items() if heavy} == {}


def test_deferred_help_texts_still_name_the_registries_forms():
    from audiodissect.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["identify"].format_help()
    assert "rank_reorder" in text and "tag-bridge" in text  # the similarity functions, the evidence backends


def test_the_registries_names_import_no_heavy_module():
    names = ("from audiodissect.similarity import SIMILARITIES\n"
             "from audiodissect.evidence import EVIDENCE_BACKENDS, evidence_forms\n"
             "from audiodissect.targets import TARGETS\n"
             "SIMILARITIES.help(), evidence_forms(), TARGETS.help()")
    assert heavy_modules_after(names) == []
    assert heavy_modules_after(names + "\nimport audiodissect.similarity as S\nS.FUNCTIONS['cos']") == ["torch"]


def test_import_audiodissect_is_lazy_and_complete():
    assert heavy_modules_after("import audiodissect as ad\nad.__version__") == []
    assert heavy_modules_after("import audiodissect as ad\nad.Target") != []
    import audiodissect as ad

    for name in ad.__all__:
        assert getattr(ad, name) is not None, name


def test_every_lazy_package_exports_what_it_promises():
    import importlib

    for package in ("audiodissect.similarity", "audiodissect.evidence", "audiodissect.targets",
                    "audiodissect.probes", "audiodissect.identify"):
        module = importlib.import_module(package)
        assert sorted(set(module._EXPORTS) - set(module.__all__)) == [], package
        assert sorted(set(module.__all__) - set(dir(module))) == [], package
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{package}.{name}"


#: Reopens a run and asks for its identify stage, which is current: prints whether it was reused and the heavy
#: modules imported.
REUSED_STAGE = """
import json, sys
import audiodissect as ad

d = ad.Dissection.open(sys.argv[1])
units = d.identify()
print(json.dumps([d.runner.outcomes["identify"].reused, len(units.records),
                  sorted(m for m in %r if m in sys.modules)]))
""" % (HEAVY,)


def test_a_reused_stage_imports_no_heavy_module(tmp_path, monkeypatch):
    """Reopening a run and reusing a finished stage (its key unchanged) reads the run's files: no torch, no scipy."""
    from stage_fixtures import record_run

    from audiodissect import Dissection

    monkeypatch.setenv("AUDIODISSECT_CACHE", str(tmp_path / "cache"))
    record_run(tmp_path / "run")
    made = Dissection.open(tmp_path / "run").identify(methods=["labels"], similarities=["cos", "wpmi"])
    out = subprocess.run([sys.executable, "-c", REUSED_STAGE, str(tmp_path / "run")], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, len(made.records), []]
