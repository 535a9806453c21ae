"""Seeded probing / held-out splits that follow each clip, checks on a split, and unique clip ids."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ..errors import AudioDissectError
from .base import HELDOUT, PROBE

HELDOUT_FRACTION = 0.2


def clip_draws(keys: Sequence[str], *, seed: int) -> np.ndarray:
    """A seeded uniform number in [0, 1) for each clip, a function of its key and the seed only.

    Parameters
    ----------
    keys : sequence of str, length N
        What names each clip for good: its id, or its path within the data set.
    seed : int

    Returns
    -------
    np.ndarray, shape (N,), float64
        The first 8 bytes of ``sha256(f"{seed}:{key}")`` divided by 2**64.
    """
    words = [hashlib.sha256(f"{int(seed)}:{key}".encode()).digest()[:8] for key in keys]
    values = np.frombuffer(b"".join(words), dtype=">u8").astype(np.float64)
    return values / 2.0 ** 64


def seeded_split(keys: Sequence[str], *, seed: int, fraction: float = HELDOUT_FRACTION) -> list[str]:
    """Assign each clip to the probing or held-out split by a seeded hash of its key.

    A clip is held out when its draw (:func:`clip_draws`) is below `fraction`,
    so its split depends on nothing but its key, the seed and the fraction: a
    subset of a set (fewer clips per label, fewer labels, a file gone bad)
    never moves a clip to the other split, the listing order does not matter,
    and a larger fraction only moves probe clips to the held-out split. Each
    label keeps `fraction` of its clips in expectation (not exactly: with 118
    clips a label holds out 23.6 on average, with a standard deviation of 4.3).

    Parameters
    ----------
    keys : sequence of str, length N
    seed : int
    fraction : float
        Chance of each clip to be held out, in [0, 1).

    Returns
    -------
    list of str, length N
        ``"probe"`` or ``"heldout"`` for each clip.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError("the held-out fraction must be in [0, 1)")
    heldout = clip_draws(keys, seed=seed) < fraction
    return [HELDOUT if h else PROBE for h in heldout.tolist()]


def numbered_split(labels: Sequence[str | None], numbers: Sequence[int], *, seed: int,
                   fraction: float = HELDOUT_FRACTION) -> list[str]:
    """Assign numbered clips to the probing or held-out split, evenly within each label.

    For clips numbered 0, 1, 2, ... within their label (as the soundbank
    numbers them), clip `k` is held out when ``floor((k + 1) * fraction + u)``
    exceeds ``floor(k * fraction + u)``, with ``u`` a seeded draw per label
    (:func:`clip_draws` of the label). A clip's split thus depends only on the
    seed, its label and its number, so a subset (the first `n` clips of some
    labels) never moves a clip to the other split, and the first `n` clips
    of a label always hold out ``floor(n * fraction)`` or ``ceil(n * fraction)``.

    Parameters
    ----------
    labels : sequence of str or None, length N
    numbers : sequence of int, length N
        Each clip's number within its label (gaps allowed).
    seed : int
    fraction : float
        Share of each label held out, in [0, 1).

    Returns
    -------
    list of str, length N
        ``"probe"`` or ``"heldout"`` for each clip.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError("the held-out fraction must be in [0, 1)")
    names = ["" if label is None else label for label in labels]
    distinct = sorted(set(names))
    offsets = dict(zip(distinct, clip_draws([f"label:{name}" for name in distinct], seed=seed).tolist()))
    u = np.array([offsets[name] for name in names], dtype=np.float64)
    k = np.asarray(numbers, dtype=np.float64)
    heldout = np.floor((k + 1.0) * fraction + u) > np.floor(k * fraction + u)
    return [HELDOUT if h else PROBE for h in heldout.tolist()]


def one_split_labels(labels: Sequence[str | None], splits: Sequence[str]) -> dict[str, dict[str, object]]:
    """Labels whose clips all lie in one split, e.g. a label with a single clip.

    Such a label is split like any other (by the set's rule), but with no
    held-out clip pruning and scoring cannot measure it, and with no probe
    clip no unit is described by it: callers warn about them.

    Parameters
    ----------
    labels : sequence of str or None, length N
    splits : sequence of {"probe", "heldout"}, length N

    Returns
    -------
    dict
        ``{label: {"split": the one split, "clips": count}}``, labels sorted.
    """
    seen: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for label, split in zip(labels, splits):
        if label is not None:
            seen[label].add(split)
            counts[label] += 1
    return {label: {"split": next(iter(seen[label])), "clips": counts[label]}
            for label in sorted(seen) if len(seen[label]) == 1}


def require_probe_clips(splits: Sequence[str], *, name: str, where: str, hint: str) -> None:
    """Raise a clear error when no clip is in the probing split.

    Parameters
    ----------
    splits : sequence of str
        The split of every usable clip.
    name : str
        The probing set's name.
    where : str
        Its root, manifest or data set, for the message.
    hint : str
        What the user can change.
    """
    if PROBE in splits:
        return
    what = "has no usable clip" if not splits else f"holds all its {len(splits)} usable clips out"
    raise AudioDissectError(f"the {name} probing set in {where} {what}: its probe split is empty", hint=hint)


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
