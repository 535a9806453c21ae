"""Where :func:`~audiodissect.captioners.base.describe_cached` keeps its descriptions while it runs.

The descriptions of a cache file ``descriptions.json`` live in that file plus
checkpoint shards in ``descriptions.json.parts/`` (one small JSON file per
checkpoint, written atomically). Finished work is thus on disk within one
checkpoint even when the process is killed; a finished (or interrupted) run
merges the shards into the file and removes them. Temporary files that a
killed run left behind are removed the next time.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from ..cache import read_json, write_json

log = logging.getLogger("audiodissect")


class DescriptionStore:
    """The descriptions one captioner wrote for one cache file, with checkpoint shards.

    Parameters
    ----------
    path : path-like
        The merged file, ``{"captioner": name, "descriptions": {clip id: text}}``.
    captioner : str
        The captioner's ``name``; files and shards of other captioners are ignored.
    """

    def __init__(self, path: str | os.PathLike, captioner: str):
        self.path = Path(path)
        self.captioner = captioner
        self.shards = self.path.with_name(self.path.name + ".parts")

    def remove_temporary(self) -> int:
        """Delete temporary files left by an atomic write that was killed; return how many."""
        leftovers = list(self.path.parent.glob(f".{self.path.name}.*.tmp"))
        if self.shards.is_dir():
            leftovers += list(self.shards.glob(".*.tmp"))
        for tmp in leftovers:
            tmp.unlink(missing_ok=True)
        if leftovers:
            log.info("removed %d temporary file(s) of an interrupted describe run beside %s",
                     len(leftovers), self.path)
        return len(leftovers)

    def _read(self, path: Path) -> dict[str, str] | None:
        try:
            data = read_json(path)
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable description file %s: %s", path, exc)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("descriptions"), dict):
            log.warning("ignoring %s: not a description file", path)
            return None
        if data.get("captioner") != self.captioner:
            log.info("%s was written by captioner %r, not %r: describing again",
                     path, data.get("captioner"), self.captioner)
            return None
        return {str(k): str(v) for k, v in data["descriptions"].items() if isinstance(v, str) and v.strip()}

    def load(self) -> dict[str, str]:
        """Every description kept so far: the merged file, then the shards in the order written."""
        stored: dict[str, str] = {}
        if self.path.exists():
            stored.update(self._read(self.path) or {})
        for shard in self.shard_files():
            stored.update(self._read(shard) or {})
        return stored

    def shard_files(self) -> list[Path]:
        """The checkpoint shards, oldest first."""
        return sorted(self.shards.glob("*.json")) if self.shards.is_dir() else []

    def checkpoint(self, new: Mapping[str, str]) -> Path | None:
        """Write `new` descriptions to a fresh shard (atomically); nothing when empty."""
        if not new:
            return None
        shard = self.shards / f"{time.time_ns():020d}-{os.getpid()}.json"
        write_json(shard, {"captioner": self.captioner, "descriptions": dict(new)})
        return shard

    def merge(self, stored: Mapping[str, str]) -> None:
        """Write `stored` to the merged file (atomically), then remove the shards."""
        write_json(self.path, {"captioner": self.captioner, "descriptions": dict(stored)})
        if self.shards.is_dir():
            shutil.rmtree(self.shards, ignore_errors=True)
