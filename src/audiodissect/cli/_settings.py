"""Command-line flags generated from the settings tree: each flag fills one setting of
:class:`~audiodissect.config.RunConfig`, with the setting's own help text, choices and default.

A command lists its flags as ``(flag, setting path)`` pairs; :func:`add_setting_flags`
adds them to its parser and :func:`settings_from_args` turns what the user gave into
the nested dict that :func:`audiodissect.config.merge` lays over a config. Defaults
are never repeated here: a flag left out leaves the setting as the run (or the
config's default) has it.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import types
import typing
from collections.abc import Sequence
from typing import Any

from ..config import RunConfig

#: ``(flag, setting path)``: ``("--llm", ("summarize", "llm"))``; the flag may be a tuple of a name and
#: its aliases: ``(("--strategies", "--strategy"), ("prune", "strategies"))``.
Flag = tuple[str | tuple[str, ...], tuple[str, ...]]


def setting_field(path: Sequence[str]) -> tuple[dataclasses.Field, Any, Any]:
    """(field, its annotation, its default value) of the setting at `path` in :class:`RunConfig`."""
    node: Any = RunConfig()
    for part in path[:-1]:
        node = getattr(node, part)
    field = {f.name: f for f in dataclasses.fields(node)}[path[-1]]
    return field, _type_hints(type(node))[path[-1]], getattr(node, path[-1])


class _Deferred:
    """A flag's help text, computed on first use (when that command's help is printed).

    Some settings list their registry's forms or default to them (the
    similarity functions, the evidence backends), and reading a registry
    imports its implementations (torch, scipy): deferred, building the parser
    imports none of it.
    """

    def __init__(self, make: Any):
        self._make = make

    @functools.cached_property
    def value(self) -> Any:
        return self._make()

    # what argparse does with a help text: test it, strip it, format it with %
    def __bool__(self) -> bool:
        return bool(self.value)

    def __str__(self) -> str:
        return str(self.value)

    def __mod__(self, params: Any) -> str:
        return self.value % params

    def __contains__(self, item: Any) -> bool:
        return item in self.value

    def strip(self) -> str:
        return self.value.strip()


def _help_text(path: Sequence[str], *, scalar: Any, optional: bool, of_run: bool) -> str:
    """The flag's help: the setting's help, its choices, 'none' where None is allowed, and its default."""
    field, _, default = setting_field(path)
    choices = field.metadata.get("choices")
    choices = choices() if callable(choices) else choices
    shown = " ".join(map(str, default)) if isinstance(default, list) else default
    text = field.metadata.get("help", "")
    text = text() if callable(text) else text  # some settings list their registry's forms
    if choices:
        text += f"; one of {', '.join(map(str, choices))}"
    if optional and scalar is not str:
        text += "; 'none' for none"
    text += f" (default: {'the run' + chr(39) + 's setting, else ' if of_run else ''}" \
            f"{'none' if shown in (None, '') else shown})"
    return text.replace("%", "%%")


def setting_type(path: Sequence[str]) -> Any:
    """The annotation of the setting at `path` in :class:`RunConfig`, read from the classes (no default is made)."""
    node: Any = RunConfig
    for part in path:
        node = _type_hints(node)[part]
    return node


@functools.lru_cache(maxsize=None)
def _type_hints(cls: type) -> dict[str, Any]:
    """:func:`typing.get_type_hints` of a settings class, evaluated once (it compiles every annotation of the
    class on each call, and the commands' parsers ask for some 130 settings)."""
    return typing.get_type_hints(cls)


def _dest(path: Sequence[str]) -> str:
    return "setting__" + "__".join(path)


def _scalar(tp: Any) -> tuple[Any, bool]:
    """(the type a command-line word converts to, whether None is allowed) of an annotation."""
    optional = False
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        tp = args[0]
    if typing.get_origin(tp) is list:
        (tp,) = typing.get_args(tp)
    return tp, optional


def _converter(tp: Any, optional: bool):
    def convert(text: str) -> Any:
        if optional and text.strip().lower() in ("none", "null"):
            return None
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        return text

    convert.__name__ = getattr(tp, "__name__", "value")  # argparse names the type in its error
    return convert


def add_setting_flags(parser: argparse.ArgumentParser, flags: Sequence[Flag], *, of_run: bool = False) -> None:
    """Add one flag per setting, its help, choices and default taken from the setting's metadata.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    flags : sequence of (flag or (flag, alias, ...), setting path)
    of_run : bool
        The command works on an existing run directory: a flag left out keeps
        the run's saved setting (the help says so), not the default.
    """
    for flag, path in flags:
        tp = setting_type(path)
        scalar, optional = _scalar(tp)
        text = _Deferred(functools.partial(_help_text, path, scalar=scalar, optional=optional, of_run=of_run))
        # left out, the flag sets nothing (SUPPRESS), so a given 'none' is told apart from no flag
        options: dict[str, Any] = {"dest": _dest(path), "default": argparse.SUPPRESS, "help": text}
        if scalar is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = _converter(scalar, optional)
            options["metavar"] = path[-1].upper()
            if typing.get_origin(_strip_optional(tp)) is list:
                options["nargs"] = "+"
        parser.add_argument(*((flag,) if isinstance(flag, str) else flag), **options)


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def settings_from_args(args: argparse.Namespace, flags: Sequence[Flag]) -> dict[str, Any]:
    """The settings the user gave on the command line, as a nested dict ({section: {name: value}})."""
    out: dict[str, Any] = {}
    for _, path in flags:
        if not hasattr(args, _dest(path)):
            continue
        value = getattr(args, _dest(path))
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out
