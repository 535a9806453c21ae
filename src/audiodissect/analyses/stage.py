"""The analyze stage: the paper's analyses of a run (``analysis/``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..cache import read_json
from ..rundir import ANALYSIS_SUMMARY
from ..stage import Context, Stage
from .run import check_settings, write_analyses


class AnalyzeStage(Stage):
    """Adjective counts, adjectives by depth, uninterpretable units and the last-layer plot.

    Settings: the run's ``analyze`` section; sentences are embedded with
    ``identify.text_embedder``. Each analysis runs when its inputs exist; the
    others are listed under ``skipped`` with the reason.
    """

    name = "analyze"
    outputs = (ANALYSIS_SUMMARY,)

    def inputs(self, ctx: Context) -> dict[str, Any]:
        check_settings(ctx.config.analyze)
        stages = ctx.run.manifest()["stages"]
        upstream = {name: stages.get(name, {}).get("key") for name in ("record", "describe", "summarize",
                                                                        "last-layer")}
        return {**upstream, "settings": dataclasses.asdict(ctx.config.analyze),
                "embedder": ctx.config.identify.text_embedder}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        from ..text_embedder import load_text_embedder

        summary = write_analyses(ctx.run, ctx.config.analyze,
                                 embedder=load_text_embedder(ctx.config.identify.text_embedder), hook=ctx.hook)
        done = [name for name in ("adjectives", "uninterpretable", "last_layer") if name in summary]
        return {"done": done, "skipped": sorted(summary["skipped"])}, summary

    def load(self, ctx: Context) -> dict[str, Any]:
        return read_json(ctx.run.file(ANALYSIS_SUMMARY))
