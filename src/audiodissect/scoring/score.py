"""Explanation scoring by simulation: explain, simulate, score.

Every explanation a run produced for a unit is turned into a prediction of
the unit's activations on the run's held-out clips, from the explanation's
text alone, and scored by its correlation with the real activations.

Explanation kinds (the ``explanation`` field of ``units/score.jsonl``):

==================  ============================================================
kind                text
==================  ============================================================
``<method>/<sim>``  the top-1 closed-set concept of (method, similarity) in
                    ``units/identify.jsonl``, e.g. ``tab/soft_wpmi``, ``db/cos3``
``icl``             the ICL concept (``identify.jsonl`` method ``icl``, else the
                    ``icl_top1`` field of ``units/summarize.jsonl``)
``summary``         the raw summary of the top clips, S_high (``s_high``)
``calibrated``      the calibrated summary (Module B, ``calibrated_summary``)
``open_concepts``   the acoustic adjectives and nouns (Module C) as one phrase
==================  ============================================================

Predictors (the ``predictor`` field): ``description`` is the cosine between
the explanation's sentence embedding and each held-out clip's description
embedding (:class:`DescriptionEvidence`); ``audio_text`` is whatever
:data:`ExplanationEvidence` the audio-text backend supplies (for CLAP: the
cosine between each held-out clip's audio embedding and the text's
embedding). Only held-out clips are used: the probe clips that described the
units never enter a score.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import operator
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..arrays import BLOCK_ELEMENTS, RowSubset
from ..cache import atomic_path, gc_paused, hash_file, read_json
from ..errors import AudioDissectError
from ..executor import Executor, LocalExecutor
from ..probes.base import HELDOUT
from ..progress import ProgressHook, default_hook
from ..records import ExplanationScore, ExplanationScoreBlock, LazyRecords
from ..rundir import RunDir
from ..threads import thread_map, thread_workers
from .blocks import PredictionTable, layer_correlations
from .simulate import simulate

#: ``explanation_evidence(texts) -> (N_heldout, len(texts))``: a similarity between every
#: held-out clip (rows in clip order) and every text; higher = the clip fits the text better.
ExplanationEvidence = Callable[[Sequence[str]], np.ndarray]

SUMMARY_KINDS = ("summary", "calibrated", "open_concepts")
SUMMARY_COLUMNS = ("predictor", "explanation", "layer", "n", "n_undefined", "spearman_mean",
                   "spearman_median", "spearman_share_positive", "pearson_mean", "spearman_mean_low",
                   "spearman_mean_high", "unit_halfwidth", "clips_for_halfwidth_0.1", "detection_auprc",
                   "detection_bacc", "detection_auprc_hard", "detection_bacc_hard")
#: Resamples of the units for each mean's bootstrap interval.
MEAN_BOOTSTRAP = 1000


class DescriptionEvidence:
    """Description similarity: cosine of text embeddings with the clips' description embeddings.

    Parameters
    ----------
    descriptions : sequence of str, length N
        One description per clip, in row order.
    embedder : TextEmbedder
        ``encode(texts) -> (n, d)`` unit-norm rows.
    """

    name = "description"

    def __init__(self, descriptions: Sequence[str], *, embedder):
        self.embedder = embedder
        self.clip_vectors = np.asarray(embedder.encode(list(descriptions)), dtype=np.float32)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Similarities, shape (N, len(texts)), float32."""
        return simulate(self.embedder.encode(list(texts)), self.clip_vectors)


def open_concept_phrase(record: Mapping[str, Any]) -> str:
    """One phrase of a unit's open-set concepts: acoustic adjectives, then nouns.

    ``{"acoustic_adjectives": ["loud", "high-pitched"], "nouns": ["whistle", "bird"]}``
    gives ``"loud, high-pitched whistle, bird"``. Without an ``acoustic_adjectives``
    field the plain ``adjectives`` are used.
    """
    adjectives = record.get("acoustic_adjectives")
    if adjectives is None:
        adjectives = record.get("adjectives") or []
    nouns = record.get("nouns") or []
    return " ".join(part for part in (", ".join(adjectives), ", ".join(nouns)) if part)


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    return " ".join(str(value or "").split())


def collect_explanations(identify: Sequence[Mapping[str, Any]],
                         summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every (unit, explanation kind, text) to score, empty texts left out.

    Parameters
    ----------
    identify : sequence of dict
        ``units/identify.jsonl`` records.
    summaries : sequence of dict
        ``units/summarize.jsonl`` records.

    Returns
    -------
    list of dict
        ``{"unit", "layer", "index", "explanation", "text"}``, one per (unit, kind).
    """
    with gc_paused():
        return _collect_explanations(identify, summaries)


def _collect_explanations(identify: Sequence[Mapping[str, Any]],
                          summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}

    def add(record: Mapping[str, Any], kind: str, text: str) -> None:
        text = _text(text)
        if text and (record["unit"], kind) not in out:
            out[(record["unit"], kind)] = {"unit": record["unit"], "layer": record["layer"],
                                           "index": int(record["index"]), "explanation": kind, "text": text}

    for r in identify:
        if not r.get("concepts"):
            continue
        kind = "icl" if r["method"] == "icl" else f"{r['method']}/{r['similarity']}"
        add(r, kind, r["concepts"][0])
    for r in summaries:
        if r.get("icl_status") != "copied_list":  # a copied candidate list chose nothing
            add(r, "icl", r.get("icl_top1") or ((r.get("icl") or {}).get("concepts") or [""])[0])
        add(r, "summary", r.get("s_high"))
        add(r, "calibrated", r["calibrated_summary"] if "calibrated_summary" in r else r.get("calibrated"))
        add(r, "open_concepts", open_concept_phrase(r))
    return list(out.values())


def score_explanations(explanations: Sequence[Mapping[str, Any]], activations: Mapping[str, np.ndarray],
                       predictors: Mapping[str, ExplanationEvidence], *,
                       hook: ProgressHook | None = None, block_units: int | None = None,
                       executor: Executor | None = None, bootstrap: int = 0, embedding: np.ndarray | None = None,
                       seed: int = 0) -> Sequence[ExplanationScore]:
    """Correlate every explanation's simulated activations with the real ones, and score its detection.

    The distinct texts of all explanations are predicted once by every
    predictor (:class:`~audiodissect.scoring.blocks.PredictionTable`); then,
    layer by layer, a block of units at a time
    (:func:`~audiodissect.scoring.blocks.layer_correlations`), each block of
    activations is ranked once and the correlations of all its (text, unit)
    pairs are batched column dot products. With an executor, the text chunks
    are predicted and the layers correlated by its workers (each layer's
    activations travel as their file name when they are a memory map); the
    records are the same.

    Parameters
    ----------
    explanations : sequence of dict
        From :func:`collect_explanations`.
    activations : mapping of layer to np.ndarray, np.memmap or RowSubset, shape (n, U)
        Real activations on the scoring clips (held-out rows only).
    predictors : mapping of predictor name to ExplanationEvidence
        Each maps texts to (n, len(texts)) predictions on the same clips.
    hook : ProgressHook, optional
        Told ``("score", None, completed=, total=)`` once per layer.
    block_units : int, optional
        Units read at once (default: about 64 MiB of working copies).
    executor : Executor, optional
        Where predictions and correlations run (default: in this process).
    bootstrap : int
        Resamples of the clips for each Spearman correlation's interval (0: none).
    embedding : np.ndarray, shape (n, d), optional
        The scoring clips' audio embeddings, for detection against hard negatives.
    seed : int
        Draws the bootstrap samples and the random negatives.

    Returns
    -------
    sequence of ExplanationScore
        One record per (explanation, predictor): the correlations (None where
        undefined), their intervals and the detection scores
        (:mod:`~audiodissect.scoring.detection`); predictor by predictor, layer
        by layer in first-seen order, explanations in their order within a layer.
        Made when first read (:class:`~audiodissect.records.LazyRecords`).
    """
    return LazyRecords.of_blocks(score_blocks(explanations, activations, predictors, hook=hook,
                                              block_units=block_units, executor=executor, bootstrap=bootstrap,
                                              embedding=embedding, seed=seed))


def score_blocks(explanations: Sequence[Mapping[str, Any]], activations: Mapping[str, np.ndarray],
                 predictors: Mapping[str, ExplanationEvidence], *,
                 hook: ProgressHook | None = None, block_units: int | None = None,
                 executor: Executor | None = None, bootstrap: int = 0, embedding: np.ndarray | None = None,
                 seed: int = 0) -> list[ExplanationScoreBlock]:
    """:func:`score_explanations`'s records as blocks of columns, one per (predictor, layer), in its order:
    written (:meth:`~audiodissect.rundir.RunDir.write_blocks`) and summarised (:func:`summarize_score_blocks`)
    without making a record."""
    hook = hook or default_hook()
    by_layer: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    text_pos: dict[str, int] = {}
    for e in explanations:
        if e["layer"] not in activations:
            raise AudioDissectError(f"explanations name layer {e['layer']!r}, which has no activations",
                                    hint="record the layer again, or rerun the later stages")
        by_layer[e["layer"]].append(e)
        text_pos.setdefault(e["text"], len(text_pos))
    n_clips = {int(activations[layer].shape[0]) for layer in by_layer}
    if len(n_clips) > 1:
        raise AudioDissectError(f"the layers' activations have different numbers of clips: {sorted(n_clips)}")
    tasks = []
    for layer, group in by_layer.items():
        u_idx = np.fromiter((e["index"] for e in group), dtype=np.int64, count=len(group))
        t_idx = np.fromiter((text_pos[e["text"]] for e in group), dtype=np.int64, count=len(group))
        if len(u_idx) and (u_idx.min() < 0 or u_idx.max() >= activations[layer].shape[1]):
            raise AudioDissectError(f"a unit index of layer {layer!r} is outside its "
                                    f"{activations[layer].shape[1]} units")
        tasks.append((activations[layer], u_idx, t_idx))
    hook("score", None, completed=0, total=len(by_layer))
    executor = executor or LocalExecutor()
    # the texts are predicted (embedded) only once every unit index is known to be valid
    n = n_clips.pop() if n_clips else 0
    predictions = PredictionTable(predictors, list(text_pos), n=n, executor=executor)
    resamples = np.random.default_rng(seed).integers(0, n, size=(bootstrap, n)) if bootstrap and n else None
    correlate = functools.partial(_correlate_layer, predictions=predictions, block_units=block_units,
                                  resamples=resamples, embedding=embedding, seed=seed)
    # in this process, layers side by side on threads once the predictions are a table that is only read
    # (a layer's working copies are at most a block of float64 values)
    results = thread_map(correlate, tasks, workers=thread_workers(item_bytes=8 * BLOCK_ELEMENTS)) \
        if executor.name == "local" and predictions.complete else executor.map(correlate, tasks)
    scores: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for step, (layer, result) in enumerate(zip(by_layer, results), 1):
        scores[layer] = result
        hook("score", None, completed=step, total=len(by_layer))
    return [ExplanationScoreBlock(layer=layer, predictor=pname, n_clips=n, explanations=group,
                                  measures={name: _rounded(values) for name, values in scores[layer][pname].items()})
            for pname in predictors for layer, group in by_layer.items()]


def _correlate_layer(task: tuple[Any, np.ndarray, np.ndarray], *, predictions: PredictionTable,
                     block_units: int | None, resamples: np.ndarray | None, embedding: np.ndarray | None,
                     seed: int) -> dict[str, dict[str, np.ndarray]]:
    """:func:`~audiodissect.scoring.blocks.layer_correlations` of one ``(activations, units, text ids)`` task."""
    activations, units, text_ids = task
    return layer_correlations(activations, units, text_ids, predictions, block_units=block_units,
                              resamples=resamples, embedding=embedding, seed=seed)


def _rounded(x: np.ndarray) -> list[float | None]:
    """`x` (R,) rounded to 6 decimals as Python floats, each ``round(v, 6)``; None where not finite.

    Vectorised: ``rint(v * 1e6) / 1e6`` is ``round(v, 6)`` (the float nearest the decimal rounded half to even)
    wherever the product's rounding cannot move it across a half-way point, and the quotient of two exact
    integers is correctly rounded; the rest (products within 1e-6 of a half-way point, magnitudes past 2**52,
    non-finite values) are rounded one by one.
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = x * 1e6
        out = (np.rint(scaled) / 1e6).tolist()
        slow = ~(np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) >= 1e-6) | ~(np.abs(scaled) < 2.0**52)
    for i in np.flatnonzero(slow).tolist():
        v = float(x[i])
        out[i] = round(v, 6) if math.isfinite(v) else None
    return out


def summarize_scores(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Distribution of scores per (predictor, explanation kind), over all layers and per layer.

    Undefined scores (None: a constant unit or prediction) count as 0 in the
    mean and median and as not positive, and are counted in ``n_undefined``.
    ``spearman_mean_low`` and ``_high`` bound the mean by a percentile
    bootstrap over the units (:data:`MEAN_BOOTSTRAP` resamples, seeded);
    ``unit_halfwidth`` is the median half-width of the units' own intervals and
    ``clips_for_halfwidth_0.1`` the held-out clips that would narrow it to 0.1
    (half-widths shrink with the square root of the clips). The detection
    columns are means over the units that have them.

    Returns
    -------
    list of dict
        Rows with :data:`SUMMARY_COLUMNS`, by predictor and explanation (alphabetical); for each, the pooled
        row (``layer`` ``"all"``) first, then one per layer in the order the records first name them.
    """
    return _summary_rows(lambda name: _field(records, name))


def summarize_score_blocks(blocks: Sequence[ExplanationScoreBlock]) -> list[dict[str, Any]]:
    """:func:`summarize_scores` of the records of `blocks` (from :func:`score_blocks`), read from their columns."""
    return _summary_rows(lambda name: [value for block in blocks for value in block.field(name)])


def _summary_rows(field: Callable[[str], list[Any]]) -> list[dict[str, Any]]:
    """:func:`summarize_scores`'s rows from `field`, which gives a field of every record (R,) by its name."""
    columns = {name: np.array(field(name), dtype=np.float64)  # numpy makes None NaN
               for name in ("spearman", "pearson", "spearman_low", "spearman_high", "n_clips",
                            *SUMMARY_COLUMNS[-4:])}  # each (R,)
    predictors, predictor = _codes(field("predictor"))
    kinds, kind = _codes(field("explanation"))
    layers, layer = _codes(field("layer"))
    pair = predictor * len(kinds) + kind                                 # (R,) the (predictor, kind) group
    by_pair, by_layer = _grouped(pair), _grouped(pair * len(layers) + layer)
    groups = []  # (predictor, kind, layer, the records' positions (m,)), in the rows' order
    for p in sorted(range(len(predictors)), key=predictors.__getitem__):
        for k in sorted(range(len(kinds)), key=kinds.__getitem__):
            code = p * len(kinds) + k
            pooled = by_pair(code)
            if len(pooled):
                groups.append((predictors[p], kinds[k], "all", pooled))
                groups += [(predictors[p], kinds[k], layers[i], members)
                           for i in range(len(layers)) if len(members := by_layer(code * len(layers) + i))]
    rho0 = np.where(np.isnan(columns["spearman"]), 0.0, columns["spearman"])  # undefined counts as 0
    intervals = _mean_intervals([rho0[members] for *_, members in groups])
    return [_summary_row(predictor, kind, layer, members, columns, rho0[members], interval)
            for (predictor, kind, layer, members), interval in zip(groups, intervals)]


def _codes(values: list[str]) -> tuple[list[str], np.ndarray]:
    """(the distinct values in first-seen order, each value's index among them (R,))."""
    position = {v: i for i, v in enumerate(dict.fromkeys(values))}
    return list(position), np.fromiter((position[v] for v in values), dtype=np.int64, count=len(values))


def _grouped(keys: np.ndarray) -> Callable[[int], np.ndarray]:
    """A lookup: key -> the positions (ascending) of the records whose `keys` (R,) entry it is."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]

    def members(key: int) -> np.ndarray:
        low, high = np.searchsorted(ordered, (key, key + 1))
        return order[low:high]

    return members


def _summary_row(predictor: str, kind: str, layer: str, members: np.ndarray, columns: Mapping[str, np.ndarray],
                 rho0: np.ndarray, interval: tuple[float | None, float | None]) -> dict[str, Any]:
    """One :func:`summarize_scores` row from the score columns (R,) of its records `members` (m,), their
    Spearman correlations with the undefined ones 0 (m,) and the interval of those correlations' mean."""
    r_ = columns["pearson"][members]
    undefined = np.isnan(columns["spearman"][members])
    low, high = interval
    half = columns["spearman_high"][members] - columns["spearman_low"][members]
    half = float(np.nanmedian(half) / 2) if np.isfinite(half).any() else float("nan")
    first_clips = columns["n_clips"][members[0]]
    n_clips = int(first_clips) if np.isfinite(first_clips) else 0
    return {"predictor": predictor, "explanation": kind, "layer": layer, "n": len(members),
            "n_undefined": int(undefined.sum()),
            "spearman_mean": round(float(rho0.mean()), 4),
            "spearman_median": round(float(np.median(rho0)), 4),
            "spearman_share_positive": round(float((rho0 > 0).mean()), 4),
            "pearson_mean": round(float(np.nan_to_num(r_, nan=0.0).mean()), 4),
            "spearman_mean_low": low, "spearman_mean_high": high,
            "unit_halfwidth": round(half, 4) if math.isfinite(half) else None,
            "clips_for_halfwidth_0.1": int(math.ceil(n_clips * (half / 0.1) ** 2))
            if math.isfinite(half) and n_clips else None,
            **{name: _mean(columns[name][members]) for name in SUMMARY_COLUMNS[-4:]}}


def _field(records: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    """Field `name` of every record, None where it is missing."""
    try:
        return list(map(operator.attrgetter(name), records))  # typed records: a field is an attribute
    except AttributeError:  # plain mappings, or a key that is no field
        return [r.get(name) for r in records]


def _mean(values: np.ndarray) -> float | None:
    return round(float(np.nanmean(values)), 4) if np.isfinite(values).any() else None


def _mean_interval(values: np.ndarray, *, seed: int = 0) -> tuple[float | None, float | None]:
    """95 % percentile-bootstrap interval of the mean of `values` (m,), resampling the values."""
    return _mean_intervals([values], seed=seed)[0]


def _mean_intervals(samples: Sequence[np.ndarray], *, seed: int = 0) -> list[tuple[float | None, float | None]]:
    """:func:`_mean_interval` of each of `samples` (each (m_i,)); (None, None) for fewer than two values.

    Every sample is resampled with the same seed, so the draws depend on its size alone: they are drawn once
    for all the samples of one size (a layer's explanation kinds share their units' count). They are drawn a
    block of rows at a time (about a million indices), as 32-bit indices when the size allows: the same draws
    and means as all at once in 64 bits (numpy draws indices below 2**32 from one stream whatever their
    type), without a (resamples, m) array that outgrows the processor's caches.
    """
    out: list[tuple[float | None, float | None]] = [(None, None)] * len(samples)
    by_size: dict[int, list[int]] = defaultdict(list)
    for i, values in enumerate(samples):
        if len(values) >= 2:
            by_size[len(values)].append(i)

    def intervals(m: int) -> np.ndarray:
        """(2.5th, 97.5th percentiles) of the bootstrap means of the samples of size `m`, (len(members), 2)"""
        members = by_size[m]
        rng = np.random.default_rng(seed)
        index_type = np.int32 if m <= np.iinfo(np.int32).max else np.int64
        means = np.empty((len(members), MEAN_BOOTSTRAP))
        step = max(1, (1 << 20) // m)
        for start in range(0, MEAN_BOOTSTRAP, step):
            rows = min(step, MEAN_BOOTSTRAP - start)
            draws = rng.integers(0, m, size=(rows, m), dtype=index_type)
            for j, i in enumerate(members):
                means[j, start:start + rows] = samples[i][draws].mean(axis=1)
        return np.percentile(means, [2.5, 97.5], axis=1).T

    for m, bounds in zip(by_size, thread_map(intervals, list(by_size))):  # the sizes side by side
        for i, (low, high) in zip(by_size[m], bounds.tolist()):
            out[i] = (round(low, 4), round(high, 4))
    return out


def format_summary(rows: Sequence[Mapping[str, Any]], *, layers: bool = False) -> str:
    """A plain-text table of :func:`summarize_scores` rows (pooled rows only unless `layers`)."""
    shown = [r for r in rows if layers or r["layer"] == "all"]
    header = ("predictor", "explanation", "layer", "n", "undef", "rho mean", "95% interval", "rho median", "rho>0",
              "r mean", "detect AP", "detect AP hard")

    def num(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}"

    body = [(r["predictor"], r["explanation"], r["layer"], str(r["n"]), str(r["n_undefined"]),
             f"{r['spearman_mean']:.3f}", f"{num(r.get('spearman_mean_low'))}-{num(r.get('spearman_mean_high'))}",
             f"{r['spearman_median']:.3f}", f"{100 * r['spearman_share_positive']:.0f}%", f"{r['pearson_mean']:.3f}",
             num(r.get("detection_auprc")), num(r.get("detection_auprc_hard"))) for r in shown]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    return "\n".join(lines) + "\n"


def format_layer_table(rows: Sequence[Mapping[str, Any]], *, stat: str = "spearman_mean") -> str:
    """Markdown tables of one statistic: explanation kinds by layer, one table per predictor.

    Parameters
    ----------
    rows : sequence of dict
        :func:`summarize_scores` rows.
    stat : str
        A numeric column of :data:`SUMMARY_COLUMNS` (default the mean Spearman correlation).

    Returns
    -------
    str
        For each predictor a heading line ``"<predictor> (<stat>)"`` and a
        table whose rows are the explanation kinds (closed-set methods first,
        in the rows' order) and whose columns are ``all`` then the layers;
        a kind with no score in a layer shows ``-``.
    """
    if stat not in SUMMARY_COLUMNS[3:]:
        raise AudioDissectError(f"unknown summary statistic {stat!r}", hint=f"use one of {SUMMARY_COLUMNS[3:]}")
    blocks = []
    for pred in dict.fromkeys(r["predictor"] for r in rows):
        mine = [r for r in rows if r["predictor"] == pred]
        layers = list(dict.fromkeys(r["layer"] for r in mine))
        kinds = sorted(dict.fromkeys(r["explanation"] for r in mine), key=lambda k: ("/" not in k, k))
        cell = {(r["explanation"], r["layer"]): r[stat] for r in mine}
        lines = [f"{pred} ({stat})", "", "| explanation | " + " | ".join(layers) + " |",
                 "|---" * (len(layers) + 1) + "|"]
        for kind in kinds:
            values = [f"{cell[(kind, layer)]:.3f}" if (kind, layer) in cell else "-" for layer in layers]
            lines.append(f"| {kind} | " + " | ".join(values) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def compare_explanations(records: Sequence[Mapping[str, Any]], first: str, second: str) -> list[dict[str, Any]]:
    """Paired comparison of two explanation kinds on the units that have both, per predictor.

    Parameters
    ----------
    records : sequence of dict
        :func:`score_explanations` records.
    first, second : str
        Explanation kinds, e.g. ``"summary"`` and ``"calibrated"``.

    Returns
    -------
    list of dict
        One row per predictor (in first-seen order): ``predictor``, ``n``
        (units scored with both), ``first``/``second`` (the kinds),
        ``first_mean``/``second_mean`` (mean Spearman over those units,
        undefined counted as 0), ``second_better`` (share of the units where
        `second` scores higher) and ``second_worse``.
    """
    scores: dict[tuple[str, str, str], float] = {}
    for r in records:
        if r["explanation"] in (first, second):
            scores[(r["predictor"], r["unit"], r["explanation"])] = 0.0 if r["spearman"] is None else r["spearman"]
    rows = []
    for pred in dict.fromkeys(r["predictor"] for r in records):
        units = [u for (p, u, k) in scores if p == pred and k == first and (p, u, second) in scores]
        a = np.array([scores[(pred, u, first)] for u in units], dtype=np.float64)
        b = np.array([scores[(pred, u, second)] for u in units], dtype=np.float64)
        n = len(units)
        rows.append({"predictor": pred, "n": n, "first": first, "second": second,
                     "first_mean": round(float(a.mean()), 4) if n else None,
                     "second_mean": round(float(b.mean()), 4) if n else None,
                     "second_better": round(float((b > a).mean()), 4) if n else None,
                     "second_worse": round(float((b < a).mean()), 4) if n else None})
    return rows


def format_comparison(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per :func:`compare_explanations` row."""
    lines = []
    for r in rows:
        if not r["n"]:
            lines.append(f"{r['predictor']}: no unit has both {r['first']!r} and {r['second']!r}")
            continue
        lines.append(f"{r['predictor']}: {r['n']} units with both; rho mean {r['first']} {r['first_mean']:.3f}, "
                     f"{r['second']} {r['second_mean']:.3f}; {r['second']} higher on "
                     f"{100 * r['second_better']:.0f}%, lower on {100 * r['second_worse']:.0f}%")
    return "\n".join(lines) + "\n"


def write_summary_csv(path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write :func:`summarize_scores` rows as CSV (atomically)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SUMMARY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")


def heldout_rows(run: RunDir) -> np.ndarray:
    """Row indices of the held-out clips, shape (n,); an error when there are none."""
    rows = np.array([i for i, c in enumerate(run.clips()) if c.split == HELDOUT], dtype=np.int64)
    if len(rows) < 3:
        raise AudioDissectError(f"{run.path} has {len(rows)} held-out clips; scoring needs at least 3",
                                hint="record a probing set with a held-out split")
    return rows


def description_map(data: Any) -> dict[str, str]:
    """``{clip id: description}`` from a description file, plain or as written by a captioner cache
    (``{"captioner": name, "descriptions": {clip id: description}}``)."""
    if isinstance(data, dict) and isinstance(data.get("descriptions"), dict) and "captioner" in data:
        data = data["descriptions"]
    if not isinstance(data, dict):
        raise AudioDissectError("descriptions.json is not a mapping of clip ids to descriptions")
    return {str(k): str(v) for k, v in data.items()}


def heldout_descriptions(run: RunDir, rows: np.ndarray) -> list[str]:
    """The descriptions of the clips at `rows`, from ``descriptions.json``."""
    path = run.descriptions_path
    if not path.exists():
        raise AudioDissectError(f"{run.path} has no clip descriptions",
                                hint=f"run `audiodissect describe --run {run.path}` first")
    descriptions = description_map(read_json(path))
    clips = run.clips()
    missing = [clips[i].id for i in rows if clips[i].id not in descriptions]
    if missing:
        raise AudioDissectError(f"{len(missing)} held-out clips have no description (e.g. {missing[0]!r})",
                                hint="describe every clip, held-out ones included, then score again")
    return [descriptions[clips[i].id] for i in rows]


def score_sources(run: RunDir) -> list[str]:
    """The stages whose explanations a run holds (``identify``, ``summarize``), or a clear error."""
    sources = [s for s in ("identify", "summarize") if run.has_units(s)]
    if not sources:
        raise AudioDissectError(f"{run.path} has no explanations to score",
                                hint=f"run `audiodissect identify --run {run.path}` or "
                                     f"`audiodissect summarize --run {run.path}` first")
    return sources


def score_inputs(run: RunDir) -> dict[str, Any]:
    """What the scores of a run depend on besides the predictors: explanations, descriptions, activations,
    held-out rows."""
    sources = score_sources(run)
    rows = heldout_rows(run)
    descriptions = run.descriptions_path
    return {"explanations": [hash_file(run.units_path(s)) for s in sources],
            "descriptions": hash_file(descriptions) if descriptions.exists() else None,
            "activations": [hash_file(run.activation_path(layer)) for layer in run.layers()],
            "heldout": rows.tolist()}


def write_scores(run: RunDir, *, embedder: Any, evidence_fn: ExplanationEvidence | None = None,
                 hook: ProgressHook | None = None, executor: Executor | None = None, bootstrap: int = 0,
                 seed: int = 0) -> tuple[dict[str, Any], list[ExplanationScore]]:
    """Score every explanation of a run on its held-out clips.

    Reads ``units/identify.jsonl`` and ``units/summarize.jsonl`` (whichever
    exist), ``descriptions.json`` and the activations; writes
    ``units/score.jsonl``, ``score/summary.csv`` (per predictor, explanation
    kind and layer) and ``score/by_layer.md`` (:func:`format_layer_table`).

    Parameters
    ----------
    run : RunDir
    embedder : TextEmbedder
        Embeds explanations and descriptions for the ``description`` predictor.
    evidence_fn : ExplanationEvidence, optional
        The ``audio_text`` predictor: texts -> (N_heldout, n_texts) on the held-out
        clips in clip order.
    hook : ProgressHook, optional
    executor : Executor, optional
        Where predictions and correlations run (default: in this process).
    bootstrap : int
        Resamples of the held-out clips for each Spearman correlation's interval (0: none).
    seed : int

    Returns
    -------
    facts : dict
        The score stage's manifest facts, with ``hard_negatives``: the embedding the hard
        negatives are nearest in (``audio``: the audio-text backend's clip side, else
        ``descriptions``).
    records : sequence of ExplanationScore
        The ``units/score.jsonl`` records (made when first read).
    """
    sources = score_sources(run)
    rows = heldout_rows(run)
    explanations = collect_explanations(run.read_units("identify") if "identify" in sources else [],
                                        run.read_units("summarize") if "summarize" in sources else [])
    description = DescriptionEvidence(heldout_descriptions(run, rows), embedder=embedder)
    predictors: dict[str, ExplanationEvidence] = {"description": description}
    if evidence_fn is not None:
        predictors["audio_text"] = evidence_fn
    embedding = getattr(evidence_fn, "clip_embedding", lambda: None)()
    source = "audio" if embedding is not None else "descriptions"
    if embedding is None:
        embedding = description.clip_vectors
    wanted = {e["layer"] for e in explanations}
    activations = {layer: RowSubset(run.activations(layer), rows) for layer in run.layers() if layer in wanted}
    blocks = score_blocks(explanations, activations, predictors, hook=hook, executor=executor,
                          bootstrap=bootstrap, embedding=unit_rows(embedding), seed=seed)
    run.write_blocks("score", blocks)
    records = LazyRecords.of_blocks(blocks)  # made when the caller reads them
    table = summarize_score_blocks(blocks)
    write_summary_csv(run.score_dir / "summary.csv", table)
    with atomic_path(run.score_dir / "by_layer.md") as tmp:
        tmp.write_text(format_layer_table(table), encoding="utf-8")
    return {"n_records": len(records), "n_clips": int(len(rows)), "predictors": list(predictors),
            "sources": sources, "audio_text_clips": getattr(evidence_fn, "clip_side_source", None),
            "hard_negatives": source, "bootstrap": bootstrap}, records


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of `x` (n, d) with their columns standardised, then scaled to unit norm (a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float64)
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)
