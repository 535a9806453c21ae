"""Step 0: run the target over the probing set and record every chosen unit."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Sequence

import numpy as np
import torch

from .cache import hash_key, load_npy, save_npy
from .hooks import recording
from .layers import LayerFilter, resolve_layers
from .probes.base import ProbeSet
from .progress import ProgressHook, default_hook
from .rundir import RunDir
from .targets.base import Target, move_to


def length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Split positions into batches of similar length (sorted by length, stable).

    Parameters
    ----------
    lengths : sequence of int, shape (n,)
    batch_size : int

    Returns
    -------
    list of np.ndarray
        Positions into `lengths`; together they cover each position once.
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def record_activations(target: Target, probe: ProbeSet, layers: Sequence[str], *,
                       pool: str = "mean", batch_size: int = 32,
                       indices: Sequence[int] | None = None,
                       hook: ProgressHook | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Record pooled activations of `layers` and the logits for clips of `probe`.

    Reads the clips' audio (:func:`read_waveforms`), then records them
    (:func:`record_waveforms`).

    Parameters
    ----------
    target : Target
    probe : ProbeSet
    layers : sequence of str
        Exact module paths.
    pool : {"mean", "max", "first"}
    batch_size : int
    indices : sequence of int, optional
        Clip positions to record (a shard); all clips when None. Row i of the
        result belongs to clip ``indices[i]``.
    hook : ProgressHook, optional

    Returns
    -------
    activations : dict of str to np.ndarray, each (n, U_layer) float32
    logits : np.ndarray, shape (n, n_classes), float32
    """
    indices = np.arange(len(probe)) if indices is None else np.asarray(indices, dtype=np.int64)
    waves = read_waveforms(probe, indices, sample_rate=target.sample_rate)
    return record_waveforms(target, waves, layers, pool=pool, batch_size=batch_size, hook=hook)


def read_waveforms(probe: ProbeSet, indices: Sequence[int], *, sample_rate: int) -> list[np.ndarray]:
    """The audio of clips `indices` of `probe` at `sample_rate`: a list of (T_i,) float32 arrays."""
    return [probe.audio(int(index), sample_rate=sample_rate) for index in indices]


def record_waveforms(target: Target, waves: Sequence[np.ndarray], layers: Sequence[str], *,
                     pool: str = "mean", batch_size: int = 32,
                     hook: ProgressHook | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Record pooled activations of `layers` and the logits for waveforms already in memory.

    Clips are batched by similar length (:func:`length_batches`); each batch
    is preprocessed, run once with the recording hooks on, and its pooled
    outputs are written into preallocated (n, U) arrays.

    Parameters
    ----------
    target : Target
    waves : sequence of np.ndarray, each (T_i,) float32 at ``target.sample_rate``
    layers : sequence of str
        Exact module paths.
    pool : {"mean", "max", "first"}
    batch_size : int
    hook : ProgressHook, optional

    Returns
    -------
    activations : dict of str to np.ndarray, each (n, U_layer) float32
        Row i belongs to ``waves[i]``.
    logits : np.ndarray, shape (n, n_classes), float32
    """
    hook = hook or default_hook()
    n = len(waves)
    logits = None
    target.module.eval()
    done = 0
    hook("record", None, completed=0, total=n)
    with recording(target.module, layers, n_rows=n, pool=pool) as recorder, torch.inference_mode():
        for rows in length_batches([len(w) for w in waves], batch_size):
            inputs = move_to(target.preprocess([waves[int(r)] for r in rows]), target.device)
            recorder.rows = rows
            out = target.forward(target.module, inputs).float().cpu().numpy()
            if out.ndim != 2:
                out = out.reshape(out.shape[0], -1)
            if logits is None:
                logits = np.zeros((n, out.shape[1]), dtype=np.float32)
            logits[rows] = out
            done += len(rows)
            hook("record", None, completed=done, total=n)
    return recorder.arrays, (logits if logits is not None else np.zeros((0, 0), np.float32))


def module_fingerprint(module: torch.nn.Module) -> str:
    """Digest of a module's parameters and buffers (names, shapes and values)."""
    h = hashlib.sha256()
    for name, tensor in list(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                 if tensor.numel() else b"")
    return h.hexdigest()[:16]


def run_record(run: RunDir, target: Target, probe: ProbeSet, *, layers: LayerFilter,
               pool: str = "mean", batch_size: int = 32, shard_size: int = 512,
               hook: ProgressHook | None = None) -> dict:
    """Record activations into a run directory, resuming finished shards.

    Writes ``activations/<layer>.npy`` (N, U) float32 in clip order,
    ``activations/logits.npy`` (N, n_classes), ``clips.jsonl`` and the
    ``record`` section of the manifest. Returns that section. When the same
    inputs were recorded before, nothing is recomputed.
    """
    names = resolve_layers(target.module, layers)
    key = hash_key("record", target.name, module_fingerprint(target.module), probe.content_key(), names, pool)
    if run.stage_current("record", key):
        return run.manifest()["stages"]["record"]
    start = time.perf_counter()
    run.write_clips(probe)
    shard_dir = run.path / "activations" / "shards" / key
    n = len(probe)
    shards = [np.arange(s, min(s + shard_size, n)) for s in range(0, n, shard_size)]
    for number, shard in enumerate(shards):
        done_marker = shard_dir / f"{number:05d}.done"
        if done_marker.exists():
            continue
        arrays, logits = record_activations(target, probe, names, pool=pool, batch_size=batch_size,
                                            indices=shard, hook=hook)
        for name, array in arrays.items():
            save_npy(shard_dir / f"{number:05d}" / f"{name}.npy", array)
        save_npy(shard_dir / f"{number:05d}" / "logits.npy", logits)
        done_marker.write_text("")
    def merged(name: str) -> np.ndarray:
        return np.concatenate([load_npy(shard_dir / f"{i:05d}" / f"{name}.npy") for i in range(len(shards))])

    units = {}
    for name in names:
        array = merged(name)
        run.save_activations(name, array)
        units[name] = int(array.shape[1])
    run.save_logits(merged("logits"))
    section = {
        "key": key, "model": target.name, "probe": probe.spec, "pool": pool,
        "layers": units, "n_clips": n, "class_names": target.class_names,
        "sample_rate": target.sample_rate, "seconds": round(time.perf_counter() - start, 2),
        "skipped_clips": [vars(s) for s in probe.skipped],
    }
    run.finish_stage("record", key, section)
    shutil.rmtree(run.path / "activations" / "shards", ignore_errors=True)
    return section
