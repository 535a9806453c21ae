"""What the single-stage commands (describe, identify, summarize) share: opening a recorded run."""

from __future__ import annotations

from typing import Any

from ..errors import AudioDissectError


def open_recorded_run(path: str) -> tuple[Any, Any, Any]:
    """(RunDir, RunConfig, ProbeSet) of a run directory that `audiodissect record` wrote.

    Raises
    ------
    AudioDissectError
        When `path` is not a directory or has no record stage.
    """
    from pathlib import Path

    from ..pipeline import reopen_probe
    from ..rundir import RunDir
    from ._options import run_config

    if not Path(path).is_dir():
        raise AudioDissectError(f"no run directory at {path}",
                                hint=f"record one first: `audiodissect record --out {path}`")
    run = RunDir(path)
    if "record" not in run.manifest()["stages"]:
        raise AudioDissectError(f"{run.path} has no recorded activations",
                                hint=f"run `audiodissect record --out {run.path}` first")
    config = run_config(run)
    config.out = str(run.path)
    record = run.stage("record")  # what was recorded, whatever the saved settings say
    spec = dict(record["probe"])
    config.record.model, config.record.pool = record["model"], record["pool"]
    config.record.layers = list(record["layers"])
    config.probe.name, config.probe.root = spec.pop("name"), spec.pop("root", None)
    config.probe.options = spec
    return run, config, reopen_probe(run)


def saved_descriptions(run: Any) -> list[str]:
    """The run's descriptions in clip order, or a clear error naming how to make them."""
    descriptions = run.descriptions()
    if descriptions is None:
        raise AudioDissectError(f"{run.path} has no clip descriptions",
                                hint=f"run `audiodissect describe --run {run.path}` first")
    return descriptions


def save_config(run: Any, config: Any) -> None:
    """Write the settings the stage ran with to ``config.json`` (later stages read them back)."""
    from ..cache import write_json
    from ..config import to_dict

    write_json(run.path / "config.json", to_dict(config))


def reused(before: dict[str, Any] | None, run: Any, stage: str) -> bool:
    """True when `stage`'s manifest section is the one from before the call (nothing was recomputed)."""
    return before is not None and run.manifest()["stages"].get(stage) == before
