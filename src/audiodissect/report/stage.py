"""The report stage: the static HTML report of everything the run holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..rundir import REPORT
from ..stage import Stage
from .build import DEFAULT_UNITS_PER_LAYER, build_report


class ReportStage(Stage):
    """Write ``report/index.html`` and its unit pages; rebuilt whenever any other stage's result changed."""

    name = "report"
    outputs = (f"{REPORT}/index.html",)

    def __init__(self, *, units_per_layer: int = DEFAULT_UNITS_PER_LAYER):
        self.units_per_layer = units_per_layer

    def inputs(self, ctx: Any) -> dict[str, Any]:
        from ..cache import hash_file
        from ..prune.class_drop import JSON_NAME as CLASS_DROP_JSON
        from ..prune.importance import SUMMARY_NAME as IMPORTANCE_JSON

        stages = ctx.run.manifest()["stages"]
        # results that `audiodissect evaluate ...` writes outside the stages
        written = [ctx.run.pruning_dir / name for name in ("table.jsonl", IMPORTANCE_JSON, CLASS_DROP_JSON)]
        return {**{name: section.get("key") for name, section in sorted(stages.items()) if name != "report"},
                "config": ctx.run.read_config(), "units_per_layer": self.units_per_layer,
                "evaluations": {path.name: hash_file(path) for path in written if path.exists()}}

    def run(self, ctx: Any, key: str) -> tuple[dict[str, Any], Path]:
        probe = ctx.probe if ctx.probe_source is not None else None
        index = build_report(ctx.run, probe=probe, hook=ctx.hook, units_per_layer=self.units_per_layer)
        return {"index": str(index)}, index

    def load(self, ctx: Any) -> Path:
        return ctx.run.report_dir / "index.html"
