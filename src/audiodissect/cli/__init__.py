"""The ``audiodissect`` command line.

Each command lives in its own module under :mod:`audiodissect.cli` with
``register(subparsers)`` (adds its parser and sets ``handler``) and a handler
``main(args) -> int``. User mistakes surface as one line plus a hint and exit
code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__
from ..errors import AudioDissectError

COMMANDS = ("run", "train", "record", "describe", "identify", "summarize", "prune", "score", "evaluate", "report",
            "analyze", "sae")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiodissect",
        description="Explain what the hidden units of audio neural networks respond to "
                    "(Audio Network Dissection). `audiodissect run` with no arguments dissects the "
                    "built-in demo CNN on the built-in soundbank, fully offline.")
    parser.add_argument("--version", action="version", version=f"audiodissect {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"audiodissect.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    logging.getLogger("audiodissect.setup").setLevel(logging.INFO)  # one-time work: generating, training
    if args.command is None:
        parser.print_help()
        return 0
    try:
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
