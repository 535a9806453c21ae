"""What the single-stage commands share: reopening a run directory through the Python API."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ._settings import Flag, settings_from_args


def open_run(args: argparse.Namespace, flags: Sequence[Flag] = (), *, needs_record: bool = True,
             settings: dict[str, Any] | None = None) -> Any:
    """The :class:`~audiodissect.Dissection` of the run directory ``args.run``, with the settings `flags` gave.

    Stage lines and tables go to the terminal (``echo=print``); the settings the
    user gave (or `settings`, when the command derived them itself) are laid
    over the run's saved ones and saved with the results. The run's own settings
    are not followed outside it unless ``--trust-run`` was given
    (:mod:`audiodissect.trust`).

    Raises
    ------
    AudioDissectError
        When ``args.run`` is not a run directory, or (with `needs_record`) has no recorded activations.
    """
    from ..dissection import Dissection
    from ..errors import AudioDissectError

    given = settings if settings is not None else settings_from_args(args, flags)
    d = Dissection.open(args.run, settings=given, echo=print, trust=bool(getattr(args, "trust_run", False)))
    if needs_record and not d.run_dir.has_stage("record"):
        raise AudioDissectError(f"{d.path} has no recorded activations",
                                hint=f"run `audiodissect record --out {d.path}` first")
    return d
