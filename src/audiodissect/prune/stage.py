"""The prune stage: the pruning table, the per-class drops (Fig. 10) and, when asked, feature importance."""

from __future__ import annotations

from typing import Any

from ..cache import read_jsonl
from ..config import PruneConfig
from ..rundir import PRUNING, RunDir
from ..stage import Stage


class PruneStage(Stage):
    """Prune the chosen concepts with every strategy and measure on the held-out clips.

    The selections are measured by the run's executor (``executor`` settings):
    in this process, or on Ray workers that each hold one model replica; the
    key leaves the executor out, so a table measured by one is reused by the other.

    Parameters
    ----------
    config : PruneConfig, optional
        Default: the run's ``prune`` settings.
    encode : callable, optional
        Text embedder ``encode`` for OCP (default: ``config.text_embedder``).
    """

    name = "prune"
    outputs = (f"{PRUNING}/table.jsonl",)

    def __init__(self, config: PruneConfig | None = None, *, encode: Any = None):
        self.prune_config = config
        self.encode = encode

    def settings(self, ctx: Any) -> PruneConfig:
        return self.prune_config or ctx.config.prune

    def inputs(self, ctx: Any) -> dict[str, Any]:
        import dataclasses

        stages = ctx.run.manifest()["stages"]
        upstream = {name: stages.get(name, {}).get("key") for name in ("record", "identify", "summarize")}
        return {**upstream, "settings": dataclasses.asdict(self.settings(ctx))}

    def run(self, ctx: Any, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        from ..executor import make_executor
        from .runner import evaluate_pruning

        config = self.settings(ctx)
        run: RunDir = ctx.run
        executor = make_executor(getattr(ctx.config, "executor", None))
        table = evaluate_pruning(run, ctx.target, ctx.probe, config, encode=self.encode, hook=ctx.hook,
                                 executor=executor)
        pruned = dict.fromkeys(row["concept"] for row in read_jsonl(run.pruning_dir / "results.jsonl"))
        section: dict[str, Any] = {"table": table, "concepts": list(pruned), "output_layer": run.output_layer()}
        from .class_drop import write_class_drop

        section["class_drop"] = write_class_drop(run)["summary"]
        if config.importance and run.has_units("summarize"):
            from .importance import run_importance

            section["importance"] = run_importance(run, ctx.target, ctx.probe, config, hook=ctx.hook,
                                                   executor=executor)["summary"]
        return section, section

    def load(self, ctx: Any) -> dict[str, Any]:
        return ctx.run.stage("prune")


def stage_prune(run: RunDir, config: PruneConfig, *, target: Any, probe: Any, hook: Any = None,
                encode: Any = None) -> dict[str, Any]:
    """Run :class:`PruneStage` on `run` with `target` and `probe`; returns its manifest section."""
    from ..config import RunConfig
    from ..stage import Context, Runner

    ctx = Context(run, RunConfig(prune=config), target_source=target, probe_source=probe, hook=hook)
    return Runner(run)(PruneStage(config, encode=encode), ctx).section
