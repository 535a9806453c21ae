"""Thin runners: select, ablate and measure on a run directory, caching under ``pruning/``.

Files written::

    pruning/baseline_logits.npy          (n_heldout, K) logits of the unpruned model
    pruning/baseline.json                its cache key and the held-out clip ids
    pruning/<concept>/selection-<s>.json one per strategy (random: selection-random-<ref>-seed<k>.json)
    pruning/<concept>/results.jsonl      one row per selection: dA, dR, selectivity, accuracies
    pruning/results.jsonl                every evaluated (concept, selection) row
    pruning/table.jsonl, table.csv       one row per strategy, averaged over concepts

Selections are measured by an executor (:mod:`audiodissect.executor`): in
this process by default, or by workers that each hold one model replica
(:mod:`audiodissect.prune.replica`); rows are cached and written here, in
the driver, in selection order, so the files are the same either way.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..cache import atomic_path, hash_key, load_npy, read_json, save_npy, write_json, write_jsonl
from ..class_names import class_index
from ..config import PruneConfig
from ..errors import AudioDissectError, unknown_name_error
from ..executor import Executor, LocalExecutor
from ..probes.base import ProbeSet
from ..progress import ProgressHook, default_hook
from ..records import PruneRow
from ..rundir import PRUNING_BASELINE, PRUNING_BASELINE_LOGITS, PRUNING_TABLE, PRUNING_TABLE_CSV, RunDir
from ..targets.base import Target
from ..text_embedder import DEFAULT_TEXT_EMBEDDER
from .evaluate import (TABLE_COLUMNS, HeldoutAudio, heldout_logits,
                       heldout_targets, pruning_table, unmatched_labels)
from .matching import Encode
from .replica import measure_row, replica_setup, row_key
from .strategies import (CLOSED_SET, STRATEGIES, Selection, concept_slug, eligible_layers, save_selection,
                         select_closed_set, select_given, select_ocp, select_random)

log = logging.getLogger("audiodissect")


class PruningContext:
    """What every ablation of one run shares: held-out audio, baseline logits and eligible layers.

    Parameters
    ----------
    run : RunDir
    target : Target
        The run's model.
    probe : ProbeSet
        The run's probing set; only its held-out clips are read.
    batch_size : int
    include_output_layer : bool
        Let strategies choose the classifier's own output units.
    """

    def __init__(self, run: RunDir, target: Target, probe: ProbeSet, *, batch_size: int = 32,
                 include_output_layer: bool = False, hook: ProgressHook | None = None):
        record = run.stage("record")
        self.run = run
        self.target = target
        #: the probing set the held-out audio is read from (by workers too)
        self.audio_source = probe
        self.batch_size = batch_size
        self.hook = hook
        self.class_names = list(target.class_names or record.get("class_names") or [])
        if not self.class_names:
            raise AudioDissectError("pruning needs a classifier with class names; this target has none")
        clips = run.clips()
        if [c.id for c in probe.clips] != [c.id for c in clips]:
            raise AudioDissectError("the probing set does not hold the run's clips",
                                    hint="pass the set the run was recorded on")
        self.layers = {name: int(units) for name, units in record["layers"].items()}  # the recording's order
        self.output_layer = run.output_layer()
        self.eligible = eligible_layers(self.layers, self.output_layer, include_output_layer=include_output_layer)
        rows, self.classes, self.skipped = heldout_targets(clips, self.class_names)
        if len(rows) == 0:
            raise AudioDissectError(f"{run.path} has no held-out clips labelled with a class",
                                    hint="record on a probing set with a 'heldout' split whose labels are "
                                         "class names (or comma-separated synonyms of them)")
        self.unmatched = unmatched_labels(clips, self.class_names)
        if self.skipped:
            log.warning("%d held-out clips have labels that are not classes (%s); they are left out",
                        self.skipped, ", ".join(self.unmatched))
        #: the classes competing for the accuracies: those of the held-out labels
        self.among = np.unique(self.classes)
        #: each evaluated class's concept as the probing set names it (e.g. "violin" for "Violin, fiddle")
        self.label_of = {}
        for r, k in zip(rows.tolist(), self.classes.tolist()):
            self.label_of.setdefault(int(k), clips[r].label)
        self.clip_ids = [clips[int(r)].id for r in rows]
        self.audio = HeldoutAudio(probe, rows, sample_rate=target.sample_rate)
        self.baseline_key, self.baseline = self._baseline()
        self._records: dict[str, list[dict]] = {}

    def _baseline(self) -> tuple[str, np.ndarray]:
        from ..record import module_fingerprint

        key = hash_key("prune-baseline", self.target.name, module_fingerprint(self.target.module),
                       self.clip_ids)
        path, meta = self.run.file(PRUNING_BASELINE_LOGITS), self.run.file(PRUNING_BASELINE)
        if path.exists() and meta.exists() and read_json(meta).get("key") == key:
            return key, load_npy(path)
        logits = heldout_logits(self.target, self.audio, batch_size=self.batch_size)
        save_npy(path, logits)
        write_json(meta, {"key": key, "clips": self.clip_ids, "class_names": self.class_names})
        return key, logits

    def records(self, stage: str) -> list[dict]:
        if stage not in self._records:
            self._records[stage] = self.run.read_units(stage)
        return self._records[stage]

    def restrict(self, positions: np.ndarray) -> None:
        """Keep only the held-out clips at `positions` (indices into the current ones, shape (m,)): their
        audio, classes and baseline logits."""
        positions = np.asarray(positions, dtype=np.int64)
        self.audio = self.audio.subset(positions)
        self.baseline = self.baseline[positions]
        self.classes = self.classes[positions]
        self.clip_ids = [self.clip_ids[int(p)] for p in positions]
        self.baseline_key = hash_key(self.baseline_key, positions.tolist())

    def unexplained(self) -> set[str]:
        """The units no evidence explains (``units/names.jsonl`` status ``unexplained``; none without names)."""
        if not self.run.has_units("names"):
            return set()
        return {r.unit for r in self.records("names") if r.status == "unexplained"}

    def concepts_with_clips(self) -> list[str]:
        """The concepts (held-out labels) of the classes with held-out clips, in class order."""
        return [self.label_of[int(k)] for k in self.among]

    def cached_row(self, selection: Selection) -> PruneRow | None:
        """The row of `selection` cached in ``pruning/<concept>/results.jsonl``, or None.

        Rows cached before per-class changes were measured count as missing.
        """
        key = row_key(self.baseline_key, selection.units)
        for row in self.run.read_prune_rows(concept=concept_slug(selection.concept)):
            if row.key == key and row.label == selection.label and row.class_change is not None:
                return row
        return None

    def store_row(self, row: PruneRow) -> None:
        """Cache `row` in its concept's ``results.jsonl``, replacing an older row of its label."""
        slug = concept_slug(row.concept)
        rows = self.run.read_prune_rows(concept=slug)
        self.run.write_prune_rows([r for r in rows if r.label != row.label] + [row], concept=slug)

    def measure(self, selection: Selection) -> PruneRow:
        """Evaluate one selection; the row is cached in ``pruning/<concept>/results.jsonl``."""
        row = self.cached_row(selection)
        if row is None:
            row = measure_row(self, selection)
            self.store_row(row)
        return row

    def measure_all(self, selections: Sequence[Selection], *,
                    executor: Executor | None = None) -> list[PruneRow]:
        """Evaluate `selections` (cached rows reused), one row each, in order.

        The selections not cached are measured by `executor` (default: in this
        process, on this context's model); each row is cached as it arrives.
        Progress goes to the hook per concept (``("prune", concept, ...)``).

        Parameters
        ----------
        selections : sequence of Selection, length M
        executor : Executor, optional
            On Ray, each worker holds one model replica and the held-out audio.

        Returns
        -------
        list of dict, length M
        """
        selections = list(selections)
        rows = [self.cached_row(s) for s in selections]
        todo = [i for i, row in enumerate(rows) if row is None]
        hook = self.hook or default_hook()
        total: dict[str, int] = {}
        done: dict[str, int] = {}
        for selection, row in zip(selections, rows):
            total[selection.concept] = total.get(selection.concept, 0) + 1
            done[selection.concept] = done.get(selection.concept, 0) + (row is not None)
        for concept, count in total.items():
            hook("prune", concept, completed=done[concept], total=count)
        executor = executor or LocalExecutor()
        measured = executor.map(measure_row, [selections[i] for i in todo],
                                setup=executor.state(self, ship=replica_setup))
        for i, row in zip(todo, measured):
            self.store_row(row)
            rows[i] = row
            concept = selections[i].concept
            done[concept] += 1
            hook("prune", concept, completed=done[concept], total=total[concept])
        return rows  # type: ignore[return-value]


def _text_encoder(spec: str) -> Encode:
    from ..text_embedder import load_text_embedder

    embedder = load_text_embedder(spec)
    return embedder.encode


def select_for_concept(ctx: PruningContext, concept: str, *, strategies: Sequence[str],
                       units: Sequence[str] = (), config: PruneConfig | None = None,
                       encode: Encode | None = None) -> list[Selection]:
    """Selections of every strategy for `concept`, saved under ``pruning/<concept>/``.

    Parameters
    ----------
    ctx : PruningContext
    concept : str
    strategies : sequence of str
        Names from :data:`~audiodissect.prune.strategies.STRATEGIES`; ``units`` is
        implied when `units` is given.
    units : sequence of str
        Unit ids for the ``units`` strategy.
    config : PruneConfig
    encode : callable, optional
        Text embedder ``encode`` for OCP's noun matching (default: the default text embedder).
    """
    config = config or PruneConfig()
    for name in strategies:
        if name not in STRATEGIES:
            raise unknown_name_error("pruning strategy", name, STRATEGIES)
    strategies = list(dict.fromkeys([*strategies, *(["units"] if units else [])]))
    chosen: list[Selection] = []
    skip = ctx.unexplained() if config.skip_unexplained else set()
    for name in strategies:
        if name in CLOSED_SET:
            method, _ = CLOSED_SET[name]
            similarity = config.tab_similarity if name == "tab" else config.db_similarity
            chosen.append(select_closed_set(ctx.records("identify"), concept, method=method,
                                            similarity=similarity, layers=ctx.eligible, top=config.top,
                                            exclude=skip))
        elif name == "ocp":
            enc = None
            if config.ocp_threshold is not None:
                enc = encode if encode is not None else _text_encoder(DEFAULT_TEXT_EMBEDDER)
            chosen.append(select_ocp(ctx.records("summarize"), concept, layers=ctx.eligible, encode=enc,
                                     threshold=config.ocp_threshold, exclude=skip))
        elif name == "units":
            if not units:
                raise AudioDissectError("the 'units' strategy needs unit ids", hint="pass --units LAYER#INDEX ...")
            chosen.append(select_given(units, layers=ctx.layers, concept=concept))
    if "random" in strategies:
        chosen += [select_random(ctx.eligible, count, seed=seed, concept=concept, reference=reference)
                   for count, reference in _random_sizes(chosen, config) for seed in range(config.seeds)]
    for selection in chosen:
        save_selection(ctx.run, selection)
    return chosen


def _random_sizes(chosen: Sequence[Selection], config: PruneConfig) -> list[tuple[int, str]]:
    """(count, reference) of each set of random draws: a given count, one reference, or every chosen strategy."""
    if config.random_count is not None:
        return [(int(config.random_count), "count")]
    by_name = {s.strategy: s for s in chosen}
    if config.random_reference is not None:
        if config.random_reference not in by_name:
            raise AudioDissectError(f"random pruning is sized like {config.random_reference!r}, "
                                    "which is not among the chosen strategies",
                                    hint="choose that strategy too, or give a count (--random-count N)")
        return [(len(by_name[config.random_reference].units), config.random_reference)]
    if not by_name:
        raise AudioDissectError("random pruning needs a size",
                                hint="give a count (--random-count N) or select another strategy as reference")
    return [(len(s.units), name) for name, s in by_name.items()]


def prune_concept(ctx: PruningContext, concept: str, *, strategies: Sequence[str], units: Sequence[str] = (),
                  config: PruneConfig | None = None, encode: Encode | None = None,
                  executor: Executor | None = None) -> list[PruneRow]:
    """Select units for `concept` with each strategy, ablate them and measure; one row per selection.

    `executor` measures the selections (default: in this process; see
    :meth:`PruningContext.measure_all`).
    """
    class_index(concept, ctx.class_names)  # fail early on a concept that is not a class
    selections = select_for_concept(ctx, concept, strategies=strategies, units=units, config=config,
                                    encode=encode)
    return ctx.measure_all(selections, executor=executor)


def resolve_concepts(ctx: PruningContext, concepts: Sequence[str]) -> list[str]:
    """The concepts to prune, in class order for the two shorthands.

    ``["all"]`` (or nothing): every class with held-out clips, named as the
    held-out labels name it. ``["sample:N"]``: N of those classes spread evenly
    over them (positions ``round(i (K - 1) / (N - 1))`` of the K classes, all K
    when N >= K), so a rerun prunes the same classes. Otherwise the given
    concepts, each checked to name a class.
    """
    concepts = list(concepts)
    available = ctx.concepts_with_clips()
    if not concepts or concepts == ["all"]:
        return available
    if len(concepts) == 1 and concepts[0].startswith("sample:"):
        return sample_evenly(available, concepts[0])
    for concept in concepts:
        class_index(concept, ctx.class_names)
    return concepts


def sample_evenly(items: Sequence[str], spec: str) -> list[str]:
    """``"sample:N"`` -> N of `items` spread evenly, first and last included, in their order."""
    count = spec.partition(":")[2]
    if not count.isdigit() or int(count) < 1:
        raise AudioDissectError(f"bad pruning concepts {spec!r}",
                                hint='give class names, "all", or "sample:N" with N >= 1')
    n, k = int(count), len(items)
    if n >= k:
        return list(items)
    if n == 1:
        return list(items[:1])
    return [items[round(i * (k - 1) / (n - 1))] for i in range(n)]


def evaluate_pruning(run: RunDir, target: Target, probe: ProbeSet, config: PruneConfig | None = None, *,
                     text_embedder: str = DEFAULT_TEXT_EMBEDDER, batch_size: int = 32, hook: ProgressHook | None = None,
                     executor: Executor | None = None) -> tuple[list[dict[str, Any]], list[PruneRow]]:
    """Prune every concept with every strategy and write the averaged table (paper Table 4).

    Every concept's selections are chosen first (``config.units`` for the
    ``units`` strategy), then all of them are measured by `executor` at once
    (default: in this process; on Ray, spread over workers that each hold one
    model replica); the files are the same either way.

    Parameters
    ----------
    text_embedder : str
        The sentence embedder OCP matches nouns with.
    batch_size : int
        Held-out clips per forward pass.

    Returns
    -------
    table : list of dict
        One row per strategy (:data:`~audiodissect.prune.evaluate.TABLE_COLUMNS`), also written to
        ``pruning/table.jsonl`` and ``pruning/table.csv``.
    results : list of PruneRow
        One row per (concept, selection), also written to ``pruning/results.jsonl``.
    """
    config = config or PruneConfig()
    ctx = PruningContext(run, target, probe, batch_size=batch_size,
                         include_output_layer=config.include_output_layer, hook=hook)
    encode = None
    if "ocp" in config.strategies and config.ocp_threshold is not None:
        encode = _text_encoder(text_embedder)
    selections = [selection for concept in resolve_concepts(ctx, config.concepts)
                  for selection in select_for_concept(ctx, concept, strategies=config.strategies, config=config,
                                                      units=config.units, encode=encode)]
    results = ctx.measure_all(selections, executor=executor)
    table = pruning_table(results)
    run.write_prune_rows(results)
    write_table(run, table)
    return table, results


def write_table(run: RunDir, table: Sequence[dict[str, Any]]) -> None:
    """``pruning/table.jsonl`` and ``pruning/table.csv`` of `run`."""
    write_jsonl(run.file(PRUNING_TABLE), table)
    with atomic_path(run.file(PRUNING_TABLE_CSV)) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(TABLE_COLUMNS))
        writer.writeheader()
        writer.writerows({k: row[k] for k in TABLE_COLUMNS} for row in table)
