"""Which units to prune to make a model forget a concept (paper Step 4).

Strategies, for a target concept c:

- ``tab``: c is among the unit's top-3 concepts by TAB evidence with soft-WPMI;
- ``db``: c is among the unit's top-3 concepts by DB evidence with cos3;
- ``ocp`` (open-concept pruning): a noun of the unit's calibrated summary
  matches c (:mod:`audiodissect.prune.matching`: by lemma, or by
  sentence-embedding cosine);
- ``random``: as many units as a reference selection (by default one set of
  draws per other chosen strategy, so each is compared with random units of
  its own size), or a given count, drawn with a seed from every eligible
  recorded unit;
- ``units``: the unit ids a user names.

Only recorded layers can be chosen. The classifier's own output layer is left
out of the automatic strategies by default, because switching off the logit of
class c is a trivial way to forget c. The output layer is the *last* recorded
layer (in the model's module order) when its unit count equals the number of
class names (:func:`output_layer`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import read_json, write_json
from ..class_names import normalize_concept
from ..errors import AudioDissectError, unknown_name_error
from ..rundir import PRUNING_CONCEPT_SELECTION, RunDir, parse_unit_id, unit_id
from .matching import Encode, describe_match, match_nouns

STRATEGIES = ("tab", "db", "ocp", "random", "units")
#: (method, similarity) of the closed-set strategies, as in the paper.
CLOSED_SET = {"tab": ("tab", "soft_wpmi"), "db": ("db", "cos3")}


@dataclasses.dataclass
class Selection:
    """Units chosen to forget one concept.

    Attributes
    ----------
    strategy : str
        One of :data:`STRATEGIES`.
    concept : str
    units : list of str
        Unit ids, sorted by layer order then index.
    reasons : dict of str to str
        Why each unit was chosen, e.g. ``"tab/soft_wpmi rank 2"``.
    seed : int or None
        The seed of a random draw.
    reference : str or None
        For random draws: what fixed their size (a strategy name or ``"count"``).
    """

    strategy: str
    concept: str
    units: list[str]
    reasons: dict[str, str] = dataclasses.field(default_factory=dict)
    seed: int | None = None
    reference: str | None = None

    @property
    def label(self) -> str:
        """The strategy name; for a random draw ``"random-seed1"``, or ``"random-ocp-seed1"`` when sized like ocp's."""
        if self.seed is None:
            return self.strategy
        if self.reference in STRATEGIES:
            return f"{self.strategy}-{self.reference}-seed{self.seed}"
        return f"{self.strategy}-seed{self.seed}"

    def to_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def eligible_layers(layers: Mapping[str, int], output_layer: str | None, *,
                    include_output_layer: bool = False) -> dict[str, int]:
    """The recorded layers a strategy may choose from, in order: ``{layer: unit count}``.

    The model's output layer (:meth:`audiodissect.rundir.RunDir.output_layer`) is left
    out unless `include_output_layer`.
    """
    skip = None if include_output_layer else output_layer
    return {name: int(n) for name, n in layers.items() if name != skip}


def _sort_units(units: Sequence[str], order: Sequence[str]) -> list[str]:
    rank = {layer: i for i, layer in enumerate(order)}
    parsed = [parse_unit_id(u) for u in dict.fromkeys(units)]
    parsed.sort(key=lambda p: (rank.get(p[0], len(rank)), p[1]))
    return [unit_id(layer, index) for layer, index in parsed]


def select_closed_set(records: Sequence[Mapping[str, Any]], concept: str, *, method: str,
                      similarity: str, layers: Mapping[str, int], top: int = 3,
                      exclude: Collection[str] = ()) -> Selection:
    """Units whose top-`top` concepts by (`method`, `similarity`) include `concept`.

    Parameters
    ----------
    records : sequence of dict
        ``units/identify.jsonl`` records.
    concept : str
        Compared after :func:`~audiodissect.class_names.normalize_concept`.
    method, similarity : str
        E.g. ``("tab", "soft_wpmi")`` or ``("db", "cos3")``.
    layers : mapping of str to int
        Eligible layers; units of other layers are never chosen.
    top : int
    exclude : collection of str
        Unit ids never chosen (e.g. the units no evidence explains).

    Raises
    ------
    AudioDissectError
        When no record has this (method, similarity); the hint lists those present.
    """
    wanted = normalize_concept(concept)
    present = {(r.get("method"), r.get("similarity")) for r in records}
    if (method, similarity) not in present:
        have = sorted(f"{m}/{s}" for m, s in present)
        raise AudioDissectError(f"units/identify.jsonl has no {method}/{similarity} results",
                                hint="present: " + (", ".join(have) or "none") +
                                     f"; run `audiodissect identify` with {method} and {similarity}")
    reasons = {}
    for r in records:
        if (r.get("method") != method or r.get("similarity") != similarity or r.get("layer") not in layers
                or r["unit"] in exclude):
            continue
        names = [normalize_concept(c) for c in r.get("concepts", [])[:top]]
        if wanted in names:
            reasons[r["unit"]] = f"{method}/{similarity} rank {names.index(wanted) + 1}"
    units = _sort_units(reasons, list(layers))
    return Selection(strategy=method, concept=concept, units=units, reasons={u: reasons[u] for u in units})


def select_ocp(records: Sequence[Mapping[str, Any]], concept: str, *, layers: Mapping[str, int],
               encode: Encode | None = None, threshold: float | None = 0.7,
               exclude: Collection[str] = ()) -> Selection:
    """Units with a calibrated-summary noun that matches `concept` (open-concept pruning).

    Parameters
    ----------
    records : sequence of dict
        ``units/summarize.jsonl`` records (their ``"nouns"``).
    concept : str
    layers : mapping of str to int
        Eligible layers.
    encode : callable, optional
        A text embedder's ``encode``; without it nouns match by lemma only.
    threshold : float or None
        Embedding cosine needed for a match (see :func:`~audiodissect.prune.matching.match_nouns`).
    exclude : collection of str
        Unit ids never chosen.

    Notes
    -----
    Every distinct noun is matched once (one embedding batch), then units are
    looked up; a unit's reason names its best match (lemma before embedding,
    then the highest cosine).
    """
    kept = [r for r in records if r.get("layer") in layers and r["unit"] not in exclude]
    vocabulary = list(dict.fromkeys(n for r in kept for n in r.get("nouns", [])))
    matches = {noun: (how, score) for noun, how, score in
               match_nouns(vocabulary, concept, encode=encode, threshold=threshold)}
    reasons = {}
    for r in kept:
        hits = [(n, *matches[n]) for n in dict.fromkeys(r.get("nouns", [])) if n in matches]
        if hits:
            noun, how, score = min(hits, key=lambda h: (h[1] != "lemma", -(h[2] or 0.0)))
            reasons[r["unit"]] = describe_match(noun, concept, how, score)
    units = _sort_units(reasons, list(layers))
    return Selection(strategy="ocp", concept=concept, units=units, reasons={u: reasons[u] for u in units})


def select_random(layers: Mapping[str, int], count: int, *, seed: int, concept: str = "",
                  reference: str | None = None) -> Selection:
    """`count` distinct units drawn uniformly from every unit of `layers` with `seed`.

    The draw depends only on (`layers`, `count`, `seed`), so it is reproducible.
    """
    sizes = np.array([int(n) for n in layers.values()], dtype=np.int64)
    total = int(sizes.sum())
    if count > total:
        raise AudioDissectError(f"cannot draw {count} random units from {total}")
    flat = np.sort(np.random.default_rng(seed).choice(total, size=int(count), replace=False))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    which = np.searchsorted(starts, flat, side="right") - 1
    names = list(layers)
    units = [unit_id(names[w], i) for w, i in zip(which.tolist(), (flat - starts[which]).tolist())]
    return Selection(strategy="random", concept=concept, units=units,
                     reasons={u: f"random draw (seed {seed})" for u in units}, seed=int(seed),
                     reference=reference)


def select_given(units: Sequence[str], *, layers: Mapping[str, int], concept: str = "") -> Selection:
    """The user's `units`, checked against the recorded `layers` (any recorded layer, output included)."""
    for unit in units:
        layer, index = parse_unit_id(unit)
        if layer not in layers:
            raise unknown_name_error("recorded layer", layer, layers)
        if index >= int(layers[layer]):
            raise AudioDissectError(f"layer {layer!r} has {layers[layer]} units; no unit {index}",
                                    hint=f"unit indices run from 0 to {int(layers[layer]) - 1}")
    ordered = _sort_units(units, list(layers))
    return Selection(strategy="units", concept=concept, units=ordered,
                     reasons={u: "given" for u in ordered})


# -- saving -----------------------------------------------------------------------

def concept_slug(concept: str) -> str:
    """A file-system-safe folder name for a concept: ``"Crying baby!"`` -> ``"crying_baby"``."""
    slug = re.sub(r"[^a-z0-9]+", "_", normalize_concept(concept)).strip("_")
    return slug or "concept"


def selection_path(run: RunDir, selection: Selection) -> Path:
    """``pruning/<concept>/selection-<label>.json`` of `run` (``selection-random-ocp-seed<k>.json`` for draws)."""
    return run.file(PRUNING_CONCEPT_SELECTION, concept=concept_slug(selection.concept), label=selection.label)


def save_selection(run: RunDir, selection: Selection) -> Path:
    """Write `selection` into `run` (:func:`selection_path`); returns the file."""
    path = selection_path(run, selection)
    write_json(path, selection.to_record())
    return path


def load_selection(path: str | Path) -> Selection:
    return Selection(**read_json(path))


def saved_selections(run: RunDir, concept: str) -> list[Selection]:
    """The selections saved in `run` for `concept`, in file-name order."""
    pattern = PRUNING_CONCEPT_SELECTION.format(concept=concept_slug(concept), label="*")
    return [load_selection(path) for path in sorted(run.path.glob(pattern))]
