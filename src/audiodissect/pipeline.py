"""The stages of a dissection, wired together for ``audiodissect run``.

Each ``stage_*`` function is a thin runner: it loads what the stage needs from
the run directory, calls the pure stage code, and writes the results with a
cache key, so a repeated or interrupted run recomputes only what changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .cache import write_json, write_text
from .config import ProbeConfig, RecordConfig, RunConfig, to_dict
from .probes.base import ProbeSet
from .progress import ProgressHook, default_hook
from .rundir import RunDir
from .targets.base import Target

log = logging.getLogger("audiodissect")


def open_probe(config: ProbeConfig) -> ProbeSet:
    """Load the probing set named in `config` and report bad files."""
    from .probes import load_probe

    probe = load_probe(config.name, root=config.root, **config.options)
    for bad in probe.skipped:
        log.warning("skipped %s: %s", bad.source, bad.reason)
    return probe


def open_target(config: RecordConfig, *, probe: ProbeSet | None = None) -> Target:
    """Load the target model named in `config`."""
    from .targets import load_target

    return load_target(config.model, device=config.device)


def stage_record(run: RunDir, target: Target, probe: ProbeSet, config: RecordConfig,
                 *, hook: ProgressHook | None = None) -> dict[str, Any]:
    """Record activations (Step 0)."""
    from .record import run_record

    layers = config.layers or target.default_layers
    return run_record(run, target, probe, layers=layers, pool=config.pool,
                      batch_size=config.batch_size, hook=hook)


def layer_overview(run: RunDir, *, top: int = 3) -> str:
    """A short text summary per recorded layer: units, activation range, top clip labels per unit.

    Uses probe clips only.
    """
    clips = run.clips()
    rows = run.probe_rows()
    labels = np.array([clips[i].label or "?" for i in rows])
    lines = []
    for layer in run.layers():
        acts = np.asarray(run.activations(layer))[rows]
        order = np.argsort(-acts, axis=0)[:top]  # (top, U)
        lines.append(f"{layer}: {acts.shape[1]} units, mean {acts.mean():.3g}, max {acts.max():.3g}")
        show = min(acts.shape[1], 8)
        for u in range(show):
            names = ", ".join(labels[order[:, u]])
            lines.append(f"  #{u}: top clips {names}")
        if acts.shape[1] > show:
            lines.append(f"  ... {acts.shape[1] - show} more units")
    return "\n".join(lines) + "\n"


def run_pipeline(config: RunConfig, *, hook: ProgressHook | None = None,
                 echo: Callable[[str], None] = print) -> RunDir:
    """Run every stage of a dissection with `config` and return the run directory."""
    hook = hook or default_hook()
    run = RunDir(config.out)
    write_json(run.path / "config.json", to_dict(config))
    wanted = set(config.stages) if config.stages else None

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        if wanted is not None and name not in wanted:
            return None
        start = time.perf_counter()
        result = fn()
        echo(f"[{name}] done in {time.perf_counter() - start:.1f} s")
        return result

    probe = open_probe(config.probe)
    echo(probe.describe())
    target = open_target(config.record, probe=probe)
    section = timed("record", lambda: stage_record(run, target, probe, config.record, hook=hook))
    if section is not None:
        echo(f"recorded {sum(section['layers'].values())} units in {len(section['layers'])} layers")
    write_text(run.path / "layers.txt", layer_overview(run))
    return run


def reopen_probe(run: RunDir) -> ProbeSet:
    """The probing set a run was recorded on, checked to hold the same clips in the same order."""
    from .errors import AudioDissectError
    from .probes import load_probe

    spec = dict(run.stage("record")["probe"])
    probe = load_probe(**spec)
    if [c.id for c in probe.clips] != [c.id for c in run.clips()]:
        raise AudioDissectError(f"the probing set {spec.get('name')!r} changed since {run.path} was recorded",
                                hint="record again with `audiodissect record`")
    return probe


def reopen_target(run: RunDir, *, device: str | None = None) -> Target:
    """The target model a run was recorded with."""
    from .targets import load_target

    return load_target(run.stage("record")["model"], device=device)
