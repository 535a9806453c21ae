"""An on-disk answer cache in front of any LLM backend (sqlite3)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from json.encoder import encode_basestring  # the strings of json.dumps(..., ensure_ascii=False)
from pathlib import Path
from typing import Any

from ..errors import AudioDissectError, write_error
from ..progress import ProgressHook, silent
from .answers import Answers, Completed, Failure, usable
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
    return answer_keys(backend, [prompt], params)[0]


def answer_keys(backend: str, prompts: Sequence[str], params: dict[str, Any]) -> list[str]:
    """:func:`answer_key` of each of `prompts` with one backend and parameters: the SHA-256 of
    ``json.dumps([backend, prompt, params by name], sort_keys=True, ensure_ascii=False)``, with the JSON of the
    backend and the parameters written once."""
    head = f"[{encode_basestring(backend)}, "  # json.dumps of the list, item by item
    tail = f", {json.dumps({k: params.get(k) for k in sorted(params)}, sort_keys=True, ensure_ascii=False)}]"
    return [hashlib.sha256(f"{head}{encode_basestring(prompt)}{tail}".encode("utf-8")).hexdigest()
            for prompt in prompts]


class CachedLLM:
    """Answers from a sqlite file when the same request was answered before; else asks `llm`.

    The key is the backend's ``name`` (which names the model), the prompt and
    all generation parameters (system prompt, temperature, max_tokens, seed).
    Sampling with temperature > 0 and no seed is cached too: the first answer
    is kept, which makes repeated runs reproducible.

    Only usable answers are stored: an empty or missing answer (``None`` from
    an HTTP backend whose retries ran out, ``""`` from any backend) counts as
    a failure, is returned as ``None`` and is asked again next time. Stored
    empty answers (from older versions) are ignored the same way.

    Within one :meth:`complete` call identical prompts are sent once. A
    backend with ``complete_iter`` (the HTTP backend) streams answers as they
    arrive, with up to its ``concurrency`` requests in flight, and each is
    committed as it arrives (a stalled server never holds answers back from
    disk), or, when the backend has ``commit_points`` (answers that arrive a
    batch at a time, from workers), at the end of a batch; other backends
    get `batch_size` prompts at a time, committed at the end of a batch.
    A batch's answers are committed at its end once :attr:`commit_seconds`
    have passed since the last commit (else with a later batch's, and all
    at the end of the call): a slow backend's batches are committed one by
    one, a fast one's hundreds of small batches a second are one write. An
    interrupted run loses at most the answers in flight (one batch) and
    those of the last :attr:`commit_seconds`. The file is in
    sqlite's write-ahead-log mode with ``synchronous=NORMAL``: a commit is a
    write to the log, not a sync to the disk, so committing every answer costs
    little; a killed process keeps every committed answer,
    and a power failure may lose the last ones but never corrupts the file.

    Safe to share between threads, and between processes on one file (sqlite
    locking); answers are always returned in prompt order.

    Parameters
    ----------
    llm : LLM
        The backend to ask on a miss.
    path : str or path-like
        The sqlite file (created with its folder when missing).
    batch_size : int
        Prompts sent to a non-streaming backend at a time.
    hook : progress hook, optional
        Reports ``("llm", name, completed=, total=)`` over the prompts sent
        (streaming backends) or the batches sent (others).
    refresh : bool
        Ask every prompt again instead of reading answers stored before this
        object was made (they are replaced); answers it got itself are reused.
        (The command line's ``--refresh-cache``.)

    Attributes
    ----------
    commit_seconds : float
        The least time between two commits at batch ends (class default 1 s; 0 commits every batch).
    calls : int
        Prompts actually sent to the backend so far.
    hits : int
        Prompts answered without a new backend request (from the file, or a
        repeat of a prompt already sent in the same call).
    failed : int
        Prompts that got no usable answer so far (each counted once per call).
    failures : list of Failure
        Those prompts and the reasons (in prompt order within each call).
    """

    commit_seconds = 1.0

    def __init__(self, llm: LLM, path: str | os.PathLike, *, batch_size: int = 32,
                 hook: ProgressHook | None = None, refresh: bool = False):
        self.llm = llm
        self.name = llm.name
        self.path = Path(path)
        self.batch_size = max(1, int(batch_size))
        self.hook = hook or silent
        self.refresh = bool(refresh)
        self.calls = 0
        self.hits = 0
        self.failed = 0
        self.failures: list[Failure] = []
        self._fresh: set[str] = set()  # keys this object stored (the answers `refresh` trusts)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")  # kept by the file
                db.execute(_SCHEMA)
                db.commit()
        except OSError as exc:
            raise write_error(exc, self.path) from None
        except sqlite3.OperationalError as exc:  # "attempt to write a readonly database", "unable to open ..."
            raise AudioDissectError(f"cannot write the LLM answer cache {self.path}: {exc}",
                                    hint="a run directory must be writable: copy it somewhere you can write "
                                         "(cp -r RUN NEW) and use the copy") from None

    @property
    def concurrency(self) -> int:
        """The backend's requests in flight at once (1 for in-process backends)."""
        return int(getattr(self.llm, "concurrency", 1))

    @property
    def fans_out(self) -> bool:
        """Whether the backend spreads one call's prompts over workers itself (then hand it all at once)."""
        return bool(getattr(self.llm, "fans_out", False))

    def _connect(self) -> contextlib.closing[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=60.0)
        db.execute("PRAGMA synchronous=NORMAL")  # with the WAL: commits are not synced one by one
        return contextlib.closing(db)

    def _lookup(self, db: sqlite3.Connection, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        keys = [k for k in keys if k in self._fresh] if self.refresh else list(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update((key, answer) for key, answer in
                         db.execute(f"SELECT key, answer FROM answers WHERE key IN ({marks})", chunk)
                         if usable(answer))
        return found

    def _store(self, db: sqlite3.Connection, rows: list[tuple[str, str, str, str, str, float]]) -> None:
        if not rows:
            return
        with self._lock:
            db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.commit()
            self._fresh.update(row[0] for row in rows)
        rows.clear()

    def _stream(self, prompts: list[str], given: dict[str, Any]) -> Iterator[Completed]:
        if hasattr(self.llm, "complete_iter"):
            yield from self.llm.complete_iter(prompts, **given)  # type: ignore[attr-defined]
            return
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start:start + self.batch_size]
            replies = self.llm.complete(batch, **given)
            if len(replies) != len(batch):
                raise RuntimeError(f"{self.name} returned {len(replies)} answers for {len(batch)} prompts")
            errors = getattr(replies, "errors", {})
            for offset, reply in enumerate(replies):
                yield Completed(start + offset, None if reply is None else str(reply), errors.get(offset))
            yield Completed(-1, None, "batch end")  # commit point

    def complete(self, prompts: Sequence[str], **params: Any) -> Answers:
        """One answer per prompt, in order, from the cache where possible; ``None`` where it failed.

        See :class:`~audiodissect.llm.base.LLM`; the reasons of failures are in
        the result's ``.errors`` and in :attr:`failures`.
        """
        prompts = list(prompts)
        p = check_params(params)
        given = dict(params)
        keys = answer_keys(self.name, prompts, p)
        unique = dict(zip(keys, prompts))  # first prompt of each key, in order
        with self._connect() as db:
            with self._lock:
                answers: dict[str, str] = self._lookup(db, list(unique))
            missing = [key for key in unique if key not in answers]
            errors: dict[str, str] = {}
            params_json = json.dumps(p, sort_keys=True)
            rows: list[tuple[str, str, str, str, str, float]] = []
            done = 0
            streaming = hasattr(self.llm, "complete_iter")
            # stored as each answer arrives, or at the commit points of a backend whose answers arrive in batches
            per_answer = streaming and not getattr(self.llm, "commit_points", False)
            committed = time.monotonic()
            total = len(missing) if streaming else -(-len(missing) // self.batch_size)
            self.hook("llm", self.name, completed=0, total=total)
            try:
                for item in self._stream([unique[k] for k in missing], given):
                    if item.index >= 0:
                        key = missing[item.index]
                        done += 1
                        if usable(item.text):
                            answers[key] = item.text  # type: ignore[assignment]
                            rows.append((key, self.name, unique[key], params_json, item.text, time.time()))
                        else:
                            errors[key] = item.error or ("the answer was empty" if item.text is not None
                                                         else "no answer")
                    if streaming and item.index >= 0:
                        self.hook("llm", self.name, completed=done, total=total)
                    elif item.index < 0 and not streaming:
                        self.hook("llm", self.name, completed=-(-done // self.batch_size), total=total)
                    if per_answer or (item.index < 0 and time.monotonic() - committed >= self.commit_seconds):
                        self._store(db, rows)
                        committed = time.monotonic()
            finally:
                self._store(db, rows)  # keep what arrived, also on errors and Ctrl-C
                with self._lock:
                    self.calls += done
                    self.hits += len(prompts) - len(missing)
                    self.failed += len(errors)
                    self.failures.extend(Failure(unique[k], errors[k]) for k in missing if k in errors)
        return Answers([answers.get(key) for key in keys],
                       errors={i: errors[key] for i, key in enumerate(keys) if key in errors})

    def __len__(self) -> int:
        """Number of answers stored in the file."""
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def __repr__(self) -> str:
        return f"CachedLLM({self.llm!r}, path={str(self.path)!r})"
