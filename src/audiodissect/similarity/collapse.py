"""Collapse check: how much of a layer one concept names.

A similarity function that favours a concept for a reason unrelated to the
units (its evidence's common level or spread, a constant column) names most
of a layer after it. :func:`concept_collapse` measures the largest share of a
layer's units given one concept at top-1; a share above the threshold is a
warning that the names of that layer say more about the evidence (or about
a factor all its units share) than about what tells its units apart.

Threshold: :data:`COLLAPSE_THRESHOLD` = 0.5, "more than half of the layer's
units named one concept", checked only on layers of at least
:data:`COLLAPSE_MIN_UNITS` units. Measured on the soundbank
(``bench/results/collapse.md``, ``python bench/collapse.py``): with the
published functions, 22 of 100 (layer, method, similarity) cells of the demo
CNN and YAMNet exceed it, the worst at 99-100 % (the collapses users
reported took 47 % to 100 % of a layer); with the robust functions 7 do, all
on YAMNet's last convolution, where the first principal component of the
units' normal scores holds 58 % of their variance and the names follow that
shared factor. Healthy layers stay below: their largest share is at most
44 % under the robust functions, including a layer whose first component
holds 94 %. Below half, a popular concept is common (a probing set with one
dominant quality, early layers that all hear loudness); the share is
reported either way, so a caller can be stricter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..errors import AudioDissectError

#: Largest share of a layer's units one concept may name before the layer is flagged.
COLLAPSE_THRESHOLD = 0.5
#: Layers with fewer units are never flagged: their shares move in steps too large to mean much.
COLLAPSE_MIN_UNITS = 8


@dataclasses.dataclass(frozen=True)
class Collapse:
    """The most frequent top-1 concept of a layer and whether it names too much of it.

    Attributes
    ----------
    concept : int
        Index of the concept given to the most units (the lowest index among
        equals); -1 when no unit has a best concept.
    name : str or None
        Its name, when concept names were given.
    count : int
        Units given that concept at top-1.
    units : int
        Units with a best concept (scores not all equal).
    unnamed : int
        Units whose scores are all equal (a dead unit, a constant one): they
        have no best concept and are not counted.
    share : float
        ``count / units`` (0 when `units` is 0).
    threshold : float
        The share above which the layer is flagged.
    collapsed : bool
        ``share > threshold`` on a layer of at least ``min_units`` units.
    """

    concept: int
    name: str | None
    count: int
    units: int
    unnamed: int
    share: float
    threshold: float
    collapsed: bool

    def message(self) -> str:
        """One line for logs and reports, e.g. ``"'marimba' names 516 of 521 units (99.0 %)"``."""
        if self.concept < 0:
            return f"no unit has a best concept ({self.unnamed} with all scores equal)"
        what = repr(self.name) if self.name is not None else f"concept {self.concept}"
        text = f"{what} names {self.count} of {self.units} units ({100 * self.share:.1f} %)"
        return text + (f": above the collapse threshold {100 * self.threshold:.0f} %" if self.collapsed else "")


def concept_collapse(scores_or_top1, *, concepts: Sequence[str] | None = None,
                     threshold: float = COLLAPSE_THRESHOLD, min_units: int = COLLAPSE_MIN_UNITS) -> Collapse:
    """The largest share of a layer's units given one concept, and whether it exceeds `threshold`.

    Parameters
    ----------
    scores_or_top1 : array_like or torch.Tensor, shape (U, C) or (U,)
        Unit-concept scores of one layer (higher = better; a unit's concept is
        its first best column, as :func:`~audiodissect.similarity.top_concepts`
        takes it; a unit whose scores are all equal has none and is left
        out), or each unit's top-1 concept index (integers).
    concepts : sequence of str, optional
        Concept names, to name the concept (length C when scores are given).
    threshold : float, default 0.5
        Share in [0, 1] above which the layer is flagged.
    min_units : int, default 8
        Layers with fewer units are never flagged.

    Returns
    -------
    Collapse

    Raises
    ------
    AudioDissectError
        For an empty layer, scores with NaN, top-1 indices that are not
        non-negative integers, a threshold outside [0, 1], or a concept list
        that does not match the scores.
    """
    x = np.asarray(scores_or_top1.detach().cpu() if hasattr(scores_or_top1, "detach") else scores_or_top1)
    if not 0.0 <= float(threshold) <= 1.0:
        raise AudioDissectError(f"collapse threshold must be in [0, 1], got {threshold!r}")
    if x.ndim == 2:
        if 0 in x.shape:
            raise AudioDissectError(f"scores of shape {x.shape} have no units or no concepts")
        if not np.issubdtype(x.dtype, np.number) or np.isnan(x).any():
            raise AudioDissectError("scores must be numbers without NaN")
        if concepts is not None and len(concepts) != x.shape[1]:
            raise AudioDissectError(f"scores have {x.shape[1]} concept columns but {len(concepts)} names were given")
        top1 = np.argmax(x[x.max(axis=1) > x.min(axis=1)], axis=1)
    elif x.ndim == 1:
        if x.size == 0:
            raise AudioDissectError("no units: the top-1 index array is empty")
        if not np.issubdtype(x.dtype, np.integer) or (x < 0).any():
            raise AudioDissectError(f"top-1 indices must be non-negative integers, got dtype {x.dtype}")
        top1 = x
        if concepts is not None and int(top1.max()) >= len(concepts):
            raise AudioDissectError(f"top-1 index {int(top1.max())} is outside the {len(concepts)} concepts")
    else:
        raise AudioDissectError(f"expected scores (units, concepts) or top-1 indices (units,), got shape {x.shape}")
    unnamed = int(x.shape[0]) - int(top1.size)
    if top1.size == 0:
        return Collapse(concept=-1, name=None, count=0, units=0, unnamed=unnamed, share=0.0,
                        threshold=float(threshold), collapsed=False)
    counts = np.bincount(top1)
    concept = int(np.argmax(counts))
    count, units = int(counts[concept]), int(top1.size)
    share = count / units
    return Collapse(concept=concept, name=None if concepts is None else str(concepts[concept]), count=count,
                    units=units, unnamed=unnamed, share=share, threshold=float(threshold),
                    collapsed=units >= int(min_units) and share > float(threshold))
