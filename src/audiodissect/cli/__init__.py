"""The ``audiodissect`` command line.

Each command lives in its own module under :mod:`audiodissect.cli` with
``register(subparsers)`` (adds its parser and sets ``handler``) and a handler
``main(args) -> int``. User mistakes surface as one line plus a hint and exit
code 2, never a traceback.

Progress: on a terminal, tqdm bars on stderr; when stdout is not a terminal
(a file, a pipe, ``nohup``, CI, a cluster scheduler), plain lines on stdout
beside the stage lines: one when a stage starts and one at least every 30 s
while it runs (``AUDIODISSECT_PROGRESS_INTERVAL`` seconds; see
:mod:`audiodissect.progress`). ``--quiet`` prints results only, ``--verbose``
logs more detail.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__
from ..errors import AudioDissectError

COMMANDS = ("run", "train", "record", "describe", "identify", "summarize", "prune", "score", "evaluate", "report",
            "analyze", "sae", "export", "convert")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiodissect",
        description="Explain what the hidden units of audio neural networks respond to "
                    "(Audio Network Dissection). `audiodissect run` with no arguments dissects the "
                    "built-in demo CNN on the built-in soundbank, fully offline.")
    parser.add_argument("--version", action="version", version=f"audiodissect {__version__}")
    add_output_flags(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"audiodissect.cli.{name}").register(sub)
    for command in _subparsers(parser):
        add_output_flags(command, top=False)
    return parser


def add_output_flags(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``-q/--quiet`` and ``-v/--verbose``; on a command they may follow its name (``audiodissect run -q``)."""
    default = {"default": False} if top else {"default": argparse.SUPPRESS}
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", **default,
                       help="no progress bars or progress lines and no INFO logs; stage lines, tables and results "
                            "are still printed, warnings and errors still go to stderr")
    group.add_argument("-v", "--verbose", action="store_true", **default,
                       help="log more detail (INFO messages on stderr)")


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every command's parser below `parser`, sub-commands (``evaluate pruning``) included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += [child, *_subparsers(child)]
    return found


def progress_hook(*, quiet: bool, stdout=None, stderr=None):
    """The progress hook of one command: nothing (`quiet`), tqdm bars on a terminal, else rate-limited lines on
    stdout (beside the stage lines) or, when only stderr is redirected, on stderr.

    ``AUDIODISSECT_PROGRESS`` (``off``, ``bars``, ``lines``) overrides the choice, and
    ``AUDIODISSECT_PROGRESS_INTERVAL`` sets the seconds between lines (default 30).
    """
    from ..progress import LineHook, TqdmHook, env_interval, env_mode, print_to, silent

    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    mode = env_mode()
    if quiet or mode == "off":
        return silent
    lines_to = stdout if not _isatty(stdout) else stderr if not _isatty(stderr) else None
    if mode == "bars" or (mode is None and lines_to is None):
        return TqdmHook()
    return LineHook(print_to(lines_to or stderr), interval=env_interval(), timestamps=True, end_lines=False)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    from ..progress import using

    parser = build_parser()
    args = parser.parse_args(argv)
    quiet, verbose = bool(getattr(args, "quiet", False)), bool(getattr(args, "verbose", False))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    # one-time work (generating the soundbank, training the demo CNN) is announced unless quiet
    logging.getLogger("audiodissect.setup").setLevel(logging.WARNING if quiet else logging.INFO)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with using(progress_hook(quiet=quiet)):
            return int(args.handler(args) or 0)
    except AudioDissectError as exc:
        print(f"audiodissect: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("audiodissect: interrupted; finished work is kept and a rerun resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
