"""An on-disk answer cache in front of any LLM backend (sqlite3)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..progress import ProgressHook, silent, track
from .base import LLM, check_params

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    prompt TEXT NOT NULL,
    params TEXT NOT NULL,
    answer TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def answer_key(backend: str, prompt: str, params: dict[str, Any]) -> str:
    """The cache key of one request: a digest of the backend name, the prompt and the parameters."""
    text = json.dumps([backend, prompt, {k: params.get(k) for k in sorted(params)}],
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedLLM:
    """Answers from a sqlite file when the same request was answered before; else asks `llm`.

    The key is the backend's ``name`` (which names the model), the prompt and
    all generation parameters (system prompt, temperature, max_tokens, seed).
    Sampling with temperature > 0 and no seed is cached too: the first answer
    is kept, which makes repeated runs reproducible.

    Within one :meth:`complete` call identical prompts are sent once. New
    prompts go to the backend in batches of `batch_size`, and each batch's
    answers are committed as soon as it returns, so an interrupted run loses
    at most one batch.

    Parameters
    ----------
    llm : LLM
        The backend to ask on a miss.
    path : str or path-like
        The sqlite file (created with its folder when missing).
    batch_size : int
        Prompts sent to the backend at a time.
    hook : progress hook, optional
        Reports ``("llm", name, completed=, total=)`` over the batches of new prompts.

    Attributes
    ----------
    calls : int
        Prompts actually sent to the backend so far.
    hits : int
        Prompts answered without a new backend request (from the file, or a
        repeat of a prompt already sent in the same call).
    """

    def __init__(self, llm: LLM, path: str | os.PathLike, *, batch_size: int = 32,
                 hook: ProgressHook | None = None):
        self.llm = llm
        self.name = llm.name
        self.path = Path(path)
        self.batch_size = max(1, int(batch_size))
        self.hook = hook or silent
        self.calls = 0
        self.hits = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)
            db.commit()

    def _connect(self) -> contextlib.closing[sqlite3.Connection]:
        return contextlib.closing(sqlite3.connect(self.path, timeout=60.0))

    def _lookup(self, db: sqlite3.Connection, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        keys = list(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(db.execute(f"SELECT key, answer FROM answers WHERE key IN ({marks})", chunk))
        return found

    def complete(self, prompts: Sequence[str], **params: Any) -> list[str]:
        """One answer per prompt, from the cache where possible; see :class:`~audiodissect.llm.base.LLM`."""
        prompts = list(prompts)
        p = check_params(params)
        given = {k: v for k, v in params.items()}
        keys = [answer_key(self.name, prompt, p) for prompt in prompts]
        unique = dict(zip(keys, prompts))  # first prompt of each key, in order
        with self._lock, self._connect() as db:
            answers = self._lookup(db, unique)
            missing = [key for key in unique if key not in answers]
            batches = [missing[i:i + self.batch_size] for i in range(0, len(missing), self.batch_size)]
            params_json = json.dumps(p, sort_keys=True)
            for batch in track(batches, "llm", hook=self.hook, artefact=self.name):
                replies = self.llm.complete([unique[key] for key in batch], **given)
                if len(replies) != len(batch):
                    raise RuntimeError(f"{self.name} returned {len(replies)} answers for {len(batch)} prompts")
                now = time.time()
                db.executemany(
                    "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                    [(key, self.name, unique[key], params_json, str(reply), now)
                     for key, reply in zip(batch, replies)])
                db.commit()
                answers.update(zip(batch, map(str, replies)))
                self.calls += len(batch)
            self.hits += len(prompts) - len(missing)
        return [answers[key] for key in keys]

    def __len__(self) -> int:
        """Number of answers stored in the file."""
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def __repr__(self) -> str:
        return f"CachedLLM({self.llm!r}, path={str(self.path)!r})"
