"""The stages of a dissection, wired together for ``audiodissect run``.

Each ``stage_*`` function is a thin runner: it loads what the stage needs from
the run directory, calls the pure stage code, and writes the results with a
cache key, so a repeated or interrupted run recomputes only what changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .cache import write_json, write_text
from .config import ProbeConfig, RecordConfig, RunConfig, to_dict
from .probes.base import ProbeSet
from .progress import ProgressHook, default_hook
from .rundir import RunDir
from .targets.base import Target

log = logging.getLogger("audiodissect")


def open_probe(config: ProbeConfig) -> ProbeSet:
    """Load the probing set named in `config` and report bad files."""
    from .probes import load_probe

    probe = load_probe(config.name, root=config.root, **config.options)
    for bad in probe.skipped:
        log.warning("skipped %s: %s", bad.source, bad.reason)
    return probe


def open_target(config: RecordConfig, *, probe: ProbeSet | None = None) -> Target:
    """Load the target model named in `config`."""
    from .targets import load_target

    return load_target(config.model, device=config.device)


def stage_record(run: RunDir, target: Target, probe: ProbeSet, config: RecordConfig,
                 *, hook: ProgressHook | None = None) -> dict[str, Any]:
    """Record activations (Step 0)."""
    from .record import run_record

    layers = config.layers or target.default_layers
    return run_record(run, target, probe, layers=layers, pool=config.pool,
                      batch_size=config.batch_size, hook=hook)


def layer_overview(run: RunDir, *, top: int = 3) -> str:
    """A short text summary per recorded layer: units, activation range, top clip labels per unit.

    Uses probe clips only.
    """
    clips = run.clips()
    rows = run.probe_rows()
    labels = np.array([clips[i].label or "?" for i in rows])
    lines = []
    for layer in run.layers():
        acts = np.asarray(run.activations(layer))[rows]
        order = np.argsort(-acts, axis=0)[:top]  # (top, U)
        lines.append(f"{layer}: {acts.shape[1]} units, mean {acts.mean():.3g}, max {acts.max():.3g}")
        show = min(acts.shape[1], 8)
        for u in range(show):
            names = ", ".join(labels[order[:, u]])
            lines.append(f"  #{u}: top clips {names}")
        if acts.shape[1] > show:
            lines.append(f"  ... {acts.shape[1] - show} more units")
    return "\n".join(lines) + "\n"


def run_pipeline(config: RunConfig, *, hook: ProgressHook | None = None,
                 echo: Callable[[str], None] = print) -> RunDir:
    """Run every stage of a dissection with `config` and return the run directory."""
    hook = hook or default_hook()
    run = RunDir(config.out)
    write_json(run.path / "config.json", to_dict(config))
    wanted = set(config.stages) if config.stages else None

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        if wanted is not None and name not in wanted:
            return None
        start = time.perf_counter()
        result = fn()
        echo(f"[{name}] done in {time.perf_counter() - start:.1f} s")
        return result

    probe = open_probe(config.probe)
    echo(probe.describe())
    target = open_target(config.record, probe=probe)
    section = timed("record", lambda: stage_record(run, target, probe, config.record, hook=hook))
    if section is not None:
        echo(f"recorded {sum(section['layers'].values())} units in {len(section['layers'])} layers")
    write_text(run.path / "layers.txt", layer_overview(run))
    descriptions = timed("describe", lambda: stage_describe(run, probe, config.describe.captioner, hook=hook))
    if descriptions is None:  # describe not wanted this time: earlier descriptions, if any
        descriptions = run.descriptions()
    timed("identify", lambda: stage_identify(run, probe, config, descriptions))
    if descriptions is not None:
        before = run.manifest()["stages"].get("summarize")
        section = timed("summarize", lambda: stage_summarize(run, config, descriptions, hook=hook))
        if section is not None:
            summary = run.stage("summarize")
            if summary == before:  # the stage's cache key matched: no prompt was built
                echo(f"LLM {summary['llm']}: 0 calls, 0 cache hits (summaries of the last run reused)")
            else:
                echo(f"LLM {summary['llm']}: {summary['llm_calls']} calls, {summary['llm_cache_hits']} cache hits")
        from .scoring.stage import stage_score

        timed("score", lambda: stage_score(run, config, hook=hook))
    if run.has_units("identify") and run.has_units("summarize") and not target.class_names:
        echo("pruning: skipped (the model has no class names to prune)")
    elif run.has_units("identify") and run.has_units("summarize"):
        section = timed("prune", lambda: stage_prune_timed(run, config, target=target, probe=probe, hook=hook))
        if section is not None:
            from .prune.evaluate import format_table

            echo("pruning (held-out confidence change; dA: the concept's clips, dR: the rest)")
            echo(format_table(section["table"]))
    if run.has_units("identify"):
        try:
            echo(evaluate_last_layer(run))
        except Exception as exc:  # a model without named classes has no last-layer table
            echo(f"last-layer accuracy: not available ({exc})")
    from .analyses.run import run_analyses
    from .report.build import stage_report

    timed("analyze", lambda: run_analyses(run, hook=hook))
    report = timed("report", lambda: stage_report(run, probe, hook=hook))
    if report is not None:
        echo(f"report: {report['index']}")
    return run


def stage_prune_timed(run: RunDir, config: RunConfig, *, target: Target, probe: ProbeSet,
                      hook: ProgressHook | None = None) -> dict[str, Any]:
    """The pruning stage (:func:`audiodissect.prune.runner.stage_prune`), its wall time added to the manifest."""
    from .prune.runner import stage_prune

    before = run.manifest()["stages"].get("prune")
    start = time.perf_counter()
    section = stage_prune(run, config.prune, target=target, probe=probe, hook=hook)
    if section == before:  # reused: keep the time the stage took when it ran
        return section
    section = {**section, "seconds": round(time.perf_counter() - start, 2)}
    run.finish_stage("prune", run.stage("prune")["key"], section)
    return section


def reopen_probe(run: RunDir) -> ProbeSet:
    """The probing set a run was recorded on, checked to hold the same clips in the same order."""
    from .errors import AudioDissectError
    from .probes import load_probe

    spec = dict(run.stage("record")["probe"])
    probe = load_probe(**spec)
    if [c.id for c in probe.clips] != [c.id for c in run.clips()]:
        raise AudioDissectError(f"the probing set {spec.get('name')!r} changed since {run.path} was recorded",
                                hint="record again with `audiodissect record`")
    return probe


def reopen_target(run: RunDir, *, device: str | None = None) -> Target:
    """The target model a run was recorded with."""
    from .targets import load_target

    return load_target(run.stage("record")["model"], device=device)


def load_captioner(spec: str, probe: ProbeSet, *, cache_dir=None):
    """A captioner from its spec: ``tags`` (offline default), ``file:<json>``, ``http:<model>@<url>``.

    ``tags`` keeps its tag logits in `cache_dir` (the run's cache), where the tag bridge finds them.
    """
    from .captioners import FileCaptioner, HttpAudioCaptioner, probe_clips
    from .errors import AudioDissectError

    if spec == "tags":
        from .captioners.tags_descriptors import TagsDescriptorsCaptioner

        captioner = TagsDescriptorsCaptioner(cache_dir=cache_dir)
        captioner.calibrate(probe_clips(probe))  # z-scores over the whole probing set
        return captioner
    if spec.startswith("file:"):
        return FileCaptioner(spec[5:])
    if spec.startswith("http:") and "@" in spec:
        model, _, url = spec[5:].rpartition("@")
        return HttpAudioCaptioner(url, model)
    raise AudioDissectError(f"unknown captioner {spec!r}", hint="tags, file:<json>, or http:<model>@<base url>")


def describe_key(run: RunDir, probe: ProbeSet, spec: str) -> str:
    """The describe stage's cache key: captioner spec (and file digest), probing set spec and clip ids."""
    from pathlib import Path

    from .cache import hash_file, hash_key

    source = Path(spec[5:]) if spec.startswith("file:") else None
    digest = hash_file(source) if source is not None and source.is_file() else None
    return hash_key("describe", spec, digest, probe.content_key())


def stage_describe(run: RunDir, probe: ProbeSet, spec: str, *, hook: ProgressHook | None = None) -> list[str]:
    """One description per clip (probe and held-out), written to ``descriptions.json`` as {clip id: text}.

    Skipped when the captioner spec, its file (for ``file:``) and the clips are
    those of the last describe stage and ``descriptions.json`` is still there.

    Returns
    -------
    list of str, length N
        In clip order.
    """
    from .captioners import describe_cached, probe_clips

    key = describe_key(run, probe, spec)
    if run.stage_current("describe", key):
        kept = run.descriptions()
        if kept is not None:
            return kept
    start = time.perf_counter()
    cache = run.probe_cache(probe)
    captioner = load_captioner(spec, probe, cache_dir=cache)
    texts = describe_cached(captioner, probe_clips(probe), cache / "descriptions.json", hook=hook)
    write_json(run.path / "descriptions.json", {c.id: t for c, t in zip(probe.clips, texts)})
    run.finish_stage("describe", key, {"captioner": spec, "n_clips": len(texts), "n_cached": texts.n_cached,
                                       "n_described": texts.n_described,
                                       "seconds": round(time.perf_counter() - start, 2)})
    return list(texts)


def read_concepts(path: str | None, probe: ProbeSet) -> list[str]:
    """The concept set: the given file, else the soundbank's labels, else the probing set's labels."""
    from .concepts import clean_concepts, load_concepts

    if path:
        return load_concepts(path)
    if probe.name == "soundbank":
        from .probes import SOUNDBANK_CONCEPTS

        return load_concepts(SOUNDBANK_CONCEPTS)
    return clean_concepts(probe.labels, source=probe.name)


def identify_key(run: RunDir, config: RunConfig, concepts: list[str], methods: list[str],
                 descriptions: list[str] | None) -> str:
    """The identify stage's cache key: recorded activations, concepts, methods, settings, descriptions."""
    from .cache import hash_key

    cfg = config.identify
    settings = {"similarities": list(cfg.similarities), "tab_backend": cfg.tab_backend if "tab" in methods else None,
                "db_scope": cfg.db_scope, "db_topk": cfg.db_topk, "text_embedder": cfg.text_embedder,
                "top": cfg.top}
    return hash_key("identify", 2, run.stage("record")["key"], concepts, methods, settings,
                    hash_key(descriptions) if "db" in methods else None)


def stage_identify(run: RunDir, probe: ProbeSet, config: RunConfig, descriptions: list[str] | None) -> list[dict]:
    """Module A: evidence matrices and per-unit closed-set concepts (``units/identify.jsonl``).

    DB is left out when `descriptions` is None. Nothing is recomputed when the
    cache key (:func:`identify_key`) matches the last identify stage and its
    units file exists.
    """
    from .cache import save_npy
    from .evaluate_last_layer import output_layer
    from .evidence import compute_evidence, is_circular
    from .identify import identify_units

    cfg = config.identify
    concepts = read_concepts(cfg.concepts, probe)
    methods = [m for m in dict.fromkeys(cfg.methods) if not (m == "db" and descriptions is None)]
    key = identify_key(run, config, concepts, methods, descriptions)
    if run.stage_current("identify", key) and run.has_units("identify") and run.concepts() == concepts:
        return run.read_units("identify")
    start = time.perf_counter()
    write_text(run.path / "concepts.txt", "\n".join(concepts) + "\n")
    evidence = {}
    cache = run.probe_cache(probe)
    for method in methods:
        ev = compute_evidence(method, probe, concepts, backend=cfg.tab_backend if method == "tab" else None,
                              descriptions=descriptions if method == "db" else None, cache_dir=cache,
                              embedder=cfg.text_embedder)
        save_npy(run.path / "evidence" / f"{method}.npy", ev)
        evidence[method] = ev
    rows = run.probe_rows()
    record = run.stage("record")
    acts = run.probe_activations()
    records = identify_units({m: e[rows] for m, e in evidence.items()}, acts, concepts,
                             similarities=cfg.similarities, top=cfg.top, db_scope=cfg.db_scope,
                             db_topk=cfg.db_topk, output_layer=output_layer(record["layers"], record["class_names"]))
    run.write_units("identify", records)
    circular = "tab" in evidence and is_circular(record["model"], cfg.tab_backend)
    run.finish_stage("identify", key, {"concepts": len(concepts), "methods": list(evidence), "circular": circular,
                                       "similarities": list(cfg.similarities), "units": len(records),
                                       "seconds": round(time.perf_counter() - start, 2)})
    return records


def stage_summarize(run: RunDir, config: RunConfig, descriptions: list[str], *,
                    hook: ProgressHook | None = None) -> list[dict]:
    """Modules B and C and ICL (``units/summarize.jsonl``).

    `descriptions` has one text per clip, in clip order (probe and held-out).
    ICL runs when ``config.summarize.icl`` and the identify stage wrote a
    concept set. Nothing is recomputed when the cache key (activations' top and
    bottom clips, descriptions, LLM spec, text embedder, concepts, settings)
    matches the last summarize stage and its units file exists.
    """
    from .cache import hash_key
    from .llm import CachedLLM, load_llm
    from .summarize.stage import make_summarize_settings, summarize_cache_key, summarize_units
    from .text_embedder import load_text_embedder

    cfg = config.summarize
    rows = run.probe_rows()
    clips = run.clips()
    if len(descriptions) != len(clips):
        from .errors import AudioDissectError

        raise AudioDissectError(f"{len(descriptions)} descriptions for the run's {len(clips)} clips",
                                hint=f"describe again: `audiodissect describe --run {run.path}`")
    concepts = (run.concepts() or None) if cfg.icl else None
    settings = make_summarize_settings(k=cfg.k, threshold=cfg.threshold, adjective_filter=cfg.adjective_filter,
                                       temperature=cfg.temperature, max_tokens=cfg.max_tokens)
    acts = run.probe_activations()
    texts = [descriptions[i] for i in rows]
    key = hash_key("summarize-stage", summarize_cache_key(acts, texts, llm_name=cfg.llm,
                                                          embedder_name=config.identify.text_embedder,
                                                          concepts=concepts, settings=settings),
                   [clips[i].id for i in rows])
    if run.stage_current("summarize", key) and run.has_units("summarize"):
        return run.read_units("summarize")
    start = time.perf_counter()
    llm = CachedLLM(load_llm(cfg.llm), run.path / "cache" / "llm.sqlite")
    records = summarize_units(acts, texts, llm=llm, embedder=load_text_embedder(config.identify.text_embedder),
                              concepts=concepts, settings=settings, hook=hook)
    for r in records:
        for name in ("top_clips", "bottom_clips"):
            if name in r:
                r[name] = [clips[rows[i]].id for i in r[name]]
    run.write_units("summarize", records)
    run.finish_stage("summarize", key, {"llm": cfg.llm, "llm_calls": llm.calls, "llm_cache_hits": llm.hits,
                                        "units": len(records), "icl": concepts is not None,
                                        "seconds": round(time.perf_counter() - start, 2)})
    return records


def evaluate_last_layer(run: RunDir) -> str:
    """Write ``evaluation/last_layer.csv`` and return the table as text."""
    import csv
    import io

    from .errors import AudioDissectError
    from .evaluate_last_layer import format_table, icl_records, last_layer_table, output_layer
    from .text_embedder import load_text_embedder

    record = run.stage("record")
    layer = output_layer(record["layers"], record["class_names"])
    if layer is None:
        raise AudioDissectError("no recorded layer has one unit per class name",
                                hint="record the classifier layer of a model with named classes")
    records = list(run.read_units("identify"))
    if run.has_units("summarize"):
        records += icl_records(run.read_units("summarize"))
    concepts = run.concepts() or []
    rows = last_layer_table(records, layer=layer, class_names=record["class_names"], concepts=concepts,
                            embedder=load_text_embedder())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["method", "similarity", "top1", "top5", "cosine", "units", "left_out"])
    writer.writeheader()
    writer.writerows(rows)
    write_text(run.path / "evaluation" / "last_layer.csv", buf.getvalue())
    table = format_table(rows)
    if run.stage("identify").get("circular"):
        table += (f"\nnote: TAB's tagger is the dissected model itself ({record['model']}): its output units "
                  "explain themselves, so the TAB rows are circular and say nothing about the method")
    return table
