"""What the single-stage commands share: reopening a run directory through the Python API."""

from __future__ import annotations

from typing import Any


def open_run(path: str, *, device: str | None = None, needs_record: bool = True) -> Any:
    """The :class:`~audiodissect.Dissection` of run directory `path` (progress and stage lines to the terminal).

    Raises
    ------
    AudioDissectError
        When `path` is not a run directory, or (with `needs_record`) has no recorded activations.
    """
    from ..dissection import Dissection
    from ..errors import AudioDissectError

    d = Dissection.open(path, device=device)
    if needs_record and not d.run_dir.has_stage("record"):
        raise AudioDissectError(f"{d.path} has no recorded activations",
                                hint=f"run `audiodissect record --out {d.path}` first")
    return d
