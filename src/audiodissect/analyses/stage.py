"""The analyze stage: the paper's analyses of a run (``analysis/``)."""

from __future__ import annotations

from typing import Any

from ..cache import read_json
from ..rundir import ANALYSIS
from ..stage import Stage
from .run import AnalysisSettings, analysis_inputs, write_analyses


class AnalyzeStage(Stage):
    """Adjective counts, adjectives by depth, uninterpretable units and the last-layer plot.

    Each analysis runs when its inputs exist; the others are listed under
    ``skipped`` with the reason.
    """

    name = "analyze"
    outputs = (f"{ANALYSIS}/summary.json",)

    def __init__(self, settings: AnalysisSettings = AnalysisSettings(), *, embedder: Any = None):
        self.settings = settings
        self.embedder = embedder

    def inputs(self, ctx: Any) -> dict[str, Any]:
        return {**analysis_inputs(ctx.run), "settings": self.settings,
                "embedder": getattr(self.embedder, "name", "minilm")}

    def run(self, ctx: Any, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        summary = write_analyses(ctx.run, self.settings, embedder=self.embedder, hook=ctx.hook)
        done = [name for name in ("adjectives", "uninterpretable", "last_layer") if name in summary]
        return {"done": done, "skipped": sorted(summary["skipped"])}, summary

    def load(self, ctx: Any) -> dict[str, Any]:
        return read_json(ctx.run.analysis_dir / "summary.json")
