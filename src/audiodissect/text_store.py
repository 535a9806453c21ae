"""Values computed from a text, kept on disk per (model, text): each text is worked on once per machine.

:class:`TextStore` is one sqlite file of the user cache
(:func:`audiodissect.cache.cache_dir`) that maps a model key and a text to
one value (bytes or str). Its subclasses say what the value is: a text
embedding (:class:`audiodissect.text_embedder.EmbeddingStore`) or a text's
tagged words (:class:`audiodissect.summarize.tagging.TagStore`). The model
key must name everything the value depends on (weights, library versions,
the code that turns a model's output into the value); :func:`versions` and
:func:`folder_fingerprint` help build it.

A store that cannot be read or written is left alone: its values are then
computed, as without it. Each subclass has an environment variable that turns
it off (``0``, ``false``, ``no`` or ``off``).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger("audiodissect")

#: Texts per ``SELECT ... IN (...)`` query (below sqlite's limit on bound parameters).
_CHUNK = 500


class TextStore:
    """A sqlite table of values keyed by (model, text), in the user cache.

    Subclasses set :attr:`file` (the file name under the user cache),
    :attr:`env` (the variable that turns the store off), :attr:`table` and
    :attr:`column` (the value's column).

    Parameters
    ----------
    path : path-like, optional
        The sqlite file (default: :attr:`file` in the user cache, looked up at each use).
    """

    file: str
    env: str
    table: str
    column: str

    def __init__(self, path: str | os.PathLike | None = None):
        self._path = None if path is None else Path(path)

    @property
    def path(self) -> Path:
        from .cache import cache_dir

        return self._path if self._path is not None else cache_dir() / self.file

    @classmethod
    def enabled(cls) -> bool:
        """False when the store's environment variable turns it off."""
        return os.environ.get(cls.env, "1").strip() not in ("0", "false", "no", "off")

    def _connect(self) -> contextlib.closing[sqlite3.Connection]:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=60.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (model TEXT NOT NULL, text TEXT NOT NULL, "
                   f"{self.column} BLOB NOT NULL, PRIMARY KEY (model, text))")
        return contextlib.closing(db)

    def get_values(self, model: str, texts: Sequence[str]) -> dict[str, bytes | str]:
        """The stored values of those `texts` that have one, ``{text: value}``."""
        if not texts or not self.enabled():
            return {}
        found: dict[str, bytes | str] = {}
        try:
            with self._connect() as db:
                for start in range(0, len(texts), _CHUNK):
                    chunk = list(texts[start:start + _CHUNK])
                    marks = ",".join("?" * len(chunk))
                    found.update(db.execute(f"SELECT text, {self.column} FROM {self.table} "
                                            f"WHERE model = ? AND text IN ({marks})", [model, *chunk]))
        except (OSError, sqlite3.Error) as exc:
            log.debug("%s %s not read: %s", type(self).__name__, self.path, exc)
            return {}
        return found

    def any_value(self, model: str) -> bytes | str | None:
        """One stored value of `model` (None when it has none, or the store cannot be read)."""
        if not self.enabled():
            return None
        try:
            with self._connect() as db:
                row = db.execute(f"SELECT {self.column} FROM {self.table} WHERE model = ? LIMIT 1",
                                 [model]).fetchone()
        except (OSError, sqlite3.Error):
            return None
        return None if row is None else row[0]

    def put_values(self, model: str, values: Mapping[str, bytes | str]) -> None:
        """Store `values` (``{text: value}``) for `model`, in one commit."""
        if not values or not self.enabled():
            return
        try:
            with self._connect() as db:
                db.executemany(f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?, ?)",
                               [(model, text, value) for text, value in values.items()])
                db.commit()
        except (OSError, sqlite3.Error) as exc:
            log.debug("%s %s not written: %s", type(self).__name__, self.path, exc)


def versions(*packages: str) -> list[str]:
    """``"name==version"`` of each installed distribution (``"name==?"`` for one that is not installed)."""
    out = []
    for name in packages:
        try:
            out.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{name}==?")
    return out


def folder_fingerprint(path: Path) -> list[str]:
    """A model folder's (or file's) files with their sizes and modification times (new weights change them)."""
    if path.is_file():
        st = path.stat()
        return [f"{path.name}:{st.st_size}:{st.st_mtime_ns}"]
    out = []
    for root, _, files in os.walk(path):
        for name in sorted(files):
            st = os.stat(os.path.join(root, name))
            out.append(f"{os.path.relpath(os.path.join(root, name), path)}:{st.st_size}:{st.st_mtime_ns}")
    return sorted(out)
