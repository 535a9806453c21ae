"""Backends by spec string: the registry helper, and each family's registry read through it."""

import dataclasses
import sys

import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.registry import Lazy, Registry


@pytest.fixture
def tools():
    reg = Registry("tool")
    reg.register("hammer", lambda *, weight=1: ("hammer", weight))
    reg.register("saw", lambda teeth, *, weight=1: ("saw", teeth, weight), argument="<teeth>", optional=True)
    reg.register("drill", lambda bit: ("drill", bit), argument="<bit>", check=lambda bit: bit.endswith("mm"))
    reg.register("wrench", lambda size: ("wrench", size), argument="<size>", usage="wrench:<size>[@<unit>]")
    for name in ("chisel", "plane", "file", "rasp"):
        reg.register(name, lambda name=name: name)
    return reg


def test_names_with_and_without_an_argument(tools):
    assert tools.build("hammer", weight=3) == ("hammer", 3)
    assert tools.build("  saw ") == ("saw", None, 1)
    assert tools.build("saw:24", weight=2) == ("saw", "24", 2)
    assert tools.build("saw:") == ("saw", None, 1)  # an empty argument is no argument
    assert tools.build("wrench:host:8@mm") == ("wrench", "host:8@mm")  # split at the first ':' only
    spec = tools.parse("drill:6mm")
    assert (spec.entry.name, spec.argument, spec.text) == ("drill", "6mm", "drill:6mm")


@pytest.mark.parametrize("spec, why", [("hammer:big", "hammer takes no argument"),
                                       ("drill", "drill needs an argument"),
                                       ("drill:", "drill needs an argument"),
                                       ("drill:6in", "<bit> is malformed")])
def test_malformed_specs_say_what_is_wrong(tools, spec, why):
    with pytest.raises(AudioDissectError) as info:
        tools.parse(spec)
    assert info.value.message == f"malformed tool spec {spec!r}: {why}"
    assert info.value.hint == f"write it as {tools[spec.partition(':')[0]].usage}"
    assert not tools.accepts(spec) and spec not in tools


def test_an_unknown_name_lists_the_closest_names_and_the_forms(tools):
    with pytest.raises(AudioDissectError) as info:
        tools.build("hamer")
    assert info.value.message == "unknown tool 'hamer'"
    closest, accepted = info.value.hint.split("; ")
    assert closest.startswith("closest: hammer, ")
    assert len(closest.split(", ")) == 5  # the five closest of the eight names, not all of them
    assert accepted == "accepted: " + tools.help()
    with pytest.raises(AudioDissectError, match="unknown tool ''"):
        tools.parse("   ")


def test_forms_for_help_texts(tools):
    assert tools.names() == ("hammer", "saw", "drill", "wrench", "chisel", "plane", "file", "rasp")
    assert tools.forms()[:4] == ("hammer", "saw[:<teeth>]", "drill:<bit>", "wrench:<size>[@<unit>]")
    assert tools.help().startswith("hammer, saw[:<teeth>], drill:<bit>, wrench:<size>[@<unit>], chisel")
    tools.register_fallback(lambda spec: ("custom", spec), usage="<any path>")
    assert tools.forms()[-1] == "<any path>"


def test_a_fallback_takes_every_other_spec_whole(tools):
    tools.register_fallback(lambda spec, *, weight=1: ("custom", spec, weight), usage="<any path>")
    assert tools.build("C:/tools/mallet", weight=5) == ("custom", "C:/tools/mallet", 5)
    assert tools.build("org/mallet-v2") == ("custom", "org/mallet-v2", 1)
    assert tools.build("saw:12") == ("saw", "12", 1)  # a registered name still wins
    with pytest.raises(AudioDissectError, match="hammer takes no argument"):
        tools.build("hammer:x")  # ... also with a bad argument: it is not handed to the fallback
    assert tools.accepts("anything at all") and not tools.accepts("")


def test_registering_a_backend_at_run_time(tools):
    entry = tools.register("Mallet", lambda head: ("mallet", head), argument="<head>", aliases=("gavel",),
                           heavy=True)
    assert entry.meta["heavy"] is True and entry.usage == "Mallet:<head>"
    assert tools.build("gavel:rubber") == ("mallet", "rubber")
    assert list(tools.factories)[-1] == "Mallet" and tools.factories["Mallet"] is entry.factory
    with pytest.raises(TypeError):
        tools.factories["x"] = print  # a read-only view
    with pytest.raises(AudioDissectError, match="'gavel' is registered already") as info:
        tools.register("gavel", print)
    assert "replace=True" in info.value.hint
    tools.register("gavel", lambda: "gavel", replace=True)  # the alias becomes a name of its own
    assert tools.build("gavel") == "gavel" and tools.build("Mallet:wood") == ("mallet", "wood")
    tools.unregister("Mallet")
    assert "Mallet" not in tools.names() and "Mallet" not in tools.factories and len(tools) == 9
    for bad in ("", "a:b"):
        with pytest.raises(AudioDissectError, match="a name is non-empty and has no ':'"):
            tools.register(bad, print)
    with pytest.raises(AudioDissectError, match="unknown tool 'Mallet'"):
        tools.unregister("Mallet")


def test_fold_normalises_names_both_ways():
    reg = Registry("similarity", fold=lambda name: name.lower().replace("-", "_"))
    reg.register("Soft-WPMI", lambda: "soft")
    assert reg.names() == ("soft_wpmi",) and reg.build("SOFT_wpmi") == "soft"
    with pytest.raises(AudioDissectError, match="registered already"):
        reg.register("soft_wpmi", print)


def test_entries_are_frozen_and_keyed_by_identity(tools):
    entry = tools["saw"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.name = "x"
    assert len({entry, tools["saw"]}) == 1
    assert tools.register("saw", print, replace=True) != entry


def test_a_lazy_entry_is_imported_when_first_asked_for(tmp_path, monkeypatch):
    (tmp_path / "lazy_tools.py").write_text("def level(*, weight=1):\n    return ('level', weight)\n\nHEAVY = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_tools", raising=False)
    tools = Registry("tool")
    entry = tools.register("level", Lazy("lazy_tools:level"), heavy=Lazy("lazy_tools:HEAVY"), remote=False)
    assert tools.names() == ("level",) and tools.help() == "level" and "level" in tools
    assert not entry.meta["remote"] and "lazy_tools" not in sys.modules  # names, forms, plain facts: no import
    assert tools.build("level", weight=2) == ("level", 2) and "lazy_tools" in sys.modules
    module = sys.modules["lazy_tools"]
    assert entry.factory is module.level and tools.factories["level"] is module.level
    assert isinstance(entry.source, Lazy) and entry.source.path == "lazy_tools:level"
    assert entry.meta["heavy"] is True and dict(entry.meta) == {"heavy": True, "remote": False}
    with pytest.raises(AudioDissectError, match="'package.module:attribute'"):
        Lazy("lazy_tools.level")
    tools.register("missing", Lazy("lazy_tools:nothing"))  # a wrong path fails where it is used, as an import would
    with pytest.raises(AttributeError, match="nothing"):
        tools.build("missing")


def test_lazy_entries_are_imports_the_code_versions_see():
    """A module with :class:`Lazy` entries also imports their modules in its source (under TYPE_CHECKING),
    so that the stage runner's code versions, read from the source, still follow every backend."""
    from audiodissect.similarity import SIMILARITIES
    from audiodissect.stage import _module_file, module_imports

    module = "audiodissect.similarity.registry"
    imported = set(module_imports(_module_file(module), module))
    lazy = [SIMILARITIES[name].source for name in SIMILARITIES.names()]  # the robust variants: the same modules
    assert all(isinstance(source, Lazy) for source in lazy)
    assert sorted({source.path.partition(":")[0] for source in lazy} - imported) == []


# ---------------------------------------------------------------- every family parses through its registry

def test_each_family_has_its_registry():
    from audiodissect.captioners import CAPTIONERS
    from audiodissect.evidence import EVIDENCE_BACKENDS
    from audiodissect.similarity import SIMILARITIES
    from audiodissect.summarize.llms import LLMS
    from audiodissect.targets import TARGETS
    from audiodissect.text_embedder import TEXT_EMBEDDERS

    assert SIMILARITIES.names() == ("cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi")
    assert EVIDENCE_BACKENDS.help() == "tag-bridge[:<tagger>], clap[:<hub id or path>], acoustic, labels"
    assert CAPTIONERS.help() == "tags, file:<json>, http:<model>@<base url>"
    assert LLMS.help() == ("extractive, llamacpp[:<path.gguf>], http:<model>[@<base_url>], "
                           "transformers:<hub id or folder>")
    assert TEXT_EMBEDDERS.help() == "minilm, clip[:<hub id or local folder>], <sentence-transformers name or path>"
    assert TARGETS.help() == "demo-cnn, yamnet, hf:<model id or local path>, beats:<checkpoint path>"
    assert [name for name in LLMS.names() if LLMS[name].meta.get("remote")] == ["http"]


def test_captioner_specs_are_checked_by_the_registry():
    from audiodissect.captioners import check_captioner_spec
    from audiodissect.captioners.specs import source_digest

    for good in ("tags", "file:d.json", "http:qwen@http://127.0.0.1:8000/v1"):
        check_captioner_spec(good)
    with pytest.raises(AudioDissectError, match="malformed captioner spec 'http:qwen'") as info:
        check_captioner_spec("http:qwen")  # no server
    assert info.value.hint == "write it as http:<model>@<base url>"
    with pytest.raises(AudioDissectError, match="unknown captioner 'tag'"):
        check_captioner_spec("tag")
    assert source_digest("tags") is None and source_digest("file:/no/such.json") is None


def test_a_file_captioner_spec_is_keyed_by_the_file(tmp_path):
    from audiodissect.captioners.specs import source_digest

    path = tmp_path / "d.json"
    path.write_text('{"a": "dog"}')
    first = source_digest(f"file:{path}")
    path.write_text('{"a": "cat"}')
    assert first is not None and source_digest(f"file:{path}") not in (None, first)


def test_target_specs_are_checked_without_loading():
    from audiodissect.targets import check_target_spec, is_target_spec

    assert check_target_spec(" hf:org/model ") == "hf:org/model"
    assert is_target_spec("beats:/m.pt") and is_target_spec("yamnet")
    assert not is_target_spec("hf:") and not is_target_spec("yamnet:x") and not is_target_spec("yamnett")
    with pytest.raises(AudioDissectError, match="unknown target model 'yamnett'") as info:
        check_target_spec("yamnett")
    assert info.value.hint.startswith("closest: yamnet")


def test_a_target_registered_at_run_time_is_loaded_by_its_spec():
    from audiodissect.targets import TARGETS, load_target

    TARGETS.register("toy", lambda size, *, device=None: ("toy", size, device), argument="<size>")
    try:
        assert load_target("toy:3", device="cpu") == ("toy", "3", "cpu")
    finally:
        TARGETS.unregister("toy")


def test_config_help_reads_the_registries():
    import argparse

    from audiodissect.cli import run as cli_run
    from audiodissect.config import _evidence_forms, _target_forms
    from audiodissect.evidence import EVIDENCE_BACKENDS
    from audiodissect.targets import TARGETS

    assert _target_forms() == "target model: " + TARGETS.help()
    assert _evidence_forms().startswith(EVIDENCE_BACKENDS.help() + ", <any of these>+acoustic")
    TARGETS.register("toy", print)
    try:
        assert _target_forms().endswith(", toy")
        parser = argparse.ArgumentParser()
        cli_run.register(parser.add_subparsers())
        run_parser = parser._subparsers._group_actions[0].choices["run"]
        [model] = [a for a in run_parser._actions if "--model" in a.option_strings]
        text = str(model.help)  # built when the help is printed
        assert text.startswith("target model: demo-cnn, ") and ", toy (default: demo-cnn)" in text
    finally:
        TARGETS.unregister("toy")


def test_hand_written_help_names_every_llm_and_captioner():
    """config.py sits below the LLM and captioner registries, so it lists their forms by hand: keep them in step."""
    import dataclasses as dc

    from audiodissect.captioners import CAPTIONERS
    from audiodissect.config import DescribeConfig, SummarizeConfig
    from audiodissect.summarize.llms import LLMS

    llm_help = {f.name: f for f in dc.fields(SummarizeConfig)}["llm"].metadata["help"]
    captioner_help = {f.name: f for f in dc.fields(DescribeConfig)}["captioner"].metadata["help"]
    assert [name for name in LLMS.names() if name not in llm_help] == []
    assert [name for name in CAPTIONERS.names() if name not in captioner_help] == []
