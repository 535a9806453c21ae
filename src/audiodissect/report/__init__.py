"""The static HTML report of a run directory."""

from .build import build_report, detail_units
from .stage import ReportStage

__all__ = ["ReportStage", "build_report", "detail_units"]
