"""What a worker needs to measure pruning selections, and the measurement itself.

Every selection (a concept's units under one strategy, or one random draw)
is measured by one forward pass over the held-out clips with its units
ablated; selections are independent, so an executor can spread them over
workers. A worker's state is a :class:`MeasureReplica` (one model replica,
the held-out audio read once, the baseline logits); in this process the
:class:`~audiodissect.prune.runner.PruningContext` itself serves as that
state, so nothing is copied. :func:`measure_row` turns one selection into
its result row on either.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..cache import hash_key
from ..class_names import class_index
from ..probes.base import ProbeSet
from ..records import PruneRow
from ..targets.base import Target
from .evaluate import HeldoutAudio, evaluate_selection
from .strategies import Selection


@dataclasses.dataclass
class MeasureReplica:
    """A worker's state for :func:`measure_row`: the model, the held-out audio and the baseline.

    Attributes
    ----------
    target : Target
        The run's model, on the worker's device.
    audio : HeldoutAudio
        The n held-out clips with a class label.
    baseline : np.ndarray, shape (n, K)
        Their logits without ablation.
    classes : np.ndarray, shape (n,)
        Each clip's class index.
    among : np.ndarray, shape (m,)
        The classes competing for the accuracies.
    class_names : list of str
        The model's K class names.
    batch_size : int
    baseline_key : str
        The baseline's cache key; a row's key is derived from it and the units.
    """

    target: Target
    audio: HeldoutAudio
    baseline: np.ndarray
    classes: np.ndarray
    among: np.ndarray
    class_names: list[str]
    batch_size: int
    baseline_key: str


def measure_row(state: Any, selection: Selection) -> PruneRow:
    """Ablate `selection`'s units and measure on the held-out clips; the result row, not yet cached.

    Parameters
    ----------
    state : MeasureReplica or PruningContext
        Anything with the attributes of :class:`MeasureReplica`.
    selection : Selection

    Returns
    -------
    PruneRow
        The selection's names, the measures of
        :func:`~audiodissect.prune.evaluate.evaluate_selection` and the row's ``key``.
    """
    k = class_index(selection.concept, state.class_names)
    effect = evaluate_selection(state.target, state.audio, state.baseline, state.classes, k, selection.units,
                                batch_size=state.batch_size, among=state.among)
    return PruneRow(concept=selection.concept, strategy=selection.strategy, seed=selection.seed,
                    reference=selection.reference, label=selection.label, **effect,
                    key=row_key(state.baseline_key, selection.units))


def row_key(baseline_key: str, units: Sequence[str]) -> str:
    """The cache key of a selection's row: the baseline's key and the ablated unit ids."""
    return hash_key(baseline_key, units)


def build_replica(target: Target, probe: ProbeSet, rows: np.ndarray, **shared: Any) -> MeasureReplica:
    """A worker's :class:`MeasureReplica`: `target` on the worker's device, the held-out `rows` of `probe` read there.

    Parameters
    ----------
    target : Target
    probe : ProbeSet
    rows : np.ndarray, shape (n,)
        Positions of the held-out clips in `probe`.
    **shared
        ``baseline``, ``classes``, ``among``, ``class_names``, ``batch_size``, ``baseline_key``.
    """
    from ..record.stage import model_replica

    target, probe = model_replica(target, probe)
    audio = HeldoutAudio(probe, rows, sample_rate=target.sample_rate)
    return MeasureReplica(target=target, audio=audio, **shared)


def replica_setup(pruning: Any) -> Callable[[], MeasureReplica]:
    """How a worker elsewhere builds its state for :func:`measure_row` from a
    :class:`~audiodissect.prune.runner.PruningContext`.

    A :class:`MeasureReplica` made on the worker from a CPU copy of the model
    and the probing set, so each worker reads the held-out audio once. (In
    this process the context itself is the state.)
    """
    from ..record.stage import shippable

    return functools.partial(build_replica, shippable(pruning.target), pruning.audio_source, pruning.audio.rows,
                             baseline=pruning.baseline, classes=pruning.classes, among=pruning.among,
                             class_names=list(pruning.class_names), batch_size=pruning.batch_size,
                             baseline_key=pruning.baseline_key)
