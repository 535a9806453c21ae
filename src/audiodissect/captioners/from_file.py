"""Descriptions read from a JSON file (written by any captioner, e.g. SALMONN)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

from ..cache import hash_file, read_json
from ..errors import AudioDissectError

#: How many missing clip ids an error message lists.
SHOW_MISSING = 5


def _basename(name: str) -> str:
    return PurePath(name.replace("\\", "/")).name


class FileCaptioner:
    """Looks each clip's description up in a JSON file.

    The file maps keys to descriptions, either directly (``{"1-100032-A-0.wav":
    "A dog barks."}``, the format of the original AND descriptions) or under
    ``"descriptions"`` (the files :func:`~audiodissect.captioners.base.describe_cached`
    writes). A clip matches the key equal to its id, else the key equal to its
    file name (the base name of ``clip.path``); keys that are paths match by
    their base name too.

    Parameters
    ----------
    path : str or path-like
        The JSON file.
    allow_missing : bool
        Give clips without a description ``""`` (with a warning) instead of failing.

    Attributes
    ----------
    n_missing : int
        Clips without a description in the last :meth:`describe` call.
    """

    def __init__(self, path: str | os.PathLike, *, allow_missing: bool = False):
        self.path = Path(path)
        if not self.path.is_file():
            raise AudioDissectError(f"no description file at {self.path}")
        try:
            data = read_json(self.path)
        except ValueError as exc:
            raise AudioDissectError(f"{self.path} is not valid JSON: {exc}") from exc
        if isinstance(data, dict) and isinstance(data.get("descriptions"), dict):
            data = data["descriptions"]
        if not isinstance(data, dict):
            raise AudioDissectError(f"{self.path} must hold a JSON object mapping clip ids or file names "
                                    "to descriptions")
        bad = [k for k, v in data.items() if not isinstance(v, str)]
        if bad:
            raise AudioDissectError(f"{len(bad)} description(s) in {self.path} are not strings, e.g. {bad[0]!r}")
        self.by_key: dict[str, str] = dict(data)
        self.by_basename: dict[str, str] = {}
        for key, text in data.items():
            self.by_basename.setdefault(_basename(key), text)
        self.allow_missing = allow_missing
        self.n_missing = 0
        self.name = f"file:{self.path.name}:{hash_file(self.path)[:12]}"

    def lookup(self, clip: Any) -> str | None:
        """The description of one clip, or None when the file has none."""
        for key in (clip.id, _basename(clip.id)) + ((_basename(clip.path),) if clip.path else ()):
            if key in self.by_key:
                return self.by_key[key]
            if key in self.by_basename:
                return self.by_basename[key]
        return None

    def describe(self, clips: Sequence[Any]) -> list[str]:
        """One description per clip, in order (only ``id`` and ``path`` are read)."""
        found = [self.lookup(clip) for clip in clips]
        missing = [clip.id for clip, text in zip(clips, found) if text is None]
        self.n_missing = len(missing)
        if missing:
            shown = ", ".join(repr(m) for m in missing[:SHOW_MISSING])
            more = f" and {len(missing) - SHOW_MISSING} more" if len(missing) > SHOW_MISSING else ""
            message = f"{len(missing)} of {len(clips)} clips have no description in {self.path}: {shown}{more}"
            if not self.allow_missing:
                raise AudioDissectError(
                    message, hint="keys must be clip ids or audio file names (e.g. '1-100032-A-0.wav'); "
                                  "pass allow_missing=True to give those clips an empty description")
            warnings.warn(message + " (described as empty)", stacklevel=2)
        return [text or "" for text in found]

    def __repr__(self) -> str:
        return f"FileCaptioner({str(self.path)!r})"
