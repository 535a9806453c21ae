"""The one error type for user mistakes and bad input."""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable


class AudioDissectError(Exception):
    """A problem the user can fix: bad input, a wrong name, a missing file.

    The command line prints it as one line (plus the hint) and exits non-zero,
    without a traceback.

    Parameters
    ----------
    message : str
        What went wrong, in one sentence.
    hint : str, optional
        What to do about it.
    """

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


def closest_names(name: str, choices: Iterable[str], *, n: int = 5) -> list[str]:
    """The `n` names in `choices` that look most like `name`, best first."""
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.0)
    return close[:n]


def unknown_name_error(kind: str, name: str, choices: Iterable[str]) -> AudioDissectError:
    """An error for an unknown `kind` called `name` that lists the closest valid names."""
    close = closest_names(name, choices)
    hint = "closest: " + ", ".join(close) if close else None
    return AudioDissectError(f"unknown {kind} {name!r}", hint=hint)


#: Errors of writing that the user can fix by writing elsewhere (or freeing space).
_WRITE_ERRNOS = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                 errno.EROFS: "the file system is read-only", errno.ENOSPC: "no space left on the device",
                 errno.EDQUOT: "the disk quota is exceeded"}


class WriteError(AudioDissectError):
    """A file of the run could not be written (read-only folder, no permission, full disk)."""


class IncompleteStageError(AudioDissectError):
    """A stage finished with failed items (prompts, captions) that the user did not allow; what it did is kept."""


def is_write_error(exc: BaseException) -> bool:
    """Whether `exc` is an :class:`OSError` of writing that the user fixes (read-only, permissions, full disk)."""
    return isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS


def write_error(exc: OSError, path: str | os.PathLike | None = None) -> AudioDissectError | OSError:
    """An :class:`AudioDissectError` for an OSError of writing `path` (default: the error's file) in a read-only
    folder, without permission or on a full disk; other OSErrors come back as they are."""
    if not is_write_error(exc):
        return exc
    where = path if path is not None else exc.filename
    return WriteError(f"cannot write {where}: {_WRITE_ERRNOS[exc.errno]}",
                             hint="a run directory must be writable: copy it somewhere you can write "
                                  "(cp -r RUN NEW) and use the copy, or free some space")
