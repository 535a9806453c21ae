"""The one error type for user mistakes and bad input."""

from __future__ import annotations

import difflib
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
