"""Options shared by several commands."""

from __future__ import annotations

import argparse


def add_probe_options(parser: argparse.ArgumentParser, *, default: str | None = "soundbank") -> None:
    from ..probes import PROBE_NAMES

    parser.add_argument("--probe", default=default, metavar="NAME",
                        help=f"probing set: {', '.join(PROBE_NAMES)} (default: {default})")
    parser.add_argument("--probe-root", metavar="PATH",
                        help="the data set's folder (esc50, urbansound8k, gtzan, folder) or the manifest (csv)")


def add_run_option(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--run", required=required, metavar="DIR", help="run directory")
