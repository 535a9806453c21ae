"""The report stage: the static HTML report of everything the run holds."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..config import STAGES
from ..errors import AudioDissectError
from ..rundir import REPORT_INDEX
from ..stage import Context, Stage, StageOutcome
from .build import build_report


class ReportStage(Stage):
    """Write ``report/index.html`` and its unit pages; rebuilt whenever any other stage's result changed.

    Settings: the run's ``report`` section; the report also shows the run's settings, so any change of
    them rebuilds it.
    """

    name = "report"
    outputs = (REPORT_INDEX,)

    def inputs(self, ctx: Context) -> dict[str, Any]:
        stages = ctx.run.manifest()["stages"]
        return {**{name: stages.get(name, {}).get("key") for name in STAGES if name != self.name},
                "config": dataclasses.asdict(ctx.config)}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], Path]:
        try:
            probe = ctx.probe if ctx.has_probe else None
        except AudioDissectError:  # clips held in memory and not given again: the report says it has no audio
            probe = None
        index = build_report(ctx.run, ctx.config.report, probe=probe, hook=ctx.hook, reopen=False)
        return {"index": str(index)}, index

    def load(self, ctx: Context) -> Path:
        return ctx.run.file(REPORT_INDEX)

    def lines(self, ctx: Context, outcome: StageOutcome) -> list[str]:
        return [f"report: {self.load(ctx)}"]
