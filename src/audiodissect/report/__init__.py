"""The static HTML report of a run directory."""

from .build import build_report, detail_units, stage_report

__all__ = ["build_report", "detail_units", "stage_report"]
