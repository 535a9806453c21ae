"""Seeded, stratified probing / held-out splits and unique clip ids."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from .base import HELDOUT, PROBE

HELDOUT_FRACTION = 0.2


def _label_key(label: str | None) -> int:
    """A stable integer for `label` (Python's ``hash`` of a string changes between runs)."""
    digest = hashlib.sha256(("" if label is None else label).encode()).hexdigest()
    return int(digest[:8], 16)


def stratified_split(ids: Sequence[str], labels: Sequence[str | None], *, seed: int,
                     fraction: float = HELDOUT_FRACTION) -> list[str]:
    """Assign each clip to the probing or held-out split, per label.

    Within every label, the clips are sorted by id and shuffled by a generator
    seeded with ``(seed, label)``; the first ``floor(fraction * n + 0.5)`` go
    to the held-out split. The result depends only on the seed, the ids and
    the labels, not on the order they are listed in.

    Parameters
    ----------
    ids : sequence of str, length N
    labels : sequence of str or None, length N
    seed : int
    fraction : float
        Share of each label's clips that are held out, in [0, 1).

    Returns
    -------
    list of str, length N
        ``"probe"`` or ``"heldout"`` for each clip.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError("the held-out fraction must be in [0, 1)")
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        groups[label].append(i)
    splits = [PROBE] * len(ids)
    for label, members in groups.items():
        members = sorted(members, key=lambda i: ids[i])
        rng = np.random.default_rng([int(seed), _label_key(label)])
        order = rng.permutation(len(members))
        n_heldout = int(math.floor(fraction * len(members) + 0.5))
        for j in order[:n_heldout]:
            splits[members[j]] = HELDOUT
    return splits


def unique_ids(stems: Sequence[str], qualifiers: Sequence[str]) -> list[str]:
    """Clip ids: each stem, or ``"<qualifier>-<stem>"`` where stems collide.

    Parameters
    ----------
    stems : sequence of str, length N
        Usually the file name without its extension.
    qualifiers : sequence of str, length N
        What tells colliding stems apart (a fold, a folder). If a qualified id
        still collides, ``"-2"``, ``"-3"``, ... are appended in listing order.
    """
    counts: dict[str, int] = defaultdict(int)
    for stem in stems:
        counts[stem] += 1
    bases = [stem if counts[stem] == 1 else f"{qualifier}-{stem}".replace("/", "-")
             for stem, qualifier in zip(stems, qualifiers)]
    used = set(bases)
    seen: set[str] = set()
    ids = []
    for base in bases:
        candidate, n = base, 1
        while candidate in seen or (n > 1 and candidate in used):
            n += 1
            candidate = f"{base}-{n}"
        seen.add(candidate)
        ids.append(candidate)
    return ids
