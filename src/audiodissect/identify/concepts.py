"""Concept sets: the closed vocabulary that units are named from."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import AudioDissectError

log = logging.getLogger(__name__)


def clean_concepts(lines: Iterable[str], *, source: str = "concept list") -> list[str]:
    """Normalise raw concept strings into a concept list.

    Each entry has underscores read as spaces, runs of white space collapsed
    and its ends stripped. Blank entries and repeats (compared exactly, after
    cleaning) are dropped, keeping the first occurrence, and a warning gives
    how many were dropped.

    Parameters
    ----------
    lines : iterable of str
    source : str
        Named in the warning and in the error.

    Returns
    -------
    list of str
        The concepts in first-seen order.

    Raises
    ------
    AudioDissectError
        When no concept is left.
    """
    concepts: list[str] = []
    seen: set[str] = set()
    blank = duplicate = 0
    for raw in lines:
        text = " ".join(str(raw).replace("_", " ").split())
        if not text:
            blank += 1
        elif text in seen:
            duplicate += 1
        else:
            seen.add(text)
            concepts.append(text)
    if blank or duplicate:
        log.warning("%s: ignored %d blank line(s) and %d duplicate concept(s); %d concepts kept",
                    source, blank, duplicate, len(concepts))
    if not concepts:
        raise AudioDissectError(f"{source} holds no concepts",
                                hint="write one concept per line, e.g. 'dog bark'")
    return concepts


def load_concepts(path: str | os.PathLike) -> list[str]:
    """Read a concept set: a UTF-8 text file with one concept per line.

    Underscores are read as spaces (``dog_bark`` -> ``dog bark``) and each
    line is stripped; blank lines and duplicates are ignored with a logged
    warning that gives their counts.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    list of str
        The C concepts in file order.

    Raises
    ------
    AudioDissectError
        When the file is missing or unreadable, or holds no concept.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AudioDissectError(f"concept file {str(path)!r} does not exist",
                                hint="give a text file with one concept per line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AudioDissectError(f"cannot read concept file {str(path)!r}: {exc}") from None
    return clean_concepts(text.splitlines(), source=str(path))
