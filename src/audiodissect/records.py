"""The record types of a run directory: what each per-unit or per-selection line of its JSON-lines files holds.

Every record is a frozen dataclass with :meth:`~Record.to_json` and
:meth:`~Record.from_json`; the JSON carries the record's ``format`` version,
so a file written by a newer version is refused rather than misread, and a
file written by an older one is read with the defaults of the fields it
lacks. Keys a record type does not know are kept in :attr:`Record.extra`
(and written back), so nothing is lost on a round trip. Records read like
mappings too (``record["concepts"]``, ``record.get("icl_top1")``), as their
JSON does. :mod:`audiodissect.rundir` reads and writes them; nothing else
builds the JSON of a record by hand.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring  # the strings of json.dumps(..., ensure_ascii=False)
from typing import Any, ClassVar, TypeVar

import numpy as np

from .cache import gc_paused, json_line
from .errors import AudioDissectError

R = TypeVar("R", bound="Record")


def unit_id(layer: str, index: int) -> str:
    """The id of unit `index` of `layer`: ``"<module path>#<index>"``."""
    return f"{layer}#{int(index)}"


def ranking_key(record: Mapping[str, Any]) -> str:
    """``"<method>/<similarity>"`` of a concept ranking (a record or its JSON), or the method alone when it has
    no similarity function: the name of its column in the tables and the report."""
    similarity = record.get("similarity")
    return f"{record['method']}/{similarity}" if similarity else str(record["method"])


def parse_unit_id(unit: str) -> tuple[str, int]:
    """Split ``"<module path>#<index>"`` into (layer, index)."""
    layer, sep, index = str(unit).rpartition("#")
    if not sep or not (index.isascii() and index.isdigit()):  # "²" and other Unicode digits are no index
        raise AudioDissectError(f"bad unit id {unit!r}", hint="unit ids look like 'classifier#3'")
    return layer, int(index)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")


@functools.cache
def _field_set(cls: type) -> frozenset[str]:
    return frozenset(_field_names(cls))


@functools.cache
def _required_names(cls: type) -> tuple[str, ...]:
    """The fields a record of `cls` must be given (no default)."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra"
                 and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


@functools.cache
def _defaults(cls: type) -> tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]:
    """({field: its default value}, ((field, its default factory), ...)) of `cls`, ``extra`` left out."""
    fields = [f for f in dataclasses.fields(cls) if f.name != "extra"]
    return ({f.name: f.default for f in fields if f.default is not dataclasses.MISSING},
            tuple((f.name, f.default_factory) for f in fields if f.default_factory is not dataclasses.MISSING))


def _unchecked(cls: type[R], fields: Mapping[str, Any]) -> R:
    """A `cls` record whose attributes are `fields` (every field and ``extra``), set as the dataclass's
    ``__init__`` would set them but without its frozen per-field ``setattr`` calls or its checks: for records
    made or read by the hundred thousand, whose callers check them (or know them right) as a whole."""
    record = object.__new__(cls)
    record.__dict__.update(fields)
    return record


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record(Mapping):
    """Base of the record types: JSON round trip with a format version, and mapping-style reads.

    Attributes
    ----------
    extra : dict
        Keys of the JSON this record type does not declare, kept as they were.
    """

    FORMAT: ClassVar[int] = 1
    extra: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        """Checks of a record's fields together (none here; :meth:`from_json` calls it too)."""

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The declared fields, in order (``extra`` left out)."""
        return _field_names(cls)

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-able plain data: its fields, its extra keys and ``format``."""
        fields = self.__dict__
        return {"format": self.FORMAT, **{name: fields[name] for name in self.field_names()}, **self.extra}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Record:
        """A record from its JSON (a mapping); fields the JSON lacks take their defaults.

        Raises
        ------
        AudioDissectError
            For a record written by a newer version, or one without a required field.
        """
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise AudioDissectError(f"a {cls.__name__} record must be a JSON object, got {type(data).__name__}")
        values = dict(data)
        version = values.pop("format", 1)
        if not isinstance(version, int) or version > cls.FORMAT:
            raise AudioDissectError(f"a {cls.__name__} record of format {version!r}: this version of audiodissect "
                                    f"reads up to format {cls.FORMAT}", hint="upgrade audiodissect")
        if values.keys() <= _field_set(cls):  # no extra keys (the usual case): every value is a field's
            known, values = values, {}
        else:
            known = {name: values.pop(name) for name in cls.field_names() if name in values}
        missing = [name for name in _required_names(cls) if name not in known]
        if missing:
            raise AudioDissectError(f"a {cls.__name__} record lacks {', '.join(missing)}: {dict(data)!r:.200}")
        # every field, the defaults of those the JSON lacks, then __post_init__'s checks, as the dataclass's
        # __init__ would do, but without its per-field setattr calls: a large run reads millions of records
        defaults, factories = _defaults(cls)
        fields = dict(defaults)
        fields.update((name, factory()) for name, factory in factories if name not in known)
        fields.update(known, extra=values)
        record = _unchecked(cls, fields)
        record.__post_init__()
        return record

    # -- mapping-style reads ---------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        fields = self.__dict__  # the dataclass's fields (and ``extra``, which is no key of the JSON)
        if key in fields and key != "extra":
            return fields[key]
        return self.extra[key]

    def get(self, key: str, default: Any = None) -> Any:
        fields = self.__dict__
        if key in fields and key != "extra":
            return fields[key]
        return self.extra.get(key, default)

    def __iter__(self) -> Iterator[str]:
        yield from self.field_names()
        yield from self.extra

    def __len__(self) -> int:
        return len(self.field_names()) + len(self.extra)

    def __contains__(self, key: object) -> bool:
        return key in self.field_names() or key in self.extra

    def _repr_html_(self) -> str:
        """The record's fields as a small table (notebooks)."""
        from .htmlrepr import fields

        unit = getattr(self, "unit", None)
        return fields([(key, self[key]) for key in self], caption=type(self).__name__ + (f" {unit}" if unit else ""))

    __hash__ = None  # type: ignore[assignment]  # records hold lists: compared by value, never hashed


@dataclasses.dataclass(frozen=True, kw_only=True)
class UnitRecord(Record):
    """A record about one unit: its id, layer and index within the layer."""

    unit: str
    layer: str
    index: int

    def __post_init__(self) -> None:
        if self.unit != f"{self.layer}#{self.index}" and self.unit != unit_id(self.layer, self.index):
            raise AudioDissectError(f"record of unit {self.unit!r} names layer {self.layer!r} and index {self.index}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConceptRanking(UnitRecord):
    """A unit's closed-set concepts under one method and similarity function, best first (Module A).

    Attributes
    ----------
    method : str
        ``tab`` or ``db`` (or the evidence a benchmark used).
    similarity : str or None
        The similarity function (``top5`` for DB's top-k scope).
    concepts : list of str
        The top concepts, best first.
    scores : list of float
        Their scores, in the same order.
    """

    method: str
    similarity: str | None
    concepts: list[str]
    scores: list[float]


@dataclasses.dataclass(frozen=True, eq=False)
class ConceptRankingBlock:
    """The :class:`ConceptRanking` records of some units of one layer under one method and similarity, as arrays.

    A layer's rankings are made, and written, a block at a time: :meth:`json_lines` gives each record's line
    as :meth:`ConceptRanking.to_json` and the run's JSON-lines writer would, without making the records.

    Attributes
    ----------
    layer, method : str
    similarity : str or None
    indices : np.ndarray, shape (U,), int
        The units' indices in the layer.
    concepts : sequence of str, length C
        The names `order` indexes.
    order : np.ndarray, shape (U, k), int
        Each unit's top concepts, best first (indices into `concepts`).
    scores : np.ndarray, shape (U, k), float
        Their scores, as written.
    """

    layer: str
    method: str
    similarity: str | None
    indices: np.ndarray
    concepts: Sequence[str]
    order: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def records(self) -> list[ConceptRanking]:
        """The block's records, in unit order."""
        names = np.asarray(self.concepts, dtype=object)[self.order].tolist()  # (U, k)
        scores = self.scores.tolist()                                          # (U, k)
        layer, method, similarity = self.layer, self.method, self.similarity
        # unchecked: the block's ids are right by construction, and a large layer has tens of thousands of records
        with gc_paused():
            return [_unchecked(ConceptRanking, {"extra": {}, "unit": f"{layer}#{u}", "layer": layer, "index": u,
                                                "method": method, "similarity": similarity, "concepts": n,
                                                "scores": s})
                    for u, n, s in zip(self.indices.tolist(), names, scores)]

    def json_lines(self) -> list[str]:
        """Each record's JSON line (no newline), the same text as its :meth:`~Record.to_json` written as a line."""
        def text(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False)

        names = np.asarray([text(c) for c in self.concepts], dtype=object)[self.order].tolist()  # (U, k)
        number = repr if bool(np.isfinite(self.scores).all()) else _json_number
        unit = text(self.layer + "#")[:-1]  # the unit id's opening quote and layer, escaped
        head = f'{{"format": {ConceptRanking.FORMAT}, "unit": {unit}'
        middle = f'", "layer": {text(self.layer)}, "index": '
        tail = f', "method": {text(self.method)}, "similarity": {text(self.similarity)}, "concepts": ['
        return [f'{head}{u}{middle}{u}{tail}{", ".join(n)}], "scores": [{", ".join(map(number, s))}]}}'
                for u, n, s in zip(self.indices.tolist(), names, self.scores.tolist())]


class LazyRecords(Sequence):
    """Records made on first use: a stage returns them without making hundreds of thousands it may not need.

    A sequence (length, indexing, slicing, iteration, equality with a list);
    the records are made once, by `make`, when one is first asked for. Pickled,
    it is a plain list.

    Parameters
    ----------
    make : callable
        Returns the records, a list.
    length : int, optional
        How many `make` will return (then ``len`` does not make them).
    """

    def __init__(self, make: Callable[[], list], *, length: int | None = None):
        self._make: Callable[[], list] | None = make
        self._records: list | None = None
        self._length = length

    @classmethod
    def of_blocks(cls, blocks: Sequence[ConceptRankingBlock]) -> LazyRecords:
        """The records of `blocks`, block after block."""
        blocks = list(blocks)
        return cls(lambda: [r for b in blocks for r in b.records()], length=sum(len(b) for b in blocks))

    def _list(self) -> list:
        if self._records is None:
            self._records = list(self._make())  # type: ignore[misc]
            self._make = None
        return self._records

    def __len__(self) -> int:
        return self._length if self._records is None and self._length is not None else len(self._list())

    def __getitem__(self, index):
        return self._list()[index]

    def __iter__(self) -> Iterator:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (LazyRecords, list)):
            return self._list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):
        return list, (self._list(),)

    def __repr__(self) -> str:
        return f"LazyRecords({len(self)} records{'' if self._records is not None else ', not made yet'})"


def _json_number(x: float) -> str:
    """A float as the json module writes it (NaN, Infinity and -Infinity included)."""
    if math.isfinite(x):
        return repr(x)
    return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")


@dataclasses.dataclass(frozen=True, kw_only=True)
class UnitName(UnitRecord):
    """A unit's one answer: its name, or None ("unexplained"), the evidence for it and how sure it is.

    See :mod:`audiodissect.identify.naming` for the rule.

    Attributes
    ----------
    name : str or None
        The concept, or None when no evidence source explains the unit significantly.
    status : {"named", "ambiguous", "unexplained"}
        ``named``: significant with a clear margin over the runner-up (a confident name);
        ``ambiguous``: significant, but the runner-up is about as good.
    method : str or None
        The evidence source that names the unit (``tab``, ``db``, ``labels``).
    similarity : str
        The similarity function the names are scored with.
    score, z, margin : float or None
        The best concept's score; its distance from the permutation null's mean and
        its gap to the runner-up, both in null standard deviations.
    p_value, q_value : float or None
        Permutation p-value of the best score, and its Benjamini-Hochberg adjustment
        over the layer's units.
    runner_up : str or None
    candidates : dict
        Every source's best concept with its score, z, margin, p- and q-value and runner-up.
    """

    name: str | None
    status: str
    method: str | None = None
    similarity: str
    score: float | None = None
    z: float | None = None
    margin: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    runner_up: str | None = None
    candidates: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def confident(self) -> bool:
        """Whether the name is confident (status ``named``)."""
        return self.status == "named"


@dataclasses.dataclass(frozen=True, kw_only=True)
class NameStability(UnitRecord):
    """Whether a unit's name survives resampling of the probing set and a little noise in the audio.

    Attributes
    ----------
    name, method : str
        The unit's name and the evidence source that gave it.
    bootstrap_survival : float
        Share of bootstrap resamples of the probe clips whose best concept is still the name.
    noise_name : str
        The best concept on the same clips with Gaussian noise added to the audio.
    noise_flipped : bool
        Whether it differs from the name.
    """

    name: str
    method: str
    bootstrap_survival: float
    noise_name: str
    noise_flipped: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class CausalEffect(UnitRecord):
    """What switching a named unit off, or turning it up, does to the model's output on clips with its concept.

    Attributes
    ----------
    name, method : str
    clips_with, clips_without : int
        Held-out clips with the named concept, and without.
    ablate_with, ablate_without : float
        Mean change of the output (L2 norm of the logits' change) on each group with the unit zeroed.
    amplify_with, amplify_without : float
        The same with the unit's output scaled up.
    specificity : float
        ``(ablate_with - ablate_without) / mean change``: how much more the clips with the concept
        depend on the unit than the others.
    random_mean, random_sd : float or None
        The same specificity for size-matched random units of the layer, on the same clips.
    z : float or None
        ``(specificity - random_mean) / random_sd``.
    """

    name: str
    method: str
    clips_with: int
    clips_without: int
    ablate_with: float
    ablate_without: float
    amplify_with: float
    amplify_without: float
    specificity: float
    random_mean: float | None = None
    random_sd: float | None = None
    z: float | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class UnitSummary(UnitRecord):
    """A unit's summaries, calibration, open concepts and ICL choice (Modules B and C).

    ``top_clips`` and ``bottom_clips`` are clip ids, best first; a field the
    summary has nothing for is empty; the ``icl_*`` fields are None when ICL did not run (see
    :func:`~audiodissect.summarize.icl.choose_concepts` for their meaning).
    """

    top_clips: list[Any] = dataclasses.field(default_factory=list)
    bottom_clips: list[Any] = dataclasses.field(default_factory=list)
    s_high: str = ""
    s_low: str = ""
    calibrated_summary: str = ""
    kept_sentences: list[str] = dataclasses.field(default_factory=list)
    removed_sentences: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    adjectives: list[str] = dataclasses.field(default_factory=list)
    acoustic_adjectives: list[str] = dataclasses.field(default_factory=list)
    nouns: list[str] = dataclasses.field(default_factory=list)
    verbs: list[str] = dataclasses.field(default_factory=list)
    prepositions: list[str] = dataclasses.field(default_factory=list)
    summary_length: int = 0
    icl_top1: str | None = None
    icl_top1_cosine: float | None = None
    icl_status: str | None = None
    icl_answer: str | None = None
    icl_parsed: list[str] | None = None
    icl_topk: list[str] | None = None
    icl_answer_topk: str | None = None
    icl_parsed_topk: list[str] | None = None
    icl_status_topk: str | None = None
    icl_summary_source: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExplanationScore(UnitRecord):
    """How well one explanation of a unit predicts it on the held-out clips.

    Attributes
    ----------
    explanation : str
        Its kind (``tab/cos3``, ``icl``, ``summary``, ``calibrated``, ``open_concepts``).
    text : str
    predictor : str
        ``description`` or ``audio_text``.
    spearman, pearson : float or None
        None where undefined (a constant prediction or unit).
    n_clips : int
    spearman_low, spearman_high : float or None
        The Spearman correlation's 95 % bootstrap interval over the held-out clips.
    detection_auprc, detection_bacc : float or None
        How well the explanation's predictions pick the unit's top 10 % held-out clips out of as many
        random others: average precision and balanced accuracy (0.5: chance).
    detection_auprc_hard, detection_bacc_hard : float or None
        The same against the clips nearest to the top clips in an audio embedding (hard negatives).
    """

    explanation: str
    text: str
    predictor: str
    spearman: float | None
    pearson: float | None
    n_clips: int
    spearman_low: float | None = None
    spearman_high: float | None = None
    detection_auprc: float | None = None
    detection_bacc: float | None = None
    detection_auprc_hard: float | None = None
    detection_bacc_hard: float | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class ExplanationScoreBlock:
    """The :class:`ExplanationScore` records of one layer's explanations under one predictor, as columns.

    The score stage makes, writes and summarises a run's scores a block at a time: :meth:`json_lines` gives
    each record's line as :meth:`ExplanationScore.to_json` and the run's JSON-lines writer would, and
    :meth:`field` a column, without making the records.

    Attributes
    ----------
    layer, predictor : str
    n_clips : int
    explanations : sequence of mapping, length R
        Each explanation's ``unit``, ``index``, ``explanation`` (its kind) and ``text``.
    measures : dict of str to list of (float or None)
        Each measure field of :class:`ExplanationScore` (``spearman``, ``detection_auprc``, ...), one value
        per explanation, as written (None where undefined).
    """

    layer: str
    predictor: str
    n_clips: int
    explanations: Sequence[Mapping[str, Any]]
    measures: Mapping[str, Sequence[float | None]]

    _PER_EXPLANATION: ClassVar[tuple[str, ...]] = ("unit", "index", "explanation", "text")

    def __len__(self) -> int:
        return len(self.explanations)

    def field(self, name: str) -> list[Any]:
        """The field `name` of every record, in order (None where a record would lack it)."""
        if name in self.measures:
            return list(self.measures[name])
        if name in self._PER_EXPLANATION:
            return [int(e[name]) if name == "index" else e[name] for e in self.explanations]
        value = {"layer": self.layer, "predictor": self.predictor, "n_clips": self.n_clips}.get(name)
        return [value] * len(self)

    def records(self) -> list[ExplanationScore]:
        """The block's records, in order."""
        columns = {name: self.field(name) for name in ExplanationScore.field_names()}
        # unchecked: each explanation's unit, layer and index come from one record
        with gc_paused():
            return [_unchecked(ExplanationScore, dict(zip(columns, values), extra={}))
                    for values in zip(*columns.values())]

    def json_lines(self) -> list[str]:
        """Each record's JSON line (no newline), the same text as its :meth:`~Record.to_json` written as a line."""
        # one template per block: the fields every record shares written into it, a slot for each of the others
        parts, columns = [f'{{"format": {ExplanationScore.FORMAT}'], []
        for name in ExplanationScore.field_names():
            if name in ("layer", "predictor", "n_clips"):
                parts.append(f'"{name}": ' + json_line(getattr(self, name)).replace("%", "%%"))
            else:
                parts.append(f'"{name}": %s')
                columns.append(_json_column(self.field(name)))
        template = ", ".join(parts) + "}"
        return [template % row for row in zip(*columns)]


def _json_column(values: Sequence[Any]) -> list[str]:
    """Each of `values` as the run's JSON-lines writer writes it (:func:`audiodissect.cache.write_jsonl`), with
    the column's usual types (strings, floats with None, ints) written in bulk: each distinct string escaped
    once, floats by ``float.__repr__``."""
    types = set(map(type, values))
    if types <= {str}:
        escaped = {text: encode_basestring(text) for text in set(values)}  # json.dumps(text, ensure_ascii=False)
        return [escaped[text] for text in values]
    if types <= {float, type(None)}:
        out = ["null" if v is None else float.__repr__(v) for v in values]
        if {"nan", "inf", "-inf"}.isdisjoint(out):
            return out
    if types <= {int}:
        return list(map(int.__repr__, values))
    return [json_line(v) for v in values]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PruneRow(Record):
    """One measured selection: a concept's units under one strategy (or one random draw) switched off.

    Attributes
    ----------
    concept, strategy, label : str
        The label names the selection in its concept (``tab``, ``random-db-seed0``).
    seed : int or None
        Random draws only.
    reference : str or None
        The strategy a random draw is sized like.
    units_pruned : int
    dA, dR, selectivity : float
        Mean change of the true-class logit on the concept's held-out clips, on the
        others, and dR - dA (NaN over an empty group).
    acc_c_before, acc_c_after, acc_rest_before, acc_rest_after : float
    n_c, n_rest : int
    class_change : dict of str to float or None
        Mean change per class index (None in rows measured before it was).
    key : str
        The row's cache key (the model, the held-out clips and the units).
    """

    concept: str
    strategy: str
    label: str
    seed: int | None = None
    reference: str | None = None
    units_pruned: int
    dA: float
    dR: float
    selectivity: float
    acc_c_before: float
    acc_c_after: float
    acc_rest_before: float
    acc_rest_after: float
    n_c: int
    n_rest: int
    class_change: dict[str, float] | None = None
    key: str


#: The record type of each ``units/<stage>.jsonl``.
UNIT_RECORDS: dict[str, type[UnitRecord]] = {
    "identify": ConceptRanking,
    "names": UnitName,
    "stability": NameStability,
    "causal": CausalEffect,
    "summarize": UnitSummary,
    "score": ExplanationScore,
    "planted": ConceptRanking,
}
