"""The captioner protocol, the clip record it reads, and a resumable caching runner."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..cache import read_json, write_json
from ..errors import AudioDissectError
from ..progress import ProgressHook, track

log = logging.getLogger("audiodissect")


@dataclasses.dataclass(frozen=True, eq=False)
class ClipAudio:
    """One clip as a captioner sees it.

    Attributes
    ----------
    id : str
        The clip's id in the probing set.
    audio : np.ndarray, shape (T,)
        Mono float32 samples in [-1, 1].
    sample_rate : int
    path : str or None
        The source file, when there is one.
    """

    id: str
    audio: np.ndarray
    sample_rate: int
    path: str | None = None


class ProbeClip:
    """A clip of a probing set whose audio is read when accessed (and not kept).

    Has the attributes of :class:`ClipAudio`; build many with :func:`probe_clips`.
    """

    def __init__(self, probe: Any, index: int, *, sample_rate: int):
        info = probe[index]
        self.id: str = info.id
        self.path: str | None = info.path
        self.sample_rate = int(sample_rate)
        self._probe = probe
        self._index = index

    @property
    def audio(self) -> np.ndarray:
        """Mono float32 samples at :attr:`sample_rate`, shape (T,)."""
        return self._probe.audio(self._index, sample_rate=self.sample_rate)


def probe_clips(probe: Any, *, sample_rate: int = 16000, indices: Sequence[int] | None = None) -> list[ProbeClip]:
    """Clips of a :class:`~audiodissect.probes.base.ProbeSet` for a captioner, audio read lazily."""
    indices = range(len(probe)) if indices is None else indices
    return [ProbeClip(probe, int(i), sample_rate=sample_rate) for i in indices]


@runtime_checkable
class Captioner(Protocol):
    """Writes one natural-language description per clip.

    ``name`` identifies the captioner and its settings (it keys the cache of
    :func:`describe_cached`); ``describe(clips)`` returns one description per
    clip, in order. A clip is anything with ``id``, ``path``, ``audio`` and
    ``sample_rate`` attributes (:class:`ClipAudio`).
    """

    name: str

    def describe(self, clips: Sequence[ClipAudio]) -> list[str]: ...


class Descriptions(list):
    """The descriptions returned by :func:`describe_cached` (a list of str, in clip order).

    Attributes
    ----------
    n_cached : int
        Clips whose description came from the file.
    n_described : int
        Clips the captioner described in this call.
    """

    def __init__(self, items: Sequence[str], *, n_cached: int, n_described: int):
        super().__init__(items)
        self.n_cached = n_cached
        self.n_described = n_described


def read_descriptions(path: str | os.PathLike) -> dict[str, Any]:
    """The content of a description cache: ``{"captioner": name, "descriptions": {id: text}}``."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("descriptions"), dict):
        raise AudioDissectError(f"{path} is not a description file",
                                hint="expected {\"captioner\": ..., \"descriptions\": {clip id: text}}")
    return data


def describe_cached(captioner: Captioner, clips: Sequence[Any], path: str | os.PathLike, *,
                    batch_size: int = 16, hook: ProgressHook | None = None) -> Descriptions:
    """Describe `clips`, keeping the descriptions per clip id in the JSON file `path`.

    Only clips missing from the file are described, `batch_size` at a time;
    the file is rewritten atomically after every batch, so an interrupted run
    resumes where it stopped. A file written by a captioner of another
    ``name`` is ignored (and replaced).

    Returns
    -------
    Descriptions
        One description per clip, in order, with the counts ``n_cached`` and
        ``n_described``.
    """
    ids = [clip.id for clip in clips]
    if len(set(ids)) != len(ids):
        raise AudioDissectError("clip ids must be unique to cache descriptions")
    path = Path(path)
    stored: dict[str, str] = {}
    if path.exists():
        data = read_descriptions(path)
        if data.get("captioner") == captioner.name:
            stored = {str(k): str(v) for k, v in data["descriptions"].items()}
        else:
            log.info("%s was written by captioner %r, not %r: describing again",
                     path, data.get("captioner"), captioner.name)
    todo = [i for i, clip_id in enumerate(ids) if clip_id not in stored]
    n_cached = len(ids) - len(todo)
    batches = [todo[s:s + max(1, batch_size)] for s in range(0, len(todo), max(1, batch_size))]
    for batch in track(batches, "describe", hook=hook, artefact=captioner.name):
        texts = captioner.describe([clips[i] for i in batch])
        if len(texts) != len(batch):
            raise RuntimeError(f"captioner {captioner.name} returned {len(texts)} descriptions "
                               f"for {len(batch)} clips")
        stored.update({ids[i]: str(text) for i, text in zip(batch, texts)})
        write_json(path, {"captioner": captioner.name, "descriptions": stored})
    if not todo and not path.exists():
        write_json(path, {"captioner": captioner.name, "descriptions": stored})
    log.info("descriptions: %d from %s, %d new from %s", n_cached, path, len(todo), captioner.name)
    return Descriptions([stored[clip_id] for clip_id in ids], n_cached=n_cached, n_described=len(todo))
