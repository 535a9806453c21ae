"""Matching concepts to a classifier's class names.

Concept sets name things plainly ("violin", "crying baby") while classifiers
may not: AudioSet models such as YAMNet call their classes
``"Violin, fiddle"`` or ``"Marimba, xylophone"``. Every place that asks
"which class is this concept?" (pruning's target class, the held-out clips'
classes, the last-layer accuracy) answers it here, the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def normalize_concept(text: str) -> str:
    """Lower case, ``_``/``-`` as spaces, single spaces: ``"Crying_Baby"`` -> ``"crying baby"``."""
    return re.sub(r"\s+", " ", re.sub(r"[_\-]+", " ", str(text).lower())).strip()


def class_names_lookup(class_names: Sequence[str]) -> dict[str, int]:
    """Normalised names under which each class may be named: ``{name: class index}``.

    A class is found by its whole name and, for AudioSet-style names that list
    synonyms separated by commas (YAMNet's ``"Marimba, xylophone"``,
    ``"Violin, fiddle"``), by each synonym. Whole names win over synonyms; a
    synonym shared by several classes names none of them.
    """
    lookup = {normalize_concept(c): i for i, c in enumerate(class_names)}
    synonyms: dict[str, set[int]] = {}
    for i, name in enumerate(class_names):
        parts = [normalize_concept(p) for p in str(name).split(",")]
        if len(parts) < 2:
            continue
        for part in filter(None, parts):
            synonyms.setdefault(part, set()).add(i)
    for part, where in synonyms.items():
        if part not in lookup and len(where) == 1:
            lookup[part] = next(iter(where))
    return lookup


def class_index(concept: str, class_names: Sequence[str]) -> int:
    """Position of `concept` among `class_names`: by whole name or comma-separated synonym (normalised).

    ``class_index("violin", [..., "Violin, fiddle", ...])`` finds the AudioSet
    class; an unknown concept is an error listing the closest class names.
    """
    found = class_names_lookup(class_names).get(normalize_concept(concept))
    if found is None:
        from .errors import unknown_name_error

        raise unknown_name_error("class", concept, list(class_names))
    return found


def concepts_of_classes(concepts: Sequence[str], class_names: Sequence[str]) -> dict[int, str]:
    """``{class index: concept}`` for the concepts that name a class (first concept wins).

    Parameters
    ----------
    concepts : sequence of str
        A concept set, e.g. ``["violin", "piano"]``.
    class_names : sequence of str
        The classifier's class names, e.g. YAMNet's 521 AudioSet names.
    """
    lookup = class_names_lookup(class_names)
    found: dict[int, str] = {}
    for concept in concepts:
        k = lookup.get(normalize_concept(concept))
        if k is not None:
            found.setdefault(k, concept)
    return found
