"""Descriptions read from a JSON file (written by any captioner, e.g. SALMONN)."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

from ..cache import hash_file
from ..errors import AudioDissectError

#: How many missing clip ids (or repeated keys) an error message lists.
SHOW_MISSING = 5


class _Pairs(list):
    """The (key, value) pairs of one JSON object, in file order (repeats kept)."""


def _read_pairs(path: Path) -> Any:
    """The JSON document at `path`, every object kept as :class:`_Pairs` so repeated keys stay visible."""
    try:
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_Pairs)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AudioDissectError(f"{path} is not valid JSON: {exc}",
                                hint="check the file's syntax (e.g. python -m json.tool FILE)") from None


def _unique(pairs: _Pairs, path: Path) -> dict[str, Any]:
    """`pairs` as a dict; a key given twice is an error naming the repeated keys."""
    seen: set[str] = set()
    repeated = list(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
    if repeated:
        shown = ", ".join(repr(k) for k in repeated[:SHOW_MISSING])
        more = f" and {len(repeated) - SHOW_MISSING} more" if len(repeated) > SHOW_MISSING else ""
        raise AudioDissectError(f"{path} gives {len(repeated)} key(s) more than once: {shown}{more}",
                                hint="keep one description per clip id or file name, then run again")
    return dict(pairs)


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
        data = _read_pairs(self.path)
        if isinstance(data, _Pairs):
            data = _unique(data, self.path)
            if isinstance(data.get("descriptions"), _Pairs):
                data = _unique(data["descriptions"], self.path)
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

    def require(self, clips: Sequence[Any]) -> None:
        """Fail unless every clip has a description (unless `allow_missing`), counting over all of `clips`.

        Raises
        ------
        AudioDissectError
            Naming how many of the clips have no description, and the first few.
        """
        missing = [clip.id for clip in clips if self.lookup(clip) is None]
        if missing and not self.allow_missing:
            raise AudioDissectError(self._missing_message(missing, len(clips)),
                                    hint="add the missing clips to the file (keys are clip ids or audio file "
                                         "names, e.g. '1-100032-A-0.wav') and run again")

    def _missing_message(self, missing: Sequence[str], total: int) -> str:
        shown = ", ".join(repr(m) for m in missing[:SHOW_MISSING])
        more = f" and {len(missing) - SHOW_MISSING} more" if len(missing) > SHOW_MISSING else ""
        return f"{len(missing)} of {total} clips have no description in {self.path}: {shown}{more}"

    def describe(self, clips: Sequence[Any]) -> list[str]:
        """One description per clip, in order (only ``id`` and ``path`` are read)."""
        self.require(clips)
        found = [self.lookup(clip) for clip in clips]
        missing = [clip.id for clip, text in zip(clips, found) if text is None]
        self.n_missing = len(missing)
        if missing:
            warnings.warn(self._missing_message(missing, len(clips)) + " (described as empty)", stacklevel=2)
        return [text or "" for text in found]

    def __repr__(self) -> str:
        return f"FileCaptioner({str(self.path)!r})"
