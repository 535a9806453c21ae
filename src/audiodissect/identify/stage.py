"""The identify stage: evidence matrices and each unit's closed-set concepts (``units/identify.jsonl``)."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from ..cache import hash_key, save_npy
from ..errors import AudioDissectError
from ..probes.base import ProbeSet
from ..rundir import CONCEPTS, UNITS
from ..config import IdentifyConfig
from ..records import LazyRecords
from ..stage import Context, Stage, StageOutcome
from .concepts import clean_concepts, load_concepts
from .naming import NamingSettings

EMPTY_DESCRIPTIONS = "every clip description is empty"


def read_concepts(path: str | None, probe: ProbeSet, *, acoustic: bool = False) -> list[str]:
    """The concept set: the given file, else the probing set's concept file, else its labels.

    With `acoustic` and no file, the default acoustic words
    (:func:`audiodissect.evidence.default_acoustic_concepts`: low-pitched,
    high-pitched, noisy, bright, dull) follow the labels, so that hidden units
    can be named by what they hear; a word already in the labels is not repeated.
    """
    if path:
        return load_concepts(path)
    if probe.concepts_file is not None:
        concepts = load_concepts(probe.concepts_file)
    else:
        concepts = clean_concepts(probe.labels, source=probe.name)
    if acoustic:
        from ..evidence import default_acoustic_concepts

        concepts = list(dict.fromkeys(concepts + default_acoustic_concepts()))
    return concepts


class IdentifyStage(Stage):
    """Module A over every recorded unit, and one name per unit (:mod:`~audiodissect.identify.naming`).

    DB is left out when the run has no descriptions, the labels when the
    probing set has none. A concept a source has no evidence for is never
    chosen by it (``no_evidence`` in the manifest, "no evidence for: ..." in
    the output); a layer where one concept takes more than
    ``identify.collapse_threshold`` of the units under a method and
    similarity is flagged (``collapses``).
    """

    name = "identify"
    outputs = (CONCEPTS, f"{UNITS}/identify.jsonl", f"{UNITS}/names.jsonl")

    def methods(self, ctx: Context) -> list[str]:
        return [m for m in dict.fromkeys(ctx.config.identify.methods) if m not in self.left_out(ctx)]

    def left_out(self, ctx: Context) -> dict[str, str]:
        """{method: reason} of the configured methods this run cannot use (DB without descriptions with text,
        labels without labelled clips)."""
        methods = ctx.config.identify.methods
        out = {}
        if "db" in methods:
            if not ctx.run.descriptions_path.exists():
                out["db"] = "the run has no clip descriptions"
            elif not any(text.strip() for text in ctx.run.descriptions() or []):
                out["db"] = EMPTY_DESCRIPTIONS  # all-equal evidence would rank the concepts arbitrarily
        if "labels" in methods and not any(c.label for c in ctx.run.clips()):
            out["labels"] = "the probing set's clips have no labels"
        return out

    def inputs(self, ctx: Context) -> dict[str, Any]:
        cfg = ctx.config.identify
        methods = self.methods(ctx)
        descriptions = ctx.run.descriptions() if "db" in methods else None
        return {"record": ctx.run.stage("record")["key"],
                "concepts": read_concepts(cfg.concepts, ctx.probe, acoustic=cfg.acoustic_concepts),
                "methods": methods, "similarities": list(cfg.similarities),
                "tab_backend": cfg.tab_backend if "tab" in methods else None, "db_scope": cfg.db_scope,
                "db_topk": cfg.db_topk, "text_embedder": cfg.text_embedder, "top": cfg.top,
                "variant": cfg.similarity_variant, "naming": dataclasses.asdict(naming_settings(cfg)),
                "collapse_threshold": cfg.collapse_threshold,
                "labels": [c.label for c in ctx.run.clips()] if "labels" in methods else None,
                "descriptions": hash_key(descriptions) if descriptions is not None else None}

    def reaches(self, ctx: Context) -> dict[str, str | None]:
        from ..evidence.backends import evidence_reach
        from ..text_embedder import text_embedder_reach

        cfg = ctx.config.identify
        methods = self.methods(ctx)
        return {"identify.tab_backend": evidence_reach(cfg.tab_backend) if "tab" in methods else None,
                "identify.text_embedder": text_embedder_reach(cfg.text_embedder)}

    def evidence(self, ctx: Context, methods: list[str], concepts: list[str]) -> tuple[dict, dict]:
        """({method: (N, C) evidence}, {method: {concept: why it has no evidence}}) over every clip."""
        from ..evidence import backend_coverage, compute_evidence, load_evidence_backend, no_evidence

        cfg = ctx.config.identify
        run, probe = ctx.run, ctx.probe
        descriptions = run.descriptions() if "db" in methods else None
        cache = run.probe_cache(probe)
        rows = run.probe_rows()
        evidence, missing = {}, {}
        for method in methods:
            spec = {"tab": cfg.tab_backend, "labels": "labels"}.get(method)
            backend = load_evidence_backend(spec) if spec is not None else None
            ev = compute_evidence("db" if method == "db" else "tab", probe, concepts, backend=backend,
                                  descriptions=descriptions if method == "db" else None, cache_dir=cache,
                                  embedder=cfg.text_embedder)
            save_npy(run.evidence_path(method), ev)
            evidence[method] = ev
            covered = backend_coverage(backend, concepts, probe) if backend is not None else None
            missing[method] = no_evidence(ev[rows], concepts, covered=covered)
        return evidence, missing

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], LazyRecords]:
        from ..arrays import in_memory
        from ..evidence import is_circular
        from ..threads import largest_float32_bytes, thread_map, thread_workers
        from .collapse import layer_collapses
        from .naming import name_layer, naming_sources, unexplained_share
        from .units import identify_layer, method_sources

        cfg = ctx.config.identify
        run, probe = ctx.run, ctx.probe
        concepts = read_concepts(cfg.concepts, probe, acoustic=cfg.acoustic_concepts)
        methods = self.methods(ctx)
        left_out = self.left_out(ctx)
        if left_out.get("db") == EMPTY_DESCRIPTIONS:
            if not methods:
                raise AudioDissectError(f"{EMPTY_DESCRIPTIONS}: DB has nothing to match",
                                        hint=f"describe the clips again (audiodissect describe --run {run.path} "
                                             "--captioner ...), or use --method tab")
            warnings.warn(f"{EMPTY_DESCRIPTIONS}: DB is left out; identify uses {', '.join(methods)}",
                          stacklevel=2)
        if not methods:
            raise AudioDissectError("no evidence source is left to identify concepts with",
                                    hint="; ".join(f"{m}: {why}" for m, why in left_out.items()))
        run.write_concepts(concepts)
        evidence, missing = self.evidence(ctx, methods, concepts)
        rows = run.probe_rows()
        probe_evidence = {m: e[rows] for m, e in evidence.items()}
        activations = run.probe_activations()
        exclude = {m: list(why) for m, why in missing.items()}
        sources = method_sources(probe_evidence, concepts, exclude=exclude)
        settings = naming_settings(cfg)
        naming = naming_sources(probe_evidence, concepts, settings=settings, exclude=exclude)
        output_layer = run.output_layer()

        def one_layer(layer: str) -> tuple[dict, list]:  # each layer read once, for every method, similarity and name
            acts = in_memory(activations[layer])
            return (identify_layer(layer, acts, sources, similarities=cfg.similarities, top=cfg.top,
                                   db_scope=cfg.db_scope, db_topk=cfg.db_topk, output_layer=output_layer,
                                   variant=cfg.similarity_variant),
                    name_layer(layer, acts, naming, concepts, settings=settings))

        # layers side by side, each on one torch thread; as many in memory at once as fit in a GiB
        workers = thread_workers(item_bytes=largest_float32_bytes(a.shape for a in activations.values()))
        layers = list(thread_map(one_layer, list(activations), workers=workers))
        by_layer = [blocks for blocks, _ in layers]
        names = [name for _, layer_names in layers for name in layer_names]
        blocks = [b for method in sources for layer_blocks in by_layer for b in layer_blocks[method]]
        run.write_blocks("identify", blocks)
        records = LazyRecords.of_blocks(blocks)  # made when the caller reads them
        run.write_units("names", names)
        circular = "tab" in evidence and is_circular(run.stage("record")["model"], cfg.tab_backend)
        return {"concepts": len(concepts), "methods": list(evidence), "circular": circular, "skipped": left_out,
                "similarities": list(cfg.similarities), "units": len(records),
                "no_evidence": {m: why for m, why in missing.items() if why},
                "collapses": layer_collapses(blocks, concepts, threshold=cfg.collapse_threshold),
                "names": unexplained_share(names)}, records

    def load(self, ctx: Context) -> LazyRecords:
        run = ctx.run
        return LazyRecords(lambda: run.read_units("identify"))  # read when the caller reads them

    def lines(self, ctx: Context, outcome: StageOutcome) -> list[str]:
        section = outcome.section
        lines = [f"no evidence for ({method}): {', '.join(why)}"
                 for method, why in (section.get("no_evidence") or {}).items()]
        lines += [f"collapse: {c['layer']} {c['method']}/{c['similarity']} names {100 * c['share']:.0f}% of its "
                  f"{c['units']} units {c['concept']!r}" for c in section.get("collapses") or []]
        rows = section.get("names") or []
        if rows:
            units = sum(r["units"] for r in rows)
            named, ambiguous = sum(r["named"] for r in rows), sum(r["ambiguous"] for r in rows)
            lines.append(f"names: {named} of {units} units named confidently, {ambiguous} ambiguous, "
                         f"{units - named - ambiguous} unexplained")
        return lines


def naming_settings(cfg: IdentifyConfig) -> NamingSettings:
    """The naming rule's settings from the run's ``identify`` section."""
    return NamingSettings(similarity=cfg.name_similarity, variant=cfg.similarity_variant,
                          permutations=cfg.permutations, alpha=cfg.alpha, min_z=cfg.min_z,
                          min_margin=cfg.min_margin)


class StabilityStage(Stage):
    """Whether each named unit keeps its name on resampled probe clips and with noise in the audio.

    Settings: the run's ``stability`` section (resamples, noise, seed) and the naming rule of
    ``identify``. Records the probe clips once more, with noise (``stability.noise`` times each
    waveform's standard deviation), through the same hooks as the record stage.
    """

    name = "stability"
    outputs = (f"{UNITS}/stability.jsonl",)

    def inputs(self, ctx: Context) -> dict[str, Any]:
        if not ctx.run.has_units("names"):
            raise AudioDissectError(f"{ctx.run.path} has no unit names to test",
                                    hint=f"run `audiodissect identify --run {ctx.run.path}` first")
        stages = ctx.run.manifest()["stages"]
        return {"record": stages["record"]["key"], "identify": stages.get("identify", {}).get("key"),
                "settings": dataclasses.asdict(ctx.config.stability)}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], list]:
        from ..record import record_waveforms
        from ..record.activations import read_waveforms
        from .stability import flip_shares, name_stability, noisy_waveforms

        run, cfg = ctx.run, ctx.config
        names = run.read_units("names")
        layers = list(dict.fromkeys(r.layer for r in names if r.name is not None))
        rows = run.probe_rows()
        identify = run.stage("identify")
        concepts = run.concepts() or []
        evidence = {m: run.evidence(m)[rows] for m in identify["methods"]}
        target = ctx.target
        waves = read_waveforms(ctx.probe, rows, sample_rate=target.sample_rate)
        clips = run.clips()  # read once: each call parses clips.jsonl
        noisy, _ = record_waveforms(target, noisy_waveforms(waves, noise=cfg.stability.noise, seed=cfg.stability.seed),
                                    layers, pool=cfg.record.pool, batch_size=cfg.record.batch_size, hook=ctx.hook,
                                    window_seconds=cfg.record.window_seconds,
                                    names=[clips[i].id for i in rows])
        activations = run.probe_activations()
        records = name_stability(names, evidence, {layer: activations[layer] for layer in layers}, noisy, concepts,
                                 exclude={m: list(why) for m, why in (identify.get("no_evidence") or {}).items()},
                                 settings=naming_settings(cfg.identify), resamples=cfg.stability.resamples,
                                 seed=cfg.stability.seed)
        run.write_units("stability", records)
        return {"layers": flip_shares(records), "noise": cfg.stability.noise,
                "resamples": cfg.stability.resamples}, records

    def load(self, ctx: Context) -> list:
        return ctx.run.read_units("stability")

    def lines(self, ctx: Context, outcome: StageOutcome) -> list[str]:
        rows = outcome.section.get("layers") or []
        if not rows:
            return []
        units, flipped = sum(r["units"] for r in rows), sum(r["flipped"] for r in rows)
        worst = max(rows, key=lambda r: r["share_flipped"])
        return [f"stability: {flipped} of {units} names flip with noise of {outcome.section['noise']:g} x the "
                f"waveform's std (most: {100 * worst['share_flipped']:.0f}% of {worst['layer']})"]
