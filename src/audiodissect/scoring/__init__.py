"""Explanation scoring by simulation (explain, simulate, score) on held-out clips."""

from .score import (
    DescriptionEvidence,
    ExplanationEvidence,
    collect_explanations,
    compare_explanations,
    format_comparison,
    format_layer_table,
    format_summary,
    open_concept_phrase,
    score_explanations,
    summarize_scores,
)
from .stage import ScoreStage, score_run
from .simulate import correlate, paired_correlation, rank_columns, simulate

__all__ = [
    "DescriptionEvidence", "ExplanationEvidence", "collect_explanations", "compare_explanations", "format_comparison", "correlate", "format_layer_table",
    "format_summary",
    "open_concept_phrase", "paired_correlation", "rank_columns", "score_explanations", "score_run", "ScoreStage",
    "simulate", "summarize_scores",
]
