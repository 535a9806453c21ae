"""The pruning stages: the pruning table, the per-class drops (Fig. 10) and the feature-importance curves (Fig. 4)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import AudioDissectError
from ..rundir import CLASS_DROP_JSON, IMPORTANCE_JSON, PRUNING_RESULTS, PRUNING_TABLE, UNITS
from ..stage import Context, Stage, StageOutcome


def _keys(ctx: Context, *names: str) -> dict[str, str | None]:
    """The cache keys of the earlier stages `names` (None for one that never ran)."""
    stages = ctx.run.manifest()["stages"]
    return {name: stages.get(name, {}).get("key") for name in names}


def _needs_class_names(ctx: Context) -> None:
    if not ctx.run.stage("record").get("class_names"):
        raise AudioDissectError("the model has no class names to prune",
                                hint="record a classifier with named classes (class_names=...)")


class PruneStage(Stage):
    """Prune the chosen concepts with every strategy and measure on the held-out clips (paper Table 4).

    Settings: the run's ``prune`` section. The selections are measured on the
    run's executor (in this process, or on Ray workers that each hold one
    model replica); the key leaves the executor out, so a table measured by
    one is reused by the other. Rows already measured for a concept are
    cached under ``pruning/<concept>/`` and never measured again.
    """

    name = "prune"
    outputs = (PRUNING_TABLE, PRUNING_RESULTS)

    def inputs(self, ctx: Context) -> dict[str, Any]:
        run, cfg = ctx.run, ctx.config.prune
        needed = [stage for stage, strategies in (("identify", {"tab", "db"}), ("summarize", {"ocp"}))
                  if strategies & set(cfg.strategies) and not run.has_units(stage)]
        if needed:
            raise AudioDissectError(f"pruning with {', '.join(cfg.strategies)} needs the {' and '.join(needed)} "
                                    "results", hint=" and ".join(f"run `audiodissect {stage} --run {run.path}`"
                                                                 for stage in needed))
        _needs_class_names(ctx)
        if bool(cfg.units) != ("units" in cfg.strategies):
            raise AudioDissectError("the 'units' strategy prunes the units of prune.units: give both or neither",
                                    hint="e.g. prune(units=['layer#3']) or --units layer#3 --strategies units")
        return {**_keys(ctx, "record", "identify", "summarize"), "settings": dataclasses.asdict(cfg),
                "text_embedder": ctx.config.identify.text_embedder}

    def reaches(self, ctx: Context) -> dict[str, str | None]:
        from ..text_embedder import text_embedder_reach

        return {"identify.text_embedder": text_embedder_reach(ctx.config.identify.text_embedder)
                if "ocp" in ctx.config.prune.strategies else None}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        from .runner import evaluate_pruning

        table, results = evaluate_pruning(ctx.run, ctx.target, ctx.probe, ctx.config.prune,
                                          text_embedder=ctx.config.identify.text_embedder,
                                          batch_size=ctx.config.record.batch_size, hook=ctx.hook,
                                          executor=ctx.executor)
        section = {"table": table, "concepts": list(dict.fromkeys(row["concept"] for row in results)),
                   "output_layer": ctx.run.output_layer()}
        return section, section

    def load(self, ctx: Context) -> dict[str, Any]:
        return ctx.run.stage(self.name)

    def lines(self, ctx: Context, outcome: StageOutcome) -> list[str]:
        from .evaluate import format_table

        lines = ["pruning (held-out confidence change; dA: the concept's clips, dR: the rest)",
                 format_table(outcome.section["table"])]
        for finding in ctx.run.stage("record").get("output_checks") or []:  # the accuracy before pruning
            if finding.get("code") == "below_chance":
                lines += [f"warning: {finding['message']}", f"  hint: {finding['hint']}"]
        return lines


class ClassDropStage(Stage):
    """Which classes lose confidence when each concept is pruned (paper Fig. 10), from the pruning rows alone."""

    name = "class-drop"
    outputs = (CLASS_DROP_JSON,)

    def inputs(self, ctx: Context) -> dict[str, Any]:
        keys = _keys(ctx, "prune")
        if keys["prune"] is None or not ctx.run.file(PRUNING_RESULTS).exists():
            raise AudioDissectError(f"{ctx.run.path} has no pruning results",
                                    hint=f"run `audiodissect prune --run {ctx.run.path}` first")
        return keys

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        from .class_drop import write_class_drop

        result = write_class_drop(ctx.run)
        return {"summary": result["summary"], "files": result["files"]}, result

    def load(self, ctx: Context) -> dict[str, Any]:
        return ctx.run.stage(self.name)


class ImportanceStage(Stage):
    """Held-out accuracy when pruning units ranked by a property of their summaries, against random (Fig. 4).

    Settings: ``prune.importance_properties``, ``importance_fractions``,
    ``importance_seeds`` and ``include_output_layer``.
    """

    name = "importance"
    outputs = (IMPORTANCE_JSON,)

    def inputs(self, ctx: Context) -> dict[str, Any]:
        if not ctx.run.has_units("summarize"):
            raise AudioDissectError("the feature-importance curves rank units by their summaries, and this run has "
                                    "none", hint=f"run `audiodissect summarize --run {ctx.run.path}` first")
        _needs_class_names(ctx)
        cfg = ctx.config.prune
        return {**_keys(ctx, "record", "summarize"), "properties": list(cfg.importance_properties),
                "fractions": list(cfg.importance_fractions), "seeds": cfg.importance_seeds,
                "include_output_layer": cfg.include_output_layer}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        from .importance import run_importance

        result = run_importance(ctx.run, ctx.target, ctx.probe, ctx.config.prune,
                                batch_size=ctx.config.record.batch_size, hook=ctx.hook, executor=ctx.executor)
        return {"summary": result["summary"]}, result["summary"]

    def load(self, ctx: Context) -> dict[str, Any]:
        return ctx.run.stage(self.name)["summary"]


class CausalStage(Stage):
    """The causal check of unit names (:mod:`~audiodissect.prune.causal`): held-out output changes when a
    confidently named unit is switched off or turned up, on clips with its concept against the others,
    compared with random units of its layer.

    Settings: the run's ``causal`` section.
    """

    name = "causal"
    outputs = (f"{UNITS}/causal.jsonl",)

    def inputs(self, ctx: Context) -> dict[str, Any]:
        if not ctx.run.has_units("names"):
            raise AudioDissectError(f"{ctx.run.path} has no unit names to check",
                                    hint=f"run `audiodissect identify --run {ctx.run.path}` first")
        _needs_class_names(ctx)
        return {**_keys(ctx, "record", "identify"), "settings": dataclasses.asdict(ctx.config.causal),
                "include_output_layer": ctx.config.prune.include_output_layer}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], list]:
        import numpy as np

        from .causal import causal_effects, causal_summary
        from .runner import PruningContext

        run, cfg = ctx.run, ctx.config.causal
        pruning = PruningContext(run, ctx.target, ctx.probe, batch_size=ctx.config.record.batch_size,
                                 include_output_layer=ctx.config.prune.include_output_layer, hook=ctx.hook)
        keep = np.random.default_rng(cfg.seed).permutation(len(pruning.audio))[:cfg.clips]
        pruning.restrict(np.sort(keep))
        identify = run.stage("identify")
        evidence = {m: run.evidence(m)[pruning.audio.rows] for m in identify["methods"]}
        effects = causal_effects(pruning, run.read_units("names"), evidence, run.concepts() or [],
                                 units_per_layer=cfg.units_per_layer, random_units=cfg.random_units,
                                 amplify=cfg.amplify, seed=cfg.seed, executor=ctx.executor, hook=ctx.hook)
        run.write_units("causal", effects)
        return {"layers": causal_summary(effects), "clips": len(pruning.audio)}, effects

    def load(self, ctx: Context) -> list:
        return ctx.run.read_units("causal")

    def lines(self, ctx: Context, outcome: StageOutcome) -> list[str]:
        rows = outcome.section.get("layers") or []
        units, beats = sum(r["units"] for r in rows), sum(r["beats_random"] for r in rows)
        return [f"causal: {beats} of {units} checked names change the output more on their concept's clips "
                "than random units of their layer do (z > 2)"] if units else []
