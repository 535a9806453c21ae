"""Start-up cost: `audiodissect --help` and `import audiodissect` import neither torch nor scipy."""

import json
import subprocess
import sys

PROBE = """
import json, sys
{code}
print(json.dumps(sorted(m for m in ("torch", "scipy", "sentence_transformers", "transformers") if m in sys.modules)))
"""


def heavy_modules_after(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(code=code)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_imports_no_heavy_module():
    code = "from audiodissect.cli import build_parser\nbuild_parser().format_help()"
    assert heavy_modules_after(code) == []


def test_deferred_help_texts_still_name_the_registries_forms():
    from audiodissect.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["identify"].format_help()
    assert "rank_reorder" in text and "tag-bridge" in text  # the similarity functions, the evidence backends


def test_import_audiodissect_is_lazy_and_complete():
    assert heavy_modules_after("import audiodissect as ad\nad.__version__") == []
    assert heavy_modules_after("import audiodissect as ad\nad.Dissection") != []
    import audiodissect as ad

    for name in ad.__all__:
        assert getattr(ad, name) is not None, name
