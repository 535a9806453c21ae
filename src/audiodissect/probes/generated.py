"""The user cache of a generated probing set (the soundbank, the scenes): read it, or generate and store it once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import load_npy, read_json, read_jsonl, save_npy, write_json, write_jsonl

logger = logging.getLogger("audiodissect")
setup_log = logging.getLogger("audiodissect.setup")  # shown by the CLI without --verbose

#: What :func:`cached_clips`'s `generate` returns: int16 audio (N, T), one record per clip (``id``,
#: ``label``, ``metadata``), facts for ``meta.json``, and a writer of any further files into the folder.
Generated = tuple[np.ndarray, list[dict[str, Any]], dict[str, Any], Callable[[Path], None] | None]


def cached_clips(folder: Path, generate: Callable[[], Generated], *, what: str,
                 base_metadata: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], np.ndarray]:
    """A generated set's metadata, clip records and audio, from `folder` or generated into it.

    A damaged cache (unreadable files, audio and clip list of different lengths, audio not int16) is
    generated again with a warning. Each file is written atomically and ``meta.json`` last, so an
    interrupted generation is never read as complete.

    Parameters
    ----------
    folder : Path
        The set's cache folder (its name a hash of the settings and the generators' versions).
    generate : callable
        Makes the set (see :data:`Generated`); called only when the cache is missing or damaged.
    what : str
        The set's name in log lines ("soundbank", "scenes").
    base_metadata : dict
        Facts stored in ``meta.json`` before `generate`'s own (format version, settings, versions,
        sample rate).

    Returns
    -------
    metadata : dict
    records : list of dict, length N
    waveforms : np.memmap, shape (N, T), int16
    """
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        try:
            metadata = read_json(meta_path)
            records = read_jsonl(folder / "clips.jsonl")
            waveforms = load_npy(folder / "audio.npy", mmap=True)
            if waveforms.shape[0] != len(records) or waveforms.dtype != np.int16:
                raise ValueError("audio and clip list disagree")
            return metadata, records, waveforms
        except (OSError, ValueError) as exc:
            logger.warning("%s cache in %s is damaged (%s); generating it again", what, folder, exc)
    setup_log.info("generating the %s (first use; cached in %s)", what, folder)
    start = time.perf_counter()
    audio, records, facts, write_more = generate()
    metadata = {**base_metadata, "n_clips": len(records), **facts,
                "generation_seconds": round(time.perf_counter() - start, 3)}
    save_npy(folder / "audio.npy", audio)
    write_jsonl(folder / "clips.jsonl", records)
    if write_more is not None:
        write_more(folder)
    write_json(meta_path, metadata)
    return metadata, records, load_npy(folder / "audio.npy", mmap=True)
