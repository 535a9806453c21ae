"""Step 0: run the target over the probing set and record every chosen unit.

Batch invariance. A clip's activations must not depend on the other clips of
its batch, so clips are batched by *exact* length (:func:`length_batches`)
and nothing is ever padded to another clip's length. Masking padding out of
every pooling would allow mixed lengths, but only for models whose every
layer can be masked (a convolution's or an attention's output near the
padding already depends on it); exact-length batching is exact for any
model. Its cost: clips of all-different lengths run one per forward pass, so
cut or pad a probing set to a few fixed durations for speed.

Bounded memory. A clip longer than ``window_seconds`` is cut into windows of
nearly equal length, each recorded like a clip, and the windows' pooled
values combined per clip (:mod:`~audiodissect.record.windows`): one forward
pass holds at most ``batch_size`` windows of at most ``window_seconds``
each, whatever the longest clip.

Short clips. A target that declares ``min_samples`` gets shorter clips
zero-padded at their end to it (the padding enters the pooling, the same in
every batch). A forward pass that fails is an :class:`AudioDissectError`
naming its clips and their durations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import AudioDissectError
from ..layers import LayerFilter, resolve_layers
from ..probes.base import ProbeSet
from ..progress import ProgressHook, default_hook
from ..targets.base import LOGITS_HINT, Target, describe_output, find_logits, move_to, pad_to
from ..layers import check_scriptable
from .hooks import recording
from ..layout import Layout, parse_layout, pool_output
from ..pooling import check_pool
from .finite import blank_rows, check_waveforms
from .windows import Windows, combine_windows, plan_windows
from ..frames import FrameActivations, FrameTiming, frame_layers, pool_frames, timing_for, uniform_spans

log = logging.getLogger("audiodissect")

#: Longest stretch of audio one clip (window) brings into a forward pass, in seconds. Ten seconds is
#: the clip length AudioSet-trained models (AST, BEATs, PANNs) see in training; AST's feature extractor
#: drops anything after 10.24 s.
DEFAULT_WINDOW_SECONDS = 10.0


def length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Split positions into batches of clips of exactly equal length.

    Parameters
    ----------
    lengths : sequence of int, shape (n,)
    batch_size : int
        Most positions per batch.

    Returns
    -------
    list of np.ndarray
        Positions into `lengths`, shortest lengths first, in input order
        within a length; together they cover each position once, and every
        batch holds one length only.
    """
    if batch_size < 1:
        raise AudioDissectError(f"batch_size must be at least 1, got {batch_size}")
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    order = np.argsort(lengths, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(lengths[order])) + 1) if len(order) else []
    return [group[i:i + batch_size] for group in groups for i in range(0, len(group), batch_size)]


def record_activations(target: Target, probe: ProbeSet, layers: LayerFilter, *,
                       pool: str = "mean", batch_size: int = 32,
                       indices: Sequence[int] | None = None,
                       hook: ProgressHook | None = None,
                       window_seconds: float | None = DEFAULT_WINDOW_SECONDS) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Record pooled activations of `layers` and the logits for clips of `probe`.

    Reads the clips' audio (:func:`read_waveforms`), then records them
    (:func:`record_waveforms`, which documents the arguments and results);
    errors name the clips by id.

    Parameters
    ----------
    indices : sequence of int, optional
        Clip positions to record (a shard); all clips when None. Row i of the
        result belongs to clip ``indices[i]``.
    """
    return record_clips(target, probe, layers, pool=pool, batch_size=batch_size, indices=indices, hook=hook,
                        window_seconds=window_seconds)[:2]


@dataclasses.dataclass(frozen=True)
class ClipNotes:
    """What recording some clips noted about them, by row.

    Attributes
    ----------
    faults : dict of int to str
        Rows whose audio was not used (not finite), with the reason; their
        recorded rows are NaN, so that the recording leaves them out.
    padded : list of int
        Rows shorter than the model's shortest input (``target.min_samples``),
        zero-padded at their end to it.
    """

    faults: dict[int, str]
    padded: list[int]


def record_clips(target: Target, probe: ProbeSet, layers: LayerFilter, *, pool: str = "mean", batch_size: int = 32,
                 indices: Sequence[int] | None = None, hook: ProgressHook | None = None,
                 window_seconds: float | None = DEFAULT_WINDOW_SECONDS, frames: Sequence[str] | None = None,
                 length_bucket: float | None = None
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, ClipNotes, dict[str, FrameActivations]]:
    """:func:`record_activations`, also noting the clips whose audio is not finite and those padded.

    A clip whose audio is not finite is not given to the model (silence
    stands in for it) and its rows come back NaN, so that the recording
    leaves it out (:mod:`~audiodissect.record.finite`); each is logged as a
    warning.

    Returns
    -------
    activations, logits
        As :func:`record_waveforms`.
    notes : ClipNotes
    frames : dict of str to FrameActivations
        As :func:`record_waveform_frames` (empty without `frames`).
    """
    indices = np.arange(len(probe)) if indices is None else np.asarray(indices, dtype=np.int64)
    waves, faults = check_waveforms(read_waveforms(probe, indices, sample_rate=target.sample_rate))
    names = [probe.clips[int(i)].id for i in indices]
    for row, why in faults.items():
        log.warning("clip %s is left out: %s", names[row], why)
    arrays, logits, frame_arrays = record_waveform_frames(
        target, waves, layers, frames=frames, pool=pool, batch_size=batch_size, hook=hook,
        window_seconds=window_seconds, names=names, length_bucket=length_bucket)
    blank_rows(arrays, logits, faults)
    shortest = target.min_samples or 0
    padded = [row for row, wave in enumerate(waves) if wave.size < shortest and row not in faults]
    return arrays, logits, ClipNotes(faults=faults, padded=padded), frame_arrays


def read_waveforms(probe: ProbeSet, indices: Sequence[int], *, sample_rate: int) -> list[np.ndarray]:
    """The audio of clips `indices` of `probe` at `sample_rate`: a list of (T_i,) float32 arrays."""
    return [probe.audio(int(index), sample_rate=sample_rate) for index in indices]


def record_waveforms(target: Target, waves: Sequence[np.ndarray], layers: LayerFilter, *,
                     pool: str = "mean", batch_size: int = 32,
                     hook: ProgressHook | None = None,
                     window_seconds: float | None = DEFAULT_WINDOW_SECONDS,
                     names: Sequence[str] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Record pooled activations of `layers` and the logits for waveforms already in memory.

    Clips longer than `window_seconds` are cut into windows; clips and
    windows are batched by exact length (see the module docstring); each
    batch is preprocessed, run once with the recording hooks on, and its
    pooled outputs are written into preallocated arrays.

    Parameters
    ----------
    target : Target
        Its ``layouts`` say where clips and units lie in each layer's output,
        its ``min_samples`` how short a clip may be, its ``output_layout``
        where the logits are.
    waves : sequence of np.ndarray, each (T_i,) float32 at ``target.sample_rate``
    layers : str, sequence of str, callable or LayerSelection
        Module paths, glob patterns or a predicate (see
        :func:`audiodissect.layers.resolve_layers`).
    pool : {"mean", "max", "first"}
        Reduction of every axis but the clips and the units.
    batch_size : int
        Most clips (windows) per forward pass.
    hook : ProgressHook, optional
        Told the windows done out of all windows.
    window_seconds : float or None
        Longest audio per clip in one forward pass; None records every clip whole.
    names : sequence of str, optional
        Clip names for error messages (default: positions).

    Returns
    -------
    activations : dict of str to np.ndarray, each (n, U_layer) float32
        Row i belongs to ``waves[i]``. Keys in the layers' order: as listed,
        with the matches of each glob pattern, of a predicate, or a
        target's defaults in the order the forward pass first reaches them.
    logits : np.ndarray, shape (n, n_classes), float32
        Shape (n, 0) when the forward's output is not clip logits (see
        :class:`~audiodissect.targets.base.Target`).
    """
    activations, logits, _ = record_waveform_frames(target, waves, layers, pool=pool, batch_size=batch_size,
                                                    hook=hook, window_seconds=window_seconds, names=names)
    return activations, logits


def record_waveform_frames(target: Target, waves: Sequence[np.ndarray], layers: LayerFilter, *,
                           frames: Sequence[str] | None = None, pool: str = "mean", batch_size: int = 32,
                           hook: ProgressHook | None = None,
                           window_seconds: float | None = DEFAULT_WINDOW_SECONDS,
                           names: Sequence[str] | None = None, length_bucket: float | None = None
                           ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, FrameActivations]]:
    """:func:`record_waveforms`, also keeping the frames of the `frames` layers.

    A frame layer's output is kept along time (:func:`~audiodissect.layout.frame_output`:
    every axis but clips, time and units pooled); each frame gets its time
    span (:mod:`audiodissect.frames`: the target's declared timing, else the
    uniform rule over the input as fed). Frames that start at or after the
    end of a clip's audio hold padding only and are dropped (a clip keeps at
    least its first frame). The layer's pooled activations are then derived
    from the kept frames, window by window, not recorded a second time:
    mean, max or first over the frames (max and first equal direct pooling
    exactly; the mean equals it up to float rounding, and for clips padded
    to ``min_samples`` it leaves the padded frames out).

    Parameters
    ----------
    frames : sequence of str, optional
        Layer paths or glob patterns (``"*"``: every layer with a time axis)
        among the recorded ones; exact paths must have a time axis.
    length_bucket : float, optional
        Seconds: each clip (window) is zero-padded at its end to a whole
        number of buckets before it is batched, so clips of different lengths
        share a forward pass (see the module docstring); None batches clips by
        exact length only.
    (other parameters as :func:`record_waveforms`)

    Returns
    -------
    activations, logits
        As :func:`record_waveforms`.
    frames : dict of str to FrameActivations
        The frame layers that have a time axis, in the activations' order; spans
        in seconds from each clip's start (windows placed where they lie in the clip).
    """
    check_pool(pool)
    check_scriptable(target.module)
    selection = resolve_layers(target.module, layers)
    hook = hook or default_hook()
    clips = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waves]
    names = [str(n) for n in names] if names is not None else [f"#{i}" for i in range(len(clips))]
    plan = plan_windows([c.size for c in clips], window=_window_samples(target, window_seconds))
    padded = np.maximum(plan.lengths, target.min_samples or 0)
    if length_bucket is not None:
        padded = bucket_lengths(padded, int(round(float(length_bucket) * target.sample_rate)))
    chosen, required = frame_layers(list(selection), frames)
    output_layout = parse_layout(target.output_layout, layer="the output") if target.output_layout else None
    logits = _Logits(len(plan.clip), where=target.name, classes=target.class_names)
    done = 0
    target.module.eval()
    hook("record", None, completed=0, total=len(plan.clip))
    with recording(target.module, list(selection), n_rows=len(plan.clip), pool=pool, layouts=target.layouts,
                   frames={name: name in required for name in chosen}) as recorder, torch.inference_mode():
        for rows in length_batches(padded, batch_size):
            recorder.rows = rows
            pieces = [np.pad(clips[c][s:e], (0, int(p) - (e - s))) for c, s, e, p in
                      zip(plan.clip[rows], plan.start[rows], plan.stop[rows], padded[rows])]
            out = _forward(target, pieces, about=lambda: _describe(rows, plan, names, target.sample_rate))
            logits.add(rows, out, output_layout)
            done += len(rows)
            hook("record", None, completed=done, total=len(plan.clip))
    arrays = dict(recorder.arrays)
    kept_frames = {}
    for name, per_piece in recorder.frames.items():
        kept_frames[name] = _assemble_frames(per_piece, plan, padded, timing_for(name, target.frame_timings),
                                             target.sample_rate)
        arrays[name] = pool_frames(kept_frames[name].values, kept_frames[name].offsets, pool=pool)
    for name, calls in recorder.repeated.items():
        log.warning("layer %r runs %d times in one forward pass: its units are pooled over all the calls, as one "
                    "sequence (pool %r)", name, calls, pool)
    ordered = selection.in_forward_order(recorder.forward_order)
    activations = {name: combine_windows(arrays[name], plan, pool=pool) for name in ordered}
    by_clip = {name: _clip_frames(kept_frames[name], plan, target.sample_rate) for name in ordered
               if name in kept_frames}
    return activations, logits.result(plan), by_clip


def bucket_lengths(lengths: np.ndarray, bucket: int) -> np.ndarray:
    """`lengths` (samples) rounded up to whole multiples of `bucket` samples, shape as `lengths`."""
    if bucket < 1:
        raise AudioDissectError(f"the length bucket must hold at least one sample, got {bucket}",
                                hint="set record.length_bucket to a positive number of seconds, or None")
    lengths = np.asarray(lengths, dtype=np.int64)
    return -(-lengths // bucket) * bucket


def _assemble_frames(per_piece: Sequence[np.ndarray], plan: Windows, fed: np.ndarray, timing: FrameTiming | None,
                     sample_rate: int) -> FrameActivations:
    """Each piece's frames with spans (seconds from the piece's start), padding-only frames dropped."""
    counts = np.array([len(f) for f in per_piece], dtype=np.int64)
    spans = []
    for count, length in zip(counts, fed):
        spans.append(timing.spans(int(count)) if timing is not None
                     else uniform_spans(int(count), int(length), sample_rate))
    spans_all = np.concatenate(spans) if spans else np.zeros((0, 2))
    piece_of_frame = np.repeat(np.arange(len(counts)), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    true_end = (plan.lengths / sample_rate)[piece_of_frame]
    keep = (spans_all[:, 0] < true_end) | (np.arange(len(spans_all)) == first[piece_of_frame])
    values = np.concatenate(per_piece) if len(per_piece) else np.zeros((0, 0), np.float32)
    kept_counts = np.bincount(piece_of_frame[keep], minlength=len(counts))
    return FrameActivations(values=values[keep].astype(np.float32, copy=False),
                            offsets=np.concatenate([[0], np.cumsum(kept_counts)]),
                            spans=spans_all[keep].astype(np.float64))


def _clip_frames(pieces: FrameActivations, plan: Windows, sample_rate: int) -> FrameActivations:
    """Frames of the pieces joined per clip, each window's spans moved to where it starts in its clip."""
    if plan.whole:
        return pieces
    shift = (plan.start / sample_rate)[np.repeat(np.arange(len(plan.clip)), pieces.counts)]
    spans = (pieces.spans + shift[:, None]).astype(np.float64)
    bounds = np.concatenate([plan.first, [len(plan.clip)]])
    return FrameActivations(values=pieces.values, offsets=pieces.offsets[bounds], spans=spans)


def _window_samples(target: Target, window_seconds: float | None) -> int | None:
    if window_seconds is None:
        return None
    window = int(round(float(window_seconds) * target.sample_rate))
    if window < max(1, target.min_samples or 0):
        raise AudioDissectError(f"window_seconds={window_seconds} is shorter than the model's shortest input "
                                f"({(target.min_samples or 1) / target.sample_rate:.3g} s)",
                                hint="choose a longer window, or None to record whole clips")
    return window


def _describe(rows: np.ndarray, plan: Windows, names: Sequence[str], sample_rate: int) -> str:
    parts = []
    for row in rows[:8]:
        clip = int(plan.clip[row])
        start, stop = int(plan.start[row]), int(plan.stop[row])
        whole = plan.first[clip] == row and (clip + 1 == len(plan.first) or plan.first[clip + 1] == row + 1)
        span = f"{(stop - start) / sample_rate:.3g} s" if whole else \
            f"{start / sample_rate:.3g}-{stop / sample_rate:.3g} s"
        parts.append(f"{names[clip]} ({span})")
    more = f" and {len(rows) - 8} more" if len(rows) > 8 else ""
    return ", ".join(parts) + more


def _forward(target: Target, batch: list[np.ndarray], *, about) -> object:
    """Preprocess and run one batch; a failure becomes an error naming the batch's clips."""
    try:
        inputs = move_to(target.preprocess(pad_to(batch, target.min_samples)), target.device)
        return target.forward(target.module, inputs)
    except Exception as exc:
        text = exc.message if isinstance(exc, AudioDissectError) else str(exc)  # its hint is given once, below
        first = (text.strip().splitlines() or [type(exc).__name__])[0]
        hint = getattr(exc, "hint", None) or (
            "if these clips are too short for the model, drop them from the probing set, or declare the "
            "target's min_samples (e.g. from_module(..., min_samples=...)) to zero-pad them to it")
        raise AudioDissectError(f"the model failed on clips {about()}: {first}", hint=hint) from exc


class _Logits:
    """Collects per-window logits (P, K), or notes that the forward's output is not clip logits."""

    def __init__(self, n_rows: int, *, where: str = "the model", classes: Sequence[str] | None = None):
        self.n_rows = n_rows
        self.where = where
        self.classes = list(classes) if classes else None
        self.values: np.ndarray | None = None
        self.present: bool | None = None

    def add(self, rows: np.ndarray, out: object, layout: Layout | None) -> None:
        found = _as_logits(out, len(rows), layout)
        if found is None and out is not None and self.present is None:  # said once, at the first batch
            log.warning("the forward of %r returned %s with no clip logits in it: the run records no logits "
                        "(pruning and the last-layer table need them); %s", self.where, describe_output(out),
                        LOGITS_HINT)
        if self.present is not None and self.present != (found is not None):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise AudioDissectError(f"the forward's output ({shape}) is clip logits in some batches and not "
                                    "in others", hint="declare the target's output_layout (e.g. \"(BT)C\"), "
                                                      "or have forward return None for a model without logits")
        self.present = found is not None
        if found is None:
            return
        if self.values is None:
            if self.classes is not None and found.shape[1] != len(self.classes):
                raise AudioDissectError(
                    f"the forward of {self.where!r} gives {found.shape[1]} values per clip, but the model has "
                    f"{len(self.classes)} class names ({', '.join(map(repr, self.classes[:3]))}"
                    f"{', ...' if len(self.classes) > 3 else ''}): its output is not one logit per class",
                    hint="class_names must name every output logit, in order; if the output is an embedding (or "
                         "another layer's output), have forward return the class logits, or leave class_names out")
            self.values = np.zeros((self.n_rows, found.shape[1]), dtype=np.float32)
        elif self.values.shape[1] != found.shape[1]:
            raise AudioDissectError(f"the forward gave {found.shape[1]} logits per clip in one batch and "
                                    f"{self.values.shape[1]} in another",
                                    hint="declare the target's output_layout so the logits pool to a fixed size")
        self.values[rows] = found

    def result(self, plan: Windows) -> np.ndarray:
        if self.values is None:
            return np.zeros((len(plan.first), 0), dtype=np.float32)
        return combine_windows(self.values, plan, pool="mean")


def _as_logits(out: object, n_clips: int, layout: Layout | None) -> np.ndarray | None:
    """(B, K) float32 logits from a forward output, or None when it is not clip logits."""
    if layout is not None:
        if not isinstance(out, torch.Tensor):
            raise AudioDissectError(f"the target declares output_layout {layout.text!r} but its forward "
                                    f"returned {type(out).__name__}", hint="return a tensor from forward")
        return pool_output(out.detach(), layout, n_clips=n_clips, pool="mean", layer="the output") \
            .float().cpu().numpy()
    found = find_logits(out, n_clips)
    return None if found is None else found.detach().float().cpu().numpy().reshape(n_clips, -1)


def module_fingerprint(module: torch.nn.Module) -> str:
    """Digest of a module's parameters and buffers (names, shapes and values)."""
    h = hashlib.sha256()
    for name, tensor in list(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                 if tensor.numel() else b"")
    return h.hexdigest()[:16]
