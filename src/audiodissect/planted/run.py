"""Runner of the planted-unit benchmark: identify the recorded planted layer's units, measure recovery."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..cache import atomic_path
from ..errors import AudioDissectError
from ..probes.base import ProbeSet
from ..rundir import PLANTED_TABLE, RunDir
from ..similarity.registry import DEFAULT_VARIANT
from ..targets.base import Target
from .benchmark import recovery_rows, table_columns
from .model import PLANTED_LAYER, planted_class_count, planted_concepts, planted_layer

#: ``evidence_fn(run, probe, concepts, methods) -> {method: (N, C)}``: clip-concept evidence
#: for every clip of the run (rows in clip order) and each method ("tab", "db").
EvidenceFn = Callable[[RunDir, ProbeSet, Sequence[str], Sequence[str]], Mapping[str, np.ndarray]]


def planted_scores(evidence: Mapping[str, np.ndarray], activations: np.ndarray, *,
                   similarities: Sequence[str], seed: int = 0,
                   variant: str = DEFAULT_VARIANT) -> dict[tuple[str, str], np.ndarray]:
    """Unit-concept scores of the planted units for every (method, similarity).

    Parameters
    ----------
    evidence : mapping of method to np.ndarray, shape (N, C)
        Probe rows only.
    activations : np.ndarray, shape (N, U)
        The planted layer on the same rows.
    similarities : sequence of str
        Names in the similarity registry.
    variant : {"robust", "paper"}
        The similarity functions' variant.

    Returns
    -------
    dict of (method, similarity) to np.ndarray, shape (U, C)
    """
    from ..identify.units import score_units

    out = {}
    for method, ev in evidence.items():
        ev = np.asarray(ev, dtype=np.float32)
        if ev.shape[0] != activations.shape[0]:
            raise AudioDissectError(f"{method} evidence has {ev.shape[0]} rows for {activations.shape[0]} clips")
        for name in similarities:
            out[(method, name)] = score_units(ev, activations, similarity=name, seed=seed, variant=variant).numpy()
    return out


def truth_indices(truth: Sequence[str], concepts: Sequence[str]) -> np.ndarray:
    """Index of each planted unit's concept in `concepts`, shape (U,); an error if one is missing."""
    position = {c: i for i, c in enumerate(concepts)}
    missing = [t for t in truth if t not in position]
    if missing:
        raise AudioDissectError(f"planted concepts missing from the concept set: {', '.join(missing)}",
                                hint="use audiodissect.planted.benchmark_concepts for the concept set")
    return np.array([position[t] for t in truth], dtype=np.int64)


def run_planted(run: RunDir, target: Target, probe: ProbeSet, *, concepts: Sequence[str],
                evidence_fn: EvidenceFn, methods: Sequence[str] = ("tab", "db"),
                similarities: Sequence[str] = ("cos", "cos3", "rank_reorder", "wpmi", "soft_wpmi"),
                variant: str = DEFAULT_VARIANT) -> list[dict[str, Any]]:
    """Measure how each method recovers the units of a planted target's recorded ``planted`` layer.

    `run` must hold a recording of the ``planted`` layer (the record stage).
    Writes ``concepts.txt``, ``planted/table.csv`` (one row per
    method and similarity, :data:`~audiodissect.planted.benchmark.TABLE_COLUMNS`
    and a top-1 column per group of harder units planted)
    and ``units/planted.jsonl`` (each planted unit's top-5 concepts per method
    and similarity, with its true concept).

    Parameters
    ----------
    run : RunDir
    target : Target
        Built with :func:`~audiodissect.planted.plant_units`.
    probe : ProbeSet
        Only its probe split is used to identify concepts.
    concepts : sequence of str
        Must contain every planted concept.
    evidence_fn : EvidenceFn
    methods, similarities : sequence of str
    variant : {"robust", "paper"}
        The similarity functions' variant.

    Returns
    -------
    list of dict
        The table rows.
    """
    from ..identify.units import concept_records

    if PLANTED_LAYER not in run.layers():
        raise AudioDissectError(f"{run.path} has no recording of the planted layer {PLANTED_LAYER!r}",
                                hint="record it first (Dissection(planted_target, probe, out=...).record"
                                     f"(layers=[{PLANTED_LAYER!r}]))")
    truth = planted_concepts(target)
    truth_idx = truth_indices(truth, concepts)
    run.write_concepts(concepts)
    rows = run.probe_rows()
    acts = np.asarray(run.activations(PLANTED_LAYER))[rows]
    evidence = {m: np.asarray(e)[rows] for m, e in evidence_fn(run, probe, concepts, methods).items()}
    scores = planted_scores(evidence, acts, similarities=similarities, variant=variant)
    table = recovery_rows(scores, truth_idx, n_classes=planted_class_count(target),
                          groups=[d.group for d in planted_layer(target).detectors])
    records = []
    for (method, similarity), s in scores.items():
        for r in concept_records(_tensor(s), concepts, layer=PLANTED_LAYER, method=method, similarity=similarity):
            records.append({**r, "truth": truth[r["index"]]})
    run.write_units("planted", records)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=table_columns(table), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    with atomic_path(run.file(PLANTED_TABLE)) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return table


def _tensor(array: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
