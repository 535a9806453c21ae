"""Answers that may have failed: the result types of the LLM and captioner backends.

A backend that talks to a server can get no usable answer for one prompt or
clip (the reply was empty, ``null`` or not JSON, after every retry) while the
others succeed. Such an item is a *failure*: ``None`` in the returned list,
with its reason kept beside it, and never written to an answer cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import NamedTuple


class Completed(NamedTuple):
    """One finished item of a streamed request, in the order items finish.

    Attributes
    ----------
    index : int
        Position of the item in the request; -1 marks a commit point (a backend whose answers
        arrive in batches yields one after each batch).
    text : str or None
        The answer, or None when the item failed.
    error : str or None
        Why the item failed (None when it succeeded).
    """

    index: int
    text: str | None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class Failure:
    """An item that got no usable answer.

    Attributes
    ----------
    item : str
        The prompt (LLM) or the clip id (captioner).
    error : str
        What went wrong, e.g. ``"the server answered with empty content (3 attempts)"``.
    """

    item: str
    error: str


class Answers(list):
    """One answer per item, in request order: a ``str``, or ``None`` where the item failed.

    A plain list to callers that only read answers; ``errors`` tells why
    items failed.

    Parameters
    ----------
    items : iterable of str or None, length M
    errors : mapping of int to str, optional
        The reason per failed position; positions holding None without a
        reason get ``"no answer"``.

    Attributes
    ----------
    errors : dict of int to str
        Failed positions and their reasons.
    """

    def __init__(self, items: Iterable[str | None] = (), *, errors: Mapping[int, str] | None = None):
        super().__init__(items)
        given = dict(errors or {})
        self.errors: dict[int, str] = {i: given.get(i, "no answer") for i, text in enumerate(self) if text is None}

    @property
    def n_failed(self) -> int:
        """Number of failed items."""
        return len(self.errors)

    def texts(self, *, failed: str = "") -> list[str]:
        """The answers as plain strings, `failed` standing in for each failure."""
        return [failed if text is None else text for text in self]

    @classmethod
    def from_completed(cls, n: int, done: Iterable[Completed]) -> Answers:
        """Collect `n` streamed results into request order (items never reported count as failed; commit
        points, of index -1, are skipped)."""
        texts: list[str | None] = [None] * n
        errors: dict[int, str] = {}
        for item in done:
            if item.index < 0:
                continue
            texts[item.index] = item.text
            if item.text is None:
                errors[item.index] = item.error or "no answer"
        return cls(texts, errors=errors)


def usable(text: object) -> bool:
    """True when `text` is an answer worth keeping: a string with something besides white space."""
    return isinstance(text, str) and bool(text.strip())
