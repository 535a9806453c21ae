"""Describing clips on an executor's workers: shards of clips, one captioner per worker, checkpointed per shard.

:func:`describe_fanned_out` is :func:`~audiodissect.captioners.base.describe_cached`
for work spread over workers (:mod:`audiodissect.executor`): the clips
missing from the cache are cut into shards, each worker builds one captioner
(``setup``) and describes the shards it is handed, and writes each finished
shard as a checkpoint of the same :class:`~audiodissect.captioners.checkpoint.DescriptionStore`
before returning it. A shard described again (its worker died) writes the
same descriptions again, which the store merges per clip id, so nothing is
doubled; a killed run keeps every shard a worker finished.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import AudioDissectError
from ..executor import Executor, shared_state
from ..progress import ProgressHook, default_hook
from .base import Captioner, Descriptions, _described, open_store
from .checkpoint import DescriptionStore

log = logging.getLogger("audiodissect")


def describe_fanned_out(captioner: Captioner, clips: Sequence[Any], path: str | os.PathLike, *,
                        executor: Executor, build: Callable[[], Captioner] | None = None, batch_size: int = 16,
                        hook: ProgressHook | None = None) -> Descriptions:
    """Describe the `clips` missing from the cache file `path` on `executor`'s workers.

    Parameters
    ----------
    captioner : Captioner
        The captioner as built here; its ``name`` keys the cache.
    clips : sequence of clips, length N
        Objects with ``id``, ``path``, ``audio`` and ``sample_rate``; unique ids.
        They travel to every worker once (a :class:`~audiodissect.probes.clip_audio.ProbeClip`
        reads its audio there).
    path : path-like
        The cache file, as for :func:`~audiodissect.captioners.base.describe_cached`.
    executor : Executor
    build : callable, optional
        Builds the captioner of a worker elsewhere (e.g. from its spec, for
        captioners that cannot be pickled); it must have `captioner`'s
        ``name``. Default: a copy of `captioner` itself. In this process
        `captioner` itself describes the clips.
    batch_size : int
        Clips per shard (one task, one checkpoint).
    hook : progress hook, optional
        Told ``("describe", name, completed=, total=)`` over the clips described.

    Returns
    -------
    Descriptions
        N descriptions in clip order, with ``n_cached``, ``n_described`` and ``failed``,
        as :func:`~audiodissect.captioners.base.describe_cached` returns them.
    """
    ids, store, stored, todo = open_store(captioner, clips, path)
    batch_size = max(1, int(batch_size))
    shards = [todo[start:start + batch_size] for start in range(0, len(todo), batch_size)]
    failed: dict[str, str] = {}
    hook = hook or default_hook()
    hook("describe", captioner.name, completed=0, total=len(todo))
    clips = list(clips)
    setup = executor.state((captioner, clips), ship=lambda state: functools.partial(
        caption_replica, build or shared_state(state[0]), state[1]))
    done = 0
    try:
        for shard, results in zip(shards, executor.map(CaptionShard(store.path, captioner.name), shards,
                                                       setup=setup)):
            for i, (text, error) in zip(shard, results):
                if text is not None and text.strip():
                    stored[ids[i]] = text
                else:
                    failed[ids[i]] = error or "the description was empty"
            done += len(shard)
            hook("describe", captioner.name, completed=done, total=len(todo))
    finally:
        stored.update(store.load())  # shards finished by workers whose answers never reached this process too
        if todo or not store.path.exists() or store.shard_files():
            store.merge(stored)
    if failed:
        log.warning("%d of %d clips got no description from %s (described as empty; the next run asks again), "
                    "e.g. %s: %s", len(failed), len(todo), captioner.name, *next(iter(failed.items())))
    log.info("descriptions: %d from %s, %d new from %s on %s", len(ids) - len(todo), path,
             len(todo) - len(failed), captioner.name, executor.describe())
    return Descriptions([stored.get(clip_id, "") for clip_id in ids], n_cached=len(ids) - len(todo),
                        n_described=len(todo), failed=failed)


def caption_replica(build: Callable[[], Captioner], clips: list[Any]) -> tuple[Captioner, list[Any]]:
    """A worker's state for :class:`CaptionShard`: its captioner (built here, once) and every clip."""
    return build(), clips


@dataclasses.dataclass(frozen=True)
class CaptionShard:
    """A worker's task: describe one shard of clips and checkpoint its descriptions.

    Called as ``caption((captioner, clips), indices)``; returns one
    ``(text, error)`` pair per index (text None or empty: a failure, never
    checkpointed). The usable descriptions are written as one checkpoint of
    the store at `path` (atomically) before the call returns.

    Parameters
    ----------
    path : Path
        The cache file whose store the checkpoint joins.
    name : str
        The captioner name of that store; a worker whose captioner has another
        name refuses the shard.
    """

    path: Path
    name: str

    def __call__(self, state: tuple[Captioner, list[Any]], indices: list[int]
                 ) -> list[tuple[str | None, str | None]]:
        captioner, clips = state
        if captioner.name != self.name:
            raise AudioDissectError(f"a worker built the captioner {captioner.name!r}, not {self.name!r}",
                                    hint="every worker must describe with the same captioner and reference clips")
        results: list[tuple[str | None, str | None]] = [(None, "no description")] * len(indices)
        for item in _described(captioner, clips, list(indices), len(indices)):
            if item.index >= 0:
                results[item.index] = (item.text, item.error)
        DescriptionStore(self.path, self.name).checkpoint(
            {clips[i].id: text for i, (text, _) in zip(indices, results) if text is not None and text.strip()})
        return results

