"""The captioner protocol, the clip record it reads, and a resumable caching runner."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable


from ..cache import read_json
from ..errors import AudioDissectError
from ..llm.answers import Completed
from ..progress import ProgressHook, default_hook
from ..probes.clip_audio import ClipAudio
from .checkpoint import DescriptionStore

log = logging.getLogger("audiodissect")


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

    A clip the captioner failed on (its answers stayed empty or unusable)
    holds ``""`` and is listed in ``failed``; it is not cached, so the next
    run describes it again.

    Attributes
    ----------
    n_cached : int
        Clips whose description came from the cache.
    n_described : int
        Clips the captioner described in this call (failures included).
    failed : dict of str to str
        Clip id to the reason, for the clips that got no description.
    """

    def __init__(self, items: Sequence[str], *, n_cached: int, n_described: int,
                 failed: dict[str, str] | None = None):
        super().__init__(items)
        self.n_cached = n_cached
        self.n_described = n_described
        self.failed: dict[str, str] = dict(failed or {})

    @property
    def n_failed(self) -> int:
        """Number of clips without a description."""
        return len(self.failed)


def read_descriptions(path: str | os.PathLike) -> dict[str, Any]:
    """The content of a description cache: ``{"captioner": name, "descriptions": {id: text}}``."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("descriptions"), dict):
        raise AudioDissectError(f"{path} is not a description file",
                                hint="expected {\"captioner\": ..., \"descriptions\": {clip id: text}}")
    return data


def _described(captioner: Captioner, clips: Sequence[Any], todo: list[int],
               batch_size: int) -> Iterator[Completed]:
    """Descriptions of ``clips[i] for i in todo`` as they finish (``index`` into `todo`), with commit points.

    A captioner with ``describe_iter`` streams; any other is asked `batch_size`
    clips at a time. A commit point is ``Completed(-1, None)``.
    """
    if hasattr(captioner, "describe_iter"):
        yield from captioner.describe_iter([clips[i] for i in todo])  # type: ignore[attr-defined]
        return
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        texts = captioner.describe([clips[i] for i in batch])
        if len(texts) != len(batch):
            raise RuntimeError(f"captioner {captioner.name} returned {len(texts)} descriptions "
                               f"for {len(batch)} clips")
        errors = getattr(texts, "errors", {})
        for offset, text in enumerate(texts):
            yield Completed(start + offset, None if text is None else str(text), errors.get(offset))
        yield Completed(-1, None)


def open_store(captioner: Captioner, clips: Sequence[Any], path: str | os.PathLike
               ) -> tuple[list[str], DescriptionStore, dict[str, str], list[int]]:
    """The description store at `path` for `captioner`, cleared of stray temporary files, and what it lacks.

    Returns
    -------
    ids : list of str
        The clips' ids, in order (an error when two are the same).
    store : DescriptionStore
    stored : dict of clip id to description
        What the store holds already.
    todo : list of int
        Positions of the clips it has no description for.
    """
    ids = [clip.id for clip in clips]
    if len(set(ids)) != len(ids):
        raise AudioDissectError("clip ids must be unique to cache descriptions")
    store = DescriptionStore(path, captioner.name)
    store.remove_temporary()
    stored = store.load()
    return ids, store, stored, [i for i, clip_id in enumerate(ids) if clip_id not in stored]


def describe_cached(captioner: Captioner, clips: Sequence[Any], path: str | os.PathLike, *,
                    batch_size: int = 16, hook: ProgressHook | None = None) -> Descriptions:
    """Describe `clips`, keeping the descriptions per clip id in the JSON file `path`.

    Only clips missing from the cache are described. Finished descriptions
    are checkpointed as they come, every `batch_size` clips, into shards in
    ``<path>.parts/`` (atomic writes), so even a killed run keeps its finished
    work and the next run describes only what is missing. When the call ends
    (done, failed or interrupted with Ctrl-C) the shards are merged into
    `path`. Temporary files of a killed run are removed first. A file written
    by a captioner of another ``name`` is ignored (and replaced).

    A captioner with ``describe_iter`` (the HTTP captioner) is sent all
    missing clips at once, its own concurrency bounding the requests; any
    other gets `batch_size` clips per :meth:`~Captioner.describe` call.
    Empty or missing descriptions (``None`` from the HTTP captioner after its
    retries, or ``""``) are failures: never cached, returned as ``""`` and
    listed in ``failed``.

    Parameters
    ----------
    captioner : Captioner
    clips : sequence of clips, length N
        Objects with ``id``, ``path``, ``audio`` and ``sample_rate``; unique ids.
    path : path-like
        The cache file.
    batch_size : int
        Clips per checkpoint (and per ``describe`` call).
    hook : progress hook, optional
        Told ``("describe", name, completed=, total=)`` over the clips described.

    Returns
    -------
    Descriptions
        N descriptions, in clip order, with ``n_cached``, ``n_described`` and ``failed``.
    """
    ids, store, stored, todo = open_store(captioner, clips, path)
    batch_size = max(1, int(batch_size))
    n_cached = len(ids) - len(todo)
    failed: dict[str, str] = {}
    pending: dict[str, str] = {}
    hook = hook or default_hook()
    hook("describe", captioner.name, completed=0, total=len(todo))
    done = 0
    try:
        for item in _described(captioner, clips, todo, batch_size):
            if item.index >= 0:
                clip_id = ids[todo[item.index]]
                done += 1
                if item.text is not None and item.text.strip():
                    pending[clip_id] = item.text
                else:
                    failed[clip_id] = item.error or "the description was empty"
                hook("describe", captioner.name, completed=done, total=len(todo))
            if pending and (item.index < 0 or len(pending) >= batch_size):
                store.checkpoint(pending)
                stored.update(pending)
                pending.clear()
    finally:
        store.checkpoint(pending)
        stored.update(pending)
        if todo or not store.path.exists() or store.shard_files():
            store.merge(stored)
    if failed:
        log.warning("%d of %d clips got no description from %s (described as empty; the next run asks again), "
                    "e.g. %s: %s", len(failed), len(todo), captioner.name, *next(iter(failed.items())))
    log.info("descriptions: %d from %s, %d new from %s", n_cached, path, len(todo) - len(failed), captioner.name)
    return Descriptions([stored.get(clip_id, "") for clip_id in ids], n_cached=n_cached, n_described=len(todo),
                        failed=failed)
