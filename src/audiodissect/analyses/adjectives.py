"""Open-set adjectives over units (paper Figs. 3 and 5).

Pure functions on ``units/summarize.jsonl`` records: how often each acoustic
adjective names a unit, and how many adjectives a unit gets on average in
each layer, with a straight-line fit across layer depth.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import AudioDissectError

#: The record field counted by default: adjectives kept by the acoustic filter.
DEFAULT_FIELD = "acoustic_adjectives"


def _unit_adjectives(record: dict[str, Any], field: str) -> list[str]:
    """The distinct adjectives of one unit, lower-cased, in first-seen order."""
    words = record.get(field) or []
    return list(dict.fromkeys(str(w).strip().lower() for w in words if str(w).strip()))


def adjective_counts(records: Sequence[dict[str, Any]], *, field: str = DEFAULT_FIELD,
                     top: int | None = None) -> list[tuple[str, int]]:
    """How many units each adjective describes.

    A unit counts once per adjective even if its summary repeats it.

    Parameters
    ----------
    records : sequence of dict
        Summarize records (one per unit) carrying a list under `field`.
    field : str
        ``"acoustic_adjectives"`` (the open-set concepts) or ``"adjectives"`` (all).
    top : int, optional
        Keep only the `top` most frequent.

    Returns
    -------
    list of (str, int)
        Adjective and number of units, most frequent first; ties in alphabetical order.
    """
    counts = Counter(word for r in records for word in _unit_adjectives(r, field))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked if top is None else ranked[:top]


def adjectives_per_layer(records: Sequence[dict[str, Any]], *, layers: Sequence[str] | None = None,
                         field: str = DEFAULT_FIELD) -> list[dict[str, Any]]:
    """Mean number of distinct adjectives per unit, per layer.

    Parameters
    ----------
    records : sequence of dict
        Summarize records with ``layer`` and a list under `field`.
    layers : sequence of str, optional
        Layer order (depth); layers without records are left out. When None,
        layers appear in the order of first appearance in `records`.
    field : str

    Returns
    -------
    list of dict
        One row per layer: ``layer``, ``depth`` (position in `layers`, from 0),
        ``units``, ``mean``, ``std``.
    """
    by_layer: dict[str, list[int]] = {}
    for r in records:
        by_layer.setdefault(r["layer"], []).append(len(_unit_adjectives(r, field)))
    order = list(layers) if layers is not None else list(by_layer)
    rows = []
    for depth, layer in enumerate(order):
        counts = np.asarray(by_layer.get(layer, []), dtype=np.float64)
        if counts.size == 0:
            continue
        rows.append({"layer": layer, "depth": depth, "units": int(counts.size),
                     "mean": float(counts.mean()), "std": float(counts.std())})
    return rows


def depth_trend(depth: Sequence[float], values: Sequence[float]) -> dict[str, float]:
    """Least-squares line ``values ~ slope * depth + intercept`` and the p-value of its slope.

    Parameters
    ----------
    depth, values : sequence of float, shape (L,)
        Needs at least three points with more than one distinct depth.

    Returns
    -------
    dict
        ``slope``, ``intercept``, ``r``, ``p_value`` (two-sided test of zero slope), ``stderr``, ``n``.
    """
    from scipy.stats import linregress

    x = np.asarray(depth, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise AudioDissectError(f"depth {x.shape} and values {y.shape} must be matching 1-d sequences")
    if x.size < 3 or np.unique(x).size < 2:
        raise AudioDissectError(f"a trend across depth needs at least 3 layers, got {np.unique(x).size}",
                                hint="record and summarize more layers")
    fit = linregress(x, y)
    return {"slope": float(fit.slope), "intercept": float(fit.intercept), "r": float(fit.rvalue),
            "p_value": float(fit.pvalue), "stderr": float(fit.stderr), "n": int(x.size)}
