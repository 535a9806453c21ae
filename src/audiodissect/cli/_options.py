"""Options shared by several commands."""

from __future__ import annotations

import argparse
import re
import textwrap
from collections.abc import Sequence
from typing import Any

from ..errors import AudioDissectError

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_BOOLS = {"true": True, "false": False, "yes": True, "no": False}


class LinesHelpFormatter(argparse.HelpFormatter):
    """Wraps a description or epilog of one paragraph as argparse does; one with line breaks keeps its lines,
    each wrapped under its own indentation (the default-layers table of ``run --help``)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" not in text:
            return super()._fill_text(text, width, indent)
        out = []
        for line in text.splitlines():
            lead = indent + line[: len(line) - len(line.lstrip())]
            out.append(textwrap.fill(line.strip(), width, initial_indent=lead, subsequent_indent=lead + "    ")
                       if line.strip() else "")
        return "\n".join(out)


def default_layers_epilog() -> str:
    """The built-in targets' default layers and unit counts, from the package data (no model is loaded)."""
    from ..default_layers import help_text

    return help_text()


def add_probe_options(parser: argparse.ArgumentParser, *, default: str | None = "soundbank",
                      options: bool = False) -> None:
    """``--probe`` and ``--probe-root``; with `options`, the repeatable ``--probe-option KEY=VALUE`` too."""
    from ..probes import PROBE_NAMES

    parser.add_argument("--probe", default=default, metavar="NAME",
                        help=f"probing set: {', '.join(PROBE_NAMES)} (default: {default})")
    parser.add_argument("--probe-root", metavar="PATH",
                        help="the data set's folder (esc50, urbansound8k, gtzan, folder) or the manifest (csv)")
    if options:
        add_probe_option_flag(parser)


def add_probe_option_flag(parser: argparse.ArgumentParser) -> None:
    """The repeatable ``--probe-option KEY=VALUE`` (parse with :func:`parse_key_values`)."""
    parser.add_argument("--probe-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the probing set, repeatable, e.g. clips_per_label=20 or "
                             "labels=trumpet,organ (numbers and true/false are parsed; commas make a list)")


def add_model_option_flag(parser: argparse.ArgumentParser) -> None:
    """The repeatable ``--model-option KEY=VALUE`` (parse with :func:`parse_key_values`)."""
    parser.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the model's loader, repeatable, e.g. class_map=labels.csv (beats:) "
                             "or epochs=5 (demo-cnn)")


def add_layout_flag(parser: argparse.ArgumentParser) -> None:
    """The repeatable ``--layout LAYER=SPEC`` (parse with :func:`parse_layouts`)."""
    parser.add_argument("--layout", action="append", default=[], metavar="LAYER=SPEC",
                        help="the output layout of a layer (path or glob), repeatable, e.g. 'encoder.*=BTC' or "
                             "'head=(BT)C': B the clips, C the units, other capital letters pooled; for layers whose "
                             "unit axis their module type does not tell (setting record.layouts)")


def parse_layouts(items: Sequence[str] | None) -> dict[str, str]:
    """``["encoder.*=BTC"]`` -> ``{"encoder.*": "BTC"}``, each layout read.

    Raises
    ------
    AudioDissectError
        For an item without ``=``, an empty or repeated layer, or a layout that cannot be read.
    """
    from ..layout import parse_layout

    out: dict[str, str] = {}
    for item in items or ():
        layer, sep, spec = item.partition("=")
        layer, spec = layer.strip(), spec.strip()
        if not sep or not layer or not spec:
            raise AudioDissectError(f"malformed --layout {item!r}", hint="write --layout LAYER=SPEC, e.g. "
                                                                         "'encoder.*=BTC'")
        if layer in out:
            raise AudioDissectError(f"--layout {layer!r} is given twice")
        parse_layout(spec, layer=layer)
        out[layer] = spec
    return out


def add_run_option(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--run DIR`` and ``--trust-run`` (follow the run's saved settings outside it: see the README's Security)."""
    parser.add_argument("--run", required=required, metavar="DIR", help="run directory")
    parser.add_argument("--trust-run", action="store_true",
                        help="follow the run's saved settings wherever they point (its model factory, LLM or "
                             "captioner URL, hub ids, Ray cluster); without it a run directory is data and such a "
                             "setting is refused unless given on this command line")


def parse_value(text: str) -> Any:
    """A command-line value: int, float or bool when it looks like one, else the string itself.

    ``none``/``null`` give None; a value with commas is a list of such values
    (``4,5`` -> ``[4, 5]``).
    """
    if "," in text:
        return [parse_value(part.strip()) for part in text.split(",") if part.strip()]
    lowered = text.strip().lower()
    if lowered in _BOOLS:
        return _BOOLS[lowered]
    if lowered in ("none", "null"):
        return None
    if _INT.fullmatch(text.strip()):
        return int(text)
    if _FLOAT.fullmatch(text.strip()):
        return float(text)
    return text


def parse_key_values(items: Sequence[str] | None, *, flag: str = "--probe-option") -> dict[str, Any]:
    """``["seed=3", "labels=trumpet,organ"]`` -> ``{"seed": 3, "labels": ["trumpet", "organ"]}``.

    Raises
    ------
    AudioDissectError
        For an item without ``=`` or with an empty or repeated key.
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or not key.isidentifier():
            raise AudioDissectError(f"malformed {flag} {item!r}", hint=f"write {flag} KEY=VALUE, e.g. seed=3")
        if key in out:
            raise AudioDissectError(f"{flag} {key!r} is given twice")
        out[key] = parse_value(value)
    return out


def open_probe(name: str, *, root: str | None = None, options: dict[str, Any] | None = None) -> Any:
    """Load a probing set by name and log each skipped file with its reason."""
    import logging

    from ..probes import load_probe

    probe = load_probe(name, root=root, **(options or {}))
    for bad in probe.skipped:
        logging.getLogger("audiodissect").warning("skipped %s: %s", bad.source, bad.reason)
    return probe
