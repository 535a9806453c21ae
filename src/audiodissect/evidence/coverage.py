"""Which concepts the chosen evidence says nothing about.

A similarity function compares a unit with every concept's column; a column
that is the same on every clip (a concept no source measures, the zeros the
acoustic and label backends give the concepts they do not cover) carries no
evidence, yet a score is computed for it and, under some published
functions, wins (a constant column keeps the activation order in
rank-reorder; it scores the largest PMI in soft-WPMI). :func:`no_evidence`
lists such concepts, with the reason, so that the identify stage can say "no
evidence for: ..." and leave them out instead of choosing them silently.

A backend may declare which concepts it covers with a method
``covered(concepts, probe=None) -> (C,) bool`` (the acoustic and label
backends and their combinations do); :func:`backend_coverage` asks it, and
takes a backend without one (the tag bridge, CLAP: every concept gets a
column, by name or text embedding) to cover every concept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import AudioDissectError

#: A column is constant when its range is at most this many machine epsilons of its largest magnitude.
CONSTANT_EPS = 16


def constant_columns(evidence: np.ndarray) -> np.ndarray:
    """Which columns hold the same value on every clip, up to rounding, shape (C,), bool.

    A column is constant when ``max - min <= 16 * eps * max |value|`` with
    ``eps`` the machine epsilon of its dtype (float32 for float32 input,
    float64 otherwise): exactly equal values, or values that differ only by
    the rounding of one computation. An all-zero column is constant.

    Parameters
    ----------
    evidence : array_like, shape (N, C)

    Raises
    ------
    AudioDissectError
        For input that is not a non-empty 2-D array of finite numbers.
    """
    x = np.asarray(evidence)
    if x.ndim != 2 or 0 in x.shape or not np.issubdtype(x.dtype, np.number):
        raise AudioDissectError(f"evidence must be a non-empty (clips, concepts) array of numbers, "
                                f"got shape {x.shape}, dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise AudioDissectError("evidence holds NaN or infinite values")
    eps = np.finfo(np.float32 if x.dtype == np.float32 else np.float64).eps
    x = x.astype(np.float64)
    spread = x.max(axis=0) - x.min(axis=0)
    return spread <= CONSTANT_EPS * eps * np.abs(x).max(axis=0)


def backend_coverage(backend: Any, concepts: Sequence[str], probe: Any = None) -> np.ndarray:
    """Which concepts `backend` has evidence for, shape (C,), bool.

    Asks ``backend.covered(concepts, probe)`` when the backend has that
    method; otherwise every concept is covered.
    """
    covered = getattr(backend, "covered", None)
    if covered is None:
        return np.ones(len(concepts), dtype=bool)
    out = np.asarray(covered(list(concepts), probe), dtype=bool)
    if out.shape != (len(concepts),):
        raise AudioDissectError(f"{getattr(backend, 'name', backend)!r}.covered returned shape {out.shape} "
                                f"for {len(concepts)} concepts")
    return out


def no_evidence(evidence: np.ndarray, concepts: Sequence[str], *,
                covered: np.ndarray | None = None) -> dict[str, str]:
    """The concepts without evidence, each with the reason, in concept order.

    Parameters
    ----------
    evidence : array_like, shape (N, C)
        The evidence matrix a method scores with (its probe rows).
    concepts : sequence of str, length C
    covered : array_like of bool, shape (C,), optional
        Which concepts the source covers (:func:`backend_coverage`); None
        takes every concept as covered.

    Returns
    -------
    dict of str to str
        ``{concept: reason}`` with reason ``"not covered by the evidence
        source"``, ``"all zero"`` or ``"the same on every clip"``; empty when
        every concept has evidence.
    """
    constant = constant_columns(evidence)
    if len(concepts) != constant.size:
        raise AudioDissectError(f"evidence has {constant.size} concept columns but {len(concepts)} concepts were given")
    zero = ~np.asarray(evidence).astype(bool).any(axis=0)
    if covered is None:
        covered = np.ones(constant.size, dtype=bool)
    covered = np.asarray(covered, dtype=bool)
    if covered.shape != constant.shape:
        raise AudioDissectError(f"covered has shape {covered.shape}, expected ({constant.size},)")
    out = {}
    for concept, cov, con, zer in zip(concepts, covered, constant, zero):
        if not cov:
            out[concept] = "not covered by the evidence source"
        elif zer:
            out[concept] = "all zero"
        elif con:
            out[concept] = "the same on every clip"
    return out
