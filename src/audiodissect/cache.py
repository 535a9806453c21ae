"""Atomic writes, content hashes and the cache keys of stages.

Every file a stage writes goes through these helpers: the data lands in a
temporary file beside the target and is renamed over it, so an interrupted
run never leaves a half-written result behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import write_error


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}  # insertion order kept; hash_key sorts
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return {"ndarray": hash_array(obj)}
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    return obj


def hash_key(*parts: Any) -> str:
    """A short stable hex digest of JSON-able `parts` (dataclasses, paths and arrays allowed)."""
    text = json.dumps(_jsonable(list(parts)), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def hash_array(array: np.ndarray) -> str:
    """Digest of an array's dtype, shape and bytes."""
    h = hashlib.sha256()
    h.update(str(array.dtype).encode())
    h.update(str(array.shape).encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


def hash_file(path: str | os.PathLike) -> str:
    """Digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` if the block succeeds.

    The file gets the permissions the process's umask gives a new file (as
    ``open`` would), not the private 0600 of a temporary file. A folder that
    cannot be written (read-only, no permission, a full disk) is an
    :class:`~audiodissect.errors.AudioDissectError` naming the file.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # a read-only folder or a full disk: a clear error naming the file
        raise write_error(exc, path) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(_jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(obj: Any) -> Any:
    """`json.dumps`'s fallback for the values :func:`_jsonable` converts (numpy scalars, paths, ...)."""
    converted = _jsonable(obj)
    if converted is obj:
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
    return converted


#: One encoder for every JSON line: ``json.dumps`` with settings builds a new encoder per call, which costs as
#: much as encoding a small record (a large run writes hundreds of thousands).
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_json_default)


def json_line(record: Any) -> str:
    """One record (or any JSON-able value) as :func:`write_jsonl` writes it; plain records go straight to the
    encoder (a large run writes millions)."""
    try:
        return _LINE_ENCODER.encode(record)
    except TypeError:  # a key that is not a string, number or None
        return json.dumps(_jsonable(record), ensure_ascii=False)


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    with gc_paused():
        lines = [json_line(r) for r in records]
    write_text(path, "".join(line + "\n" for line in lines))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    with open(path, encoding="utf-8") as f, gc_paused():
        return [json.loads(line) for line in f if line.strip()]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while many small acyclic objects are made (the records of a large
    run): each collection walks every object still alive, so collections during the build cost more the more
    records there are (a third of building YAMNet's 351,495 rankings). Reference counting still frees them.

    On the way out, the objects made meanwhile join the oldest generation unwalked (``gc.freeze`` then
    ``gc.unfreeze``): the collector counts allocations while paused, so otherwise the first allocation after
    the pause would walk them all in one young collection (0.2 s for a million small dicts; 2.5 s of the
    score stage on YAMNet's 56 layers). Cycles among them are still found by the next full collection. A
    process that froze objects itself (``gc.get_freeze_count()`` not 0) keeps them frozen: then the young
    collection is paid instead."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if not gc.get_freeze_count():
            gc.freeze()  # every tracked object to the permanent generation ...
            gc.unfreeze()  # ... and back into the oldest one, unwalked
        if enabled:
            gc.enable()


def plain_name(text: str) -> bool:
    """Whether `text` names an entry of a folder and nothing else: not empty, ``.`` or ``..``, and without a
    path separator (``/``, ``\\``) or a NUL."""
    return text not in ("", ".", "..") and not any(c in text for c in ("/", "\\", "\0"))


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def load_npy(path: str | os.PathLike, *, mmap: bool = False) -> np.ndarray:
    """An array from a ``.npy`` file, never unpickled; a damaged file (or one of pickled objects) is an
    :class:`~audiodissect.errors.AudioDissectError` naming it."""
    from .errors import AudioDissectError

    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, EOFError) as exc:  # not a .npy file, truncated, or an object array
        raise AudioDissectError(f"cannot read {path} as an array: {exc}",
                                hint="the file is damaged or was not written by audiodissect") from None


def cache_dir() -> Path:
    """Where generated data (the soundbank, trained demo models) is kept.

    ``$AUDIODISSECT_CACHE`` if set, else ``$XDG_CACHE_HOME/audiodissect``, else
    ``~/.cache/audiodissect``.
    """
    env = os.environ.get("AUDIODISSECT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "audiodissect"
