"""The record stage: activations of every chosen unit over the whole probing set, sharded and resumable."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..cache import load_npy, read_json, save_npy, write_json
from ..errors import AudioDissectError
from ..layers import LayerFilter, LayerSelection, resolve_layers
from ..probes.base import ProbeSet
from ..progress import ProgressHook
from ..rundir import ACTIVATIONS, CLIPS, LOGITS, RunDir
from ..stage import Stage
from ..targets.base import Target
from .activations import DEFAULT_WINDOW_SECONDS, module_fingerprint, record_activations

SHARD_SIZE = 512


def detect_output_layer(arrays: dict[str, np.ndarray], logits: np.ndarray) -> str | None:
    """The layer whose pooled activations are the logits (the model's output layer), or None.

    Parameters
    ----------
    arrays : dict of str to np.ndarray, each (N, U)
    logits : np.ndarray, shape (N, n_classes)
    """
    for name, array in reversed(list(arrays.items())):
        if array.shape == logits.shape and array.size and np.allclose(array, logits, rtol=1e-4, atol=1e-4):
            return name
    return None


def write_recording(run: RunDir, target: Target, probe: ProbeSet, *, layers: Sequence[str], pool: str,
                    batch_size: int, key: str, shard_size: int = SHARD_SIZE,
                    window_seconds: float | None = DEFAULT_WINDOW_SECONDS,
                    hook: ProgressHook | None = None) -> dict[str, Any]:
    """Record `layers` over every clip of `probe` into `run`, resuming shards finished before.

    Writes ``activations/<layer>.npy`` (N, U) float32 in clip order, ``logits.npy``
    (N, n_classes) and ``clips.jsonl``. Each shard of `shard_size` clips is
    written under ``activations/shards/<key>/`` as soon as it is done, so an
    interrupted recording resumes; the shards are removed once merged. Clips
    longer than `window_seconds` are recorded in windows
    (:func:`~audiodissect.record.activations.record_activations`).

    Returns
    -------
    dict
        The record stage's facts: model, probe spec, pool, ``layers`` ({path: U} in
        recording order), ``output_layer``, clip count, class names, sample rate.
    """
    if len(probe) == 0:
        raise AudioDissectError(f"the probing set {probe.name!r} holds no clips", hint="check its folder or options")
    run.write_clips(probe)
    shard_dir = run.shard_dir(key)
    n = len(probe)
    shards = [np.arange(s, min(s + shard_size, n)) for s in range(0, n, shard_size)]
    for number, shard in enumerate(shards):
        done_marker = shard_dir / f"{number:05d}.done"
        if done_marker.exists():
            continue
        arrays, logits = record_activations(target, probe, layers, pool=pool, batch_size=batch_size,
                                            indices=shard, hook=hook, window_seconds=window_seconds)
        for name, array in arrays.items():
            save_npy(shard_dir / f"{number:05d}" / f"{name}.npy", array)
        save_npy(shard_dir / f"{number:05d}" / "logits.npy", logits)
        write_json(shard_dir / "order.json", list(arrays))  # the recorder's layer order
        done_marker.write_text("")
    order = read_json(shard_dir / "order.json")

    def merged(name: str) -> np.ndarray:
        return np.concatenate([load_npy(shard_dir / f"{i:05d}" / f"{name}.npy") for i in range(len(shards))])

    units, arrays = {}, {}
    for name in order:
        arrays[name] = merged(name)
        run.save_activations(name, arrays[name])
        units[name] = int(arrays[name].shape[1])
    logits = merged("logits")
    run.save_logits(logits)
    shutil.rmtree(shard_dir.parent, ignore_errors=True)
    return {"model": target.name, "probe": probe.spec, "pool": pool, "layers": units,
            "output_layer": detect_output_layer(arrays, logits), "n_clips": n,
            "class_names": target.class_names, "sample_rate": target.sample_rate,
            "skipped_clips": [vars(s) for s in probe.skipped]}


def run_record(run: RunDir, target: Target, probe: ProbeSet, *, layers: LayerFilter, pool: str = "mean",
               batch_size: int = 32, output_layer: str | None = None, shard_size: int = SHARD_SIZE,
               window_seconds: float | None = DEFAULT_WINDOW_SECONDS,
               hook: ProgressHook | None = None) -> dict[str, Any]:
    """Record `layers` of `target` over `probe` into `run` as the record stage; returns its manifest section.

    Nothing is recomputed when the same model, clips, layers and pooling were
    recorded before; an interrupted recording resumes its finished shards.
    """
    from ..config import RecordConfig, RunConfig
    from ..stage import Context, Runner

    config = RunConfig(record=RecordConfig(model=target.name, pool=pool, batch_size=batch_size,
                                           output_layer=output_layer, window_seconds=window_seconds))
    ctx = Context(run, config, target_source=target, probe_source=probe, hook=hook)
    return Runner(run)(RecordStage(layers, shard_size=shard_size), ctx).section


class RecordStage(Stage):
    """Step 0 (see :func:`write_recording`); the key covers the model's weights, the clips' audio, layers and pooling."""

    name = "record"
    outputs = (CLIPS, LOGITS, ACTIVATIONS)

    def __init__(self, layers: LayerFilter | None = None, *, shard_size: int = SHARD_SIZE):
        self.layers = layers
        self.shard_size = shard_size

    def layer_selection(self, ctx: Any) -> LayerSelection:
        """The chosen layers: as given (explicit names in their order, each pattern's matches as a group
        the forward pass orders), else the target's defaults as one such group."""
        given = self.layers or ctx.config.record.layers
        if given:
            return resolve_layers(ctx.target.module, given)
        return resolve_layers(ctx.target.module, ctx.target.default_layers, one_group=True)

    def inputs(self, ctx: Any) -> dict[str, Any]:
        target = ctx.target
        cfg = ctx.config.record
        return {"model": target.name, "model_options": cfg.model_options, "weights": module_fingerprint(target.module),
                "probe": ctx.probe.content_key(), "layers": self.layer_selection(ctx).groups, "pool": cfg.pool,
                "output_layer": cfg.output_layer, "window_seconds": cfg.window_seconds,
                "layouts": dict(getattr(target, "layouts", None) or {}),
                "min_samples": getattr(target, "min_samples", None),
                "output_layout": getattr(target, "output_layout", None)}

    def run(self, ctx: Any, key: str) -> tuple[dict[str, Any], Any]:
        cfg = ctx.config.record
        facts = write_recording(ctx.run, ctx.target, ctx.probe, layers=self.layer_selection(ctx), pool=cfg.pool,
                                batch_size=cfg.batch_size, key=key, shard_size=self.shard_size,
                                window_seconds=cfg.window_seconds, hook=ctx.hook)
        if cfg.output_layer is not None:
            if cfg.output_layer not in facts["layers"]:
                from ..errors import unknown_name_error

                raise unknown_name_error("output layer (not recorded)", cfg.output_layer, facts["layers"])
            facts["output_layer"] = cfg.output_layer
        facts["batch_size"] = cfg.batch_size
        ctx.run.write_layers_overview(layer_overview(ctx.run, facts["layers"]))
        return facts, None


def layer_overview(run: RunDir, layers: dict[str, int], *, top: int = 3) -> str:
    """A short text summary per recorded layer: units, activation range, top clip labels per unit.

    Uses probe clips only.
    """
    clips = run.clips()
    rows = run.probe_rows()
    labels = np.array([clips[i].label or "?" for i in rows])
    lines = []
    for layer in layers:
        acts = np.asarray(run.activations(layer))[rows]
        if acts.size == 0:
            lines.append(f"{layer}: {acts.shape[1]} units, no probe clips")
            continue
        order = np.argsort(-acts, axis=0)[:top]  # (top, U)
        lines.append(f"{layer}: {acts.shape[1]} units, mean {acts.mean():.3g}, max {acts.max():.3g}")
        show = min(acts.shape[1], 8)
        for u in range(show):
            names = ", ".join(labels[order[:, u]])
            lines.append(f"  #{u}: top clips {names}")
        if acts.shape[1] > show:
            lines.append(f"  ... {acts.shape[1] - show} more units")
    return "\n".join(lines) + "\n"
