"""The README's "Commands" synopsis names every command and every flag the parser has, and nothing else."""

import argparse
import re
from pathlib import Path

from audiodissect.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
#: Flags every command takes, described once below the synopsis rather than on each line.
COMMON = {"-h", "--help", "-q", "--quiet", "-v", "--verbose", "--trust-run", "--version"}


def synopsis() -> dict[str, set[str]]:
    """{command: flags} from the README's Commands block ("evaluate last-layer|class-drop" is two commands)."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index("## Commands"):]
    block = block[block.index("```\n") + 4:]
    block = block[:block.index("```")]
    commands: dict[str, set[str]] = {}
    current: list[str] = []
    for line in block.splitlines():
        if line.startswith("audiodissect "):
            words = line.split()
            nested = words[1] in ("evaluate", "sae")  # convert takes its format as an argument
            names = words[2].split("|") if nested else [words[1]]
            current = [f"{words[1]} {name}" if nested else name for name in names]
            for name in current:
                commands.setdefault(name, set())
        for flag in re.findall(r"--(?:\[no-\])?[a-z][a-z0-9-]*", line):
            forms = {flag.replace("[no-]", ""), flag.replace("[no-]", "no-")} if "[no-]" in flag else {flag}
            for name in current:
                commands[name] |= forms
    return commands


def leaf_parsers() -> dict[str, argparse.ArgumentParser]:
    """{command: its parser}, with "evaluate pruning"-style names for nested commands."""
    def children(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    leaves = {}
    for name, parser in children(build_parser()).items():
        nested = children(parser)
        if nested:
            leaves.update({f"{name} {child}": sub for child, sub in nested.items()})
        else:
            leaves[name] = parser
    return leaves


def test_readme_synopsis_lists_every_command_and_flag_and_no_other():
    listed, parsers = synopsis(), leaf_parsers()
    assert set(listed) == set(parsers)
    for name, parser in parsers.items():
        actions = [set(a.option_strings) - COMMON for a in parser._actions if a.option_strings]
        actions = [strings for strings in actions if strings]
        missing = [sorted(strings)[0] for strings in actions if not strings & listed[name]]
        unknown = listed[name] - set().union(*actions, set())
        assert not missing, f"README's synopsis of {name!r} lacks {missing}"
        assert not unknown, f"README's synopsis of {name!r} names flags the parser lacks: {sorted(unknown)}"
