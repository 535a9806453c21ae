"""The record stage: activations of every chosen unit over the whole probing set, sharded and resumable."""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..arrays import RowSubset, column_blocks, read_columns
from ..cache import atomic_path, load_npy, plain_name, read_json, save_npy, write_json
from ..errors import AudioDissectError
from ..layers import LayerFilter, LayerSelection, resolve_layers
from ..probes.base import HELDOUT, ProbeSet, SkippedClip, without_clips
from ..probes.splits import one_split_labels
from ..executor import Executor, LocalExecutor, worker_device
from ..progress import ProgressHook, default_hook, silent
from ..rundir import ACTIVATIONS, CLIPS, EVENTS, LOGITS, RunDir
from ..stage import Context, Stage, StageOutcome
from ..targets.base import Target
from .activations import DEFAULT_WINDOW_SECONDS, module_fingerprint, record_clips
from .checks import check_class_order, check_outputs, no_output_layer_reason
from .finite import LOGITS as LOGITS_NAME, describe_rows, find_nonfinite


log = logging.getLogger("audiodissect")


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
                    batch_size: int, key: str, shard_size: int,
                    window_seconds: float | None = DEFAULT_WINDOW_SECONDS,
                    hook: ProgressHook | None = None, executor: Executor | None = None,
                    frames: Sequence[str] | None = None, length_bucket: float | None = None) -> dict[str, Any]:
    """Record `layers` over every clip of `probe` into `run`, resuming shards finished before.

    Writes ``activations/<layer>.npy`` (N, U) float32 in clip order, ``logits.npy``
    (N, n_classes) and ``clips.jsonl``. Each shard of `shard_size` clips is
    recorded by `executor` (default: in this process; on Ray, by a worker
    holding one model replica) and written under
    ``activations/shards/<key>/<shard>/`` atomically, its ``<shard>.done``
    marker last, so an interrupted recording resumes and a shard recorded
    again (a retried worker) replaces its files; the merge into one array per
    layer is a separate step, after which the shards are removed. Clips
    longer than `window_seconds` are recorded in windows
    (:func:`~audiodissect.record.activations.record_activations`). The
    `frames` layers also keep their frames (``frames/<layer>/``, merged out
    of core, shard by shard; :func:`~audiodissect.record.activations.record_waveform_frames`),
    their pooled arrays derived from them; `length_bucket` pads clips to
    whole buckets so that clips of different lengths share a batch. When the
    probing set has timed events, ``events.csv`` holds those of the run's clips.

    Returns
    -------
    dict
        The record stage's facts: model, probe spec, pool, ``layers`` ({path: U} in
        recording order), ``output_layer``, clip count, class names, sample rate.
    """
    if len(probe) == 0:
        raise AudioDissectError(f"the probing set {probe.name!r} holds no clips", hint="check its folder or options")
    executor = executor or LocalExecutor()
    in_worker, per_shard = executor.progress(hook or default_hook())
    run.write_clips(probe)
    shard_dir = run.shard_dir(f"{key}-{shard_size}")  # shards of another size never mix
    n = len(probe)
    shards = [np.arange(s, min(s + shard_size, n)) for s in range(0, n, shard_size)]
    for number, why in damaged_shards(shard_dir, shards, frames=tuple(frames or ())).items():
        log.warning("recording shard %d of %s does not hold its clips' rows (%s): it is recorded again", number,
                    shard_dir, why)
        _done_marker(shard_dir, number).unlink()
    todo = [(number, shard) for number, shard in enumerate(shards) if not _done_marker(shard_dir, number).exists()]
    recorder = ShardRecorder(shard_dir.resolve(), layers=layers, pool=pool, batch_size=batch_size,
                             window_seconds=window_seconds, hook=in_worker, frames=tuple(frames or ()),
                             length_bucket=length_bucket)
    done = n - sum(len(shard) for _, shard in todo)
    for number in executor.map(recorder, todo, setup=executor.state((target, probe), ship=replica_setup)):
        done += len(shards[number])
        per_shard("record", None, completed=done, total=n)
    return merge_shards(run, shard_dir, len(shards), target=target, probe=probe, pool=pool)


def merge_shards(run: RunDir, shard_dir: Path, n_shards: int, *, target: Target, probe: ProbeSet,
                 pool: str) -> dict[str, Any]:
    """Concatenate the `n_shards` finished shards under `shard_dir` into the run's arrays; returns the facts.

    Every shard must be marked done; each layer's (n_shard, U) blocks are
    stacked in shard order into ``activations/<layer>.npy`` (N, U), the
    logits into ``logits.npy``; the shards are then removed.
    """
    missing = [i for i in range(n_shards) if not _done_marker(shard_dir, i).exists()]
    if missing:
        raise AudioDissectError(f"{len(missing)} of {n_shards} recording shards are missing in {shard_dir}",
                                hint="run the record stage again: it records the missing shards only")
    order = read_json(shard_dir / "order.json")

    def merged(name: str) -> np.ndarray:
        return np.concatenate([load_npy(shard_dir / f"{i:05d}" / f"{name}.npy") for i in range(n_shards)])

    arrays = {name: merged(name) for name in order}
    logits = merged("logits")
    frame_path = shard_dir / "frames.json"
    frame_names = read_json(frame_path) if frame_path.exists() else []
    faults, padded = {}, []
    for i in range(n_shards):
        path = shard_dir / f"{i:05d}" / "notes.json"
        notes = read_json(path) if path.exists() else {}
        faults.update(notes.get("faults", {}))
        padded += notes.get("padded", [])
    dropped, broken = drop_nonfinite(run, probe, arrays, logits, faults)
    if padded:
        log.warning("%s", padded_note(len(padded), len(probe), target))
    if dropped:
        keep = np.setdiff1d(np.arange(len(probe)), [row for row, _ in dropped])
        arrays = {name: array[keep] for name, array in arrays.items()}
        logits = logits[keep]
        run.write_clips(without_clips(probe, [SkippedClip(probe.clips[row].id, why) for row, why in dropped]))
    units = {}
    for name, array in arrays.items():
        run.save_activations(name, array)
        units[name] = int(array.shape[1])
    run.save_logits(logits)
    dropped_rows = [row for row, _ in dropped]
    frame_counts = {name: merge_frames(run, shard_dir, n_shards, name, dropped_rows) for name in frame_names}
    if frame_counts:
        units_of = {name: units[name] for name in frame_counts}
        log.info("%s", frames_note(frame_counts, units_of, len(probe) - len(dropped)))
    events = list(getattr(probe, "events", ()) or ())
    if events:
        from ..probes.events import write_events

        gone = {probe.clips[row].id for row in dropped_rows}
        write_events(run.file(EVENTS), [e for e in events if e.clip not in gone])
    elif run.file(EVENTS).exists():
        run.file(EVENTS).unlink()
    shutil.rmtree(shard_dir.parent, ignore_errors=True)
    output_layer = detect_output_layer(arrays, logits)
    note = None if output_layer is not None else no_output_layer_reason(arrays, logits, target.module, pool=pool)
    return {"model": target.name, "probe": probe.spec, "pool": pool, "layers": units,
            "output_layer": output_layer, "output_layer_note": note, "n_clips": len(probe) - len(dropped),
            "class_names": target.class_names, "sample_rate": target.sample_rate,
            "skipped_clips": [vars(s) for s in probe.skipped],
            "dropped_clips": [{"id": probe.clips[row].id, "reason": why} for row, why in dropped],
            "nonfinite_units": broken, "padded_clips": len(padded), "padded_examples": padded[:5],
            "min_samples": target.min_samples, "frames": frame_counts, "events": len(events)}


def merge_frames(run: RunDir, shard_dir: Path, n_shards: int, layer: str, dropped_rows: Sequence[int]) -> int:
    """Write `layer`'s frames of every shard into ``frames/<layer>/`` without holding them all; returns the frames kept.

    The values go into a memory-mapped (F, U) float32 array written shard by
    shard (then renamed into place); the frames of the clips the recording
    dropped (`dropped_rows`, positions among all clips) are left out.
    """
    from numpy.lib.format import open_memmap

    from ..cache import atomic_path
    from ..rundir import FRAME_OFFSETS, FRAME_SPANS, FRAME_VALUES

    def part(i: int, what: str) -> np.ndarray:
        return load_npy(shard_dir / f"{i:05d}" / f"{layer}.{what}.npy", mmap=what == "values")

    dropped = np.asarray(list(dropped_rows), dtype=np.int64)
    counts, spans, keeps, start, total, width = [], [], [], 0, 0, 0
    for i in range(n_shards):
        offsets = part(i, "offsets")
        rows = np.arange(start, start + len(offsets) - 1)
        start += len(offsets) - 1
        per_clip = np.diff(offsets)
        keep_clip = ~np.isin(rows, dropped)
        keep = np.repeat(keep_clip, per_clip)
        keeps.append(keep)
        counts.append(per_clip[keep_clip])
        spans.append(part(i, "spans")[keep])
        total += int(keep.sum())
        width = part(i, "values").shape[1]
    with atomic_path(run.file(FRAME_VALUES, layer=layer)) as tmp:
        values = open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, width))
        at = 0
        for i, keep in enumerate(keeps):
            block = part(i, "values")[keep]
            values[at:at + len(block)] = block
            at += len(block)
        values.flush()
        del values
    save_npy(run.file(FRAME_OFFSETS, layer=layer), np.concatenate([[0], np.cumsum(np.concatenate(counts))])
             .astype(np.int64))
    save_npy(run.file(FRAME_SPANS, layer=layer), np.concatenate(spans).astype(np.float64))
    return total


def frames_note(counts: dict[str, int], units: dict[str, int], n_clips: int) -> str:
    """One line: frames kept per layer and their size on disk (4 bytes per value, 16 per span, 8 per clip)."""
    size = sum(f * (4 * units[name] + 16) + 8 * (n_clips + 1) for name, f in counts.items())
    parts = ", ".join(f"{name} ({f} frames x {units[name]} units)" for name, f in counts.items())
    return f"kept frames of {len(counts)} layers: {parts}; {size / 1e6:.3g} MB on disk"


def padded_note(n_padded: int, n_clips: int, target: Target) -> str:
    """The rule for clips shorter than the model's shortest input, and how many there were."""
    seconds = (target.min_samples or 0) / target.sample_rate
    return (f"{n_padded} of {n_clips} clips are shorter than the model's shortest input ({seconds:.3g} s) and were "
            "zero-padded at their end to it: the silence enters their pooled activations (drop short clips from "
            "the probing set if that matters)")


def drop_nonfinite(run: RunDir, probe: ProbeSet, arrays: dict[str, np.ndarray], logits: np.ndarray,
                   faults: dict[str, str]) -> tuple[list[tuple[int, str]], dict[str, list[int]]]:
    """Find the clips and units with non-finite values (:mod:`~audiodissect.record.finite`); zero the broken
    units' columns in place and warn about both.

    Parameters
    ----------
    faults : dict of str to str
        Clip id -> why its audio was not used (its rows are NaN).

    Returns
    -------
    dropped : list of (row, reason)
        The clips to leave out, in clip order.
    broken : dict of str to list of int
        Layer (or ``"the logits"``) -> units set to zero.

    Raises
    ------
    AudioDissectError
        When every clip (or every value of a layer) is non-finite.
    """
    ids = [c.id for c in probe.clips]
    rows, units = find_nonfinite({**arrays, LOGITS_NAME: logits})
    for name, columns in units.items():
        target = logits if name == LOGITS_NAME else arrays[name]
        target[:, columns] = 0.0
        log.warning("%d units of %s are NaN or infinite on every clip and were set to 0: %s", len(columns),
                    name if name == LOGITS_NAME else f"layer {name!r}", ", ".join(map(str, columns[:10])))
    if not rows:
        return [], units
    if len(rows) == len(ids):
        raise AudioDissectError(f"every clip of {probe.name!r} gives NaN or infinite values, e.g. "
                                f"{describe_rows(rows, ids, shown=3)}: nothing is left to dissect",
                                hint="check the audio (its range, its sample rate) and the model's forward on a "
                                     "clip or two")
    log.warning("%d of %d clips give NaN or infinite values and are left out of %s: %s", len(rows), len(ids),
                run.path, describe_rows(rows, ids))
    dropped = [(row, faults.get(ids[row]) or f"NaN or infinite values in "
                f"{where if where == LOGITS_NAME else 'layer ' + repr(where)}") for row, where in sorted(rows.items())]
    return dropped, units


def damaged_shards(shard_dir: Path, shards: Sequence[np.ndarray], *, frames: Sequence[str] = ()) -> dict[int, str]:
    """{number: what is wrong} of the shards marked done whose files do not fit their clips.

    A finished shard holds, for its n clips, every layer's and the logits' (n, U) array, with one width per
    name over all finished shards (the width most of them have; where none has a majority, none), and for
    each frame layer offsets (n + 1,) rising from 0 to the F frames of its values (F, U) and spans (F, 2).
    Only the arrays' headers are read.

    Parameters
    ----------
    shard_dir : Path
        ``activations/shards/<key>``.
    shards : sequence of np.ndarray
        Each shard's clip positions, by number.
    frames : sequence of str
        The layers whose frames are kept.
    """
    done = [number for number in range(len(shards)) if _done_marker(shard_dir, number).exists()]
    if not done:
        return {}
    try:
        names = [str(n) for n in read_json(shard_dir / "order.json")] + ["logits"]
    except (OSError, ValueError, TypeError):
        return {number: "order.json is missing or damaged" for number in done}
    odd = [n for n in names if not plain_name(n)]
    if odd:  # a name that would reach outside the shard's folder: no shard is read on its word
        return {number: f"order.json names {odd[0]!r}, not a file of the shard" for number in done}
    problems: dict[int, str] = {}
    widths: dict[str, dict[int, int]] = {name: {} for name in names + list(frames)}

    def header(number: int, file: str) -> np.ndarray:
        return load_npy(shard_dir / f"{number:05d}" / file, mmap=True)

    for number in done:
        rows = len(shards[number])
        try:
            for name in names:
                array = header(number, f"{name}.npy")
                if array.ndim != 2 or array.shape[0] != rows:
                    raise ValueError(f"{name}.npy has shape {array.shape} for {rows} clips")
                widths[name][number] = array.shape[1]
            for name in frames:
                offsets, values = header(number, f"{name}.offsets.npy"), header(number, f"{name}.values.npy")
                spans = header(number, f"{name}.spans.npy")
                if offsets.shape != (rows + 1,) or offsets[0] != 0 or np.any(np.diff(offsets) < 0):
                    raise ValueError(f"the frame offsets of {name} do not rise from 0 over {rows} clips")
                if values.ndim != 2 or values.shape[0] != offsets[-1] or spans.shape != (offsets[-1], 2):
                    raise ValueError(f"the frames of {name} are {values.shape} with spans {spans.shape} for "
                                     f"{int(offsets[-1])} frames")
                widths[name][number] = values.shape[1]
        except (AudioDissectError, OSError, ValueError) as exc:
            problems[number] = str(exc)
    for name, by_shard in widths.items():
        kept = [w for number, w in by_shard.items() if number not in problems]
        width, count = Counter(kept).most_common(1)[0] if kept else (None, 0)
        common = width if 2 * count > len(kept) else None  # no width most shards agree on: none is trusted
        for number, width in by_shard.items():
            if number not in problems and width != common:
                problems[number] = (f"{name} is {width} units wide where most shards have {common}" if common
                                    else f"the shards disagree on the width of {name}")
    return dict(sorted(problems.items()))


def _done_marker(shard_dir: Path, number: int) -> Path:
    return shard_dir / f"{number:05d}.done"


@dataclasses.dataclass(frozen=True)
class ShardRecorder:
    """Records one shard of clips with a model replica and writes its rows; the same for every shard.

    Called as ``recorder((target, probe), (number, indices))`` by an executor;
    returns ``number``. Idempotent: a shard whose marker exists is left as
    it is, and one recorded again (after its worker died) replaces its files.

    Parameters
    ----------
    shard_dir : Path
        ``activations/shards/<key>``; shard ``number`` goes to ``<number:05d>/<layer>.npy``
        (n_shard, U) float32 and ``<number:05d>/logits.npy``, then ``<number:05d>.done``.
    layers, pool, batch_size, window_seconds
        As :func:`~audiodissect.record.activations.record_activations` takes them.
    frames, length_bucket
        As :func:`~audiodissect.record.activations.record_waveform_frames` takes them; frame layers also
        write ``<layer>.values.npy``, ``<layer>.offsets.npy`` and ``<layer>.spans.npy`` into the shard.
    hook : ProgressHook, optional
        Per-batch progress (only in the driver's process; workers report nothing).
    """

    shard_dir: Path
    layers: Sequence[str]
    pool: str
    batch_size: int
    window_seconds: float | None
    hook: ProgressHook | None = None
    frames: tuple[str, ...] = ()
    length_bucket: float | None = None

    def __call__(self, replica: tuple[Target, ProbeSet], item: tuple[int, np.ndarray]) -> int:
        target, probe = replica
        number, indices = item
        marker = _done_marker(self.shard_dir, number)
        if marker.exists():
            return number
        arrays, logits, notes, frames = record_clips(target, probe, self.layers, pool=self.pool,
                                                     batch_size=self.batch_size, indices=indices,
                                                     hook=self.hook or silent, window_seconds=self.window_seconds,
                                                     frames=self.frames, length_bucket=self.length_bucket)
        folder = self.shard_dir / f"{number:05d}"
        for name, array in arrays.items():
            save_npy(folder / f"{name}.npy", array)
        for name, layer_frames in frames.items():
            save_npy(folder / f"{name}.values.npy", layer_frames.values)
            save_npy(folder / f"{name}.offsets.npy", layer_frames.offsets)
            save_npy(folder / f"{name}.spans.npy", layer_frames.spans)
        write_json(self.shard_dir / "frames.json", list(frames))
        save_npy(folder / "logits.npy", logits)
        ids = [probe.clips[int(i)].id for i in indices]
        write_json(folder / "notes.json", {"faults": {ids[row]: why for row, why in notes.faults.items()},
                                           "padded": [ids[row] for row in notes.padded]})
        write_json(self.shard_dir / "order.json", list(arrays))  # the recorder's layer order, the same from all
        with atomic_path(marker) as tmp:
            tmp.write_text("", encoding="utf-8")
        return number


def model_replica(target: Target, probe: ProbeSet) -> tuple[Target, ProbeSet]:
    """A worker's state for :class:`ShardRecorder`: the target on the worker's device, and the clips."""
    device = worker_device()
    if target.device != torch.device(device):
        target.module.to(device)
    return target, probe


def replica_setup(state: tuple[Target, ProbeSet]) -> Callable[[], tuple[Target, ProbeSet]]:
    """How a worker elsewhere rebuilds ``(target, probe)``: from a CPU copy of the model, moved to its device."""
    target, probe = state
    return functools.partial(model_replica, shippable(target), probe)


def shippable(target: Target) -> Target:
    """`target` ready to be pickled to workers: the same object on CPU, else a copy with its module on CPU."""
    if target.device.type == "cpu":
        return target
    return dataclasses.replace(target, module=copy.deepcopy(target.module).to("cpu"))


class RecordStage(Stage):
    """Step 0 (see :func:`write_recording`); the key covers the model's weights, the clips' audio, layers and pooling."""

    name = "record"
    outputs = (CLIPS, LOGITS, ACTIVATIONS)

    def __init__(self, layers: LayerFilter | None = None):
        self.layers = layers

    def layer_selection(self, ctx: Context) -> LayerSelection:
        """The chosen layers: as given (explicit names in their order, each pattern's matches as a group
        the forward pass orders), else the target's defaults as one such group."""
        given = self.layers or ctx.config.record.layers
        if given:
            return resolve_layers(ctx.target.module, given)
        if ctx.config.record.layer_set == "paper":
            from ..targets.paper_layers import paper_layers

            return resolve_layers(ctx.target.module, paper_layers(ctx.target.module), one_group=True)
        return resolve_layers(ctx.target.module, ctx.target.default_layers, one_group=True)

    def _paper_set(self, ctx: Context) -> bool:
        """Whether the layers are the paper's set (no layers given, ``record.layer_set = "paper"``)."""
        return not (self.layers or ctx.config.record.layers) and ctx.config.record.layer_set == "paper"

    def inputs(self, ctx: Context) -> dict[str, Any]:
        target = ctx.target
        cfg = ctx.config.record
        return {"model": target.name, "model_options": cfg.model_options, "weights": module_fingerprint(target.module),
                "probe": ctx.source_probe.content_key(), "layers": self.layer_selection(ctx).groups,
                "pool": cfg.pool,
                "output_layer": cfg.output_layer, "window_seconds": cfg.window_seconds,
                "frames": list(cfg.frames), "length_bucket": cfg.length_bucket,
                "frame_timings": {k: dataclasses.astuple(v) for k, v in (getattr(target, "frame_timings", None)
                                                                        or {}).items()},
                "layouts": dict(getattr(target, "layouts", None) or {}),
                "min_samples": getattr(target, "min_samples", None),
                "output_layout": getattr(target, "output_layout", None)}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], Any]:
        cfg = ctx.config.record
        facts = write_recording(ctx.run, ctx.target, ctx.source_probe, layers=self.layer_selection(ctx),
                                pool=cfg.pool, batch_size=cfg.batch_size, key=key, shard_size=cfg.shard_size,
                                window_seconds=cfg.window_seconds, hook=ctx.hook, executor=ctx.executor,
                                frames=cfg.frames, length_bucket=cfg.length_bucket)
        if cfg.output_layer is not None:
            if cfg.output_layer not in facts["layers"]:
                from ..errors import unknown_name_error

                raise unknown_name_error("output layer (not recorded)", cfg.output_layer, facts["layers"])
            facts["output_layer"] = cfg.output_layer
            facts["output_layer_note"] = None
        elif facts["output_layer"] is None and self._paper_set(ctx):
            from ..targets.paper_layers import paper_head

            head = paper_head(list(facts["layers"]))
            classes = facts.get("class_names")
            if head is not None and (not classes or facts["layers"][head] == len(classes)):
                # the paper pools its head's first token: not the logits (their mean over tokens), yet the classes
                facts["output_layer"], facts["output_layer_note"] = head, None
        facts["batch_size"] = cfg.batch_size
        clips = ctx.run.clips()
        logits = ctx.run.logits()
        findings = check_outputs(logits, facts["class_names"])
        order = check_class_order(logits, clips, facts["class_names"])
        findings += [order] if order is not None else []
        facts["output_checks"] = [f.to_json() for f in findings]
        for finding in findings:
            if finding.code != "no_class_names":  # a model without classes is fine: said in the stage's lines
                log.warning("%s (hint: %s)", finding.message, finding.hint)
        if facts.get("output_layer_note") and facts["layers"]:
            log.info("no output layer: %s", facts["output_layer_note"])
        facts["one_split_labels"] = one_split_labels([c.label for c in clips], [c.split for c in clips])
        if facts["one_split_labels"]:
            log.warning("%s", one_split_note(facts["one_split_labels"]))
        ctx.run.write_layers_overview(layer_overview(ctx.run, facts["layers"]))
        return facts, None

    def lines(self, ctx: Context, outcome: StageOutcome) -> list[str]:
        section = outcome.section
        layers = section["layers"]
        lines = [f"recorded {sum(layers.values())} units in {len(layers)} layers over {section['n_clips']} clips"]
        dropped = section.get("dropped_clips") or []
        if dropped:
            shown = ", ".join(f"{c['id']} ({c['reason']})" for c in dropped[:5])
            lines.append(f"left out {len(dropped)} clips with NaN or infinite values: {shown}"
                         + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""))
        if section.get("padded_clips"):
            seconds = (section.get("min_samples") or 0) / section["sample_rate"]
            lines.append(f"{section['padded_clips']} of {section['n_clips']} clips are shorter than the model's "
                         f"shortest input ({seconds:.3g} s) and were zero-padded to it")
        if section.get("one_split_labels"):
            lines.append(one_split_note(section["one_split_labels"]))
        if section.get("frames"):
            lines.append(frames_note(section["frames"], {k: layers[k] for k in section["frames"]},
                                     section["n_clips"]))
        if section.get("output_layer_note"):
            lines.append(f"no output layer: {section['output_layer_note']}")
        for finding in section.get("output_checks") or []:
            lines.append(f"{'note' if finding['code'] == 'no_class_names' else 'warning'}: {finding['message']}")
            lines.append(f"  hint: {finding['hint']}")
        for layer, units in (section.get("nonfinite_units") or {}).items():
            where = layer if layer == LOGITS_NAME else f"layer {layer!r}"
            lines.append(f"set to 0: {len(units)} units of {where} that are NaN or infinite on every clip "
                         f"(e.g. #{units[0]})")
        return lines


def one_split_note(labels: dict[str, dict[str, Any]], *, shown: int = 5) -> str:
    """One line naming the labels whose clips all lie in one split, and what that means."""
    parts = [f"{label!r} ({info['clips']} clip{'s' if info['clips'] != 1 else ''}, all "
             f"{'held out' if info['split'] == HELDOUT else 'probe'})" for label, info in list(labels.items())[:shown]]
    more = f" and {len(labels) - shown} more" if len(labels) > shown else ""
    return (f"{len(labels)} labels have clips in one split only: {', '.join(parts)}{more}; pruning and scoring "
            "measure a label on its held-out clips, and units are described by probe clips")


def layer_overview(run: RunDir, layers: dict[str, int], *, top: int = 3) -> str:
    """A short text summary per recorded layer: units, activation range, top clip labels per unit.

    Uses probe clips only, read a block of units at a time (a layer is never held whole).
    """
    clips = run.clips()
    rows = run.probe_rows()
    labels = np.array([clips[i].label or "?" for i in rows])
    lines = []
    for layer in layers:
        acts = RowSubset(run.activations(layer), rows)
        n, units = acts.shape
        if n == 0 or units == 0:
            lines.append(f"{layer}: {units} units, no probe clips")
            continue
        total, peak = 0.0, -np.inf
        for _, block in column_blocks(acts):
            total += float(block.sum(dtype=np.float64))
            peak = max(peak, float(block.max()))
        lines.append(f"{layer}: {units} units, mean {total / (n * units):.3g}, max {peak:.3g}")
        show = min(units, 8)
        order = np.argsort(-read_columns(acts, 0, show), axis=0, kind="stable")[:top]  # (top, show)
        for u in range(show):
            names = ", ".join(labels[order[:, u]])
            lines.append(f"  #{u}: top clips {names}")
        if units > show:
            lines.append(f"  ... {units - show} more units")
    return "\n".join(lines) + "\n"
