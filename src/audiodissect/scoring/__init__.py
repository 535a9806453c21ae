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
    score_blocks,
    score_explanations,
    summarize_score_blocks,
    summarize_scores,
)
from .stage import LastLayerStage, ScoreStage
from .simulate import correlate, paired_correlation, rank_columns, simulate

__all__ = [
    "DescriptionEvidence", "ExplanationEvidence", "LastLayerStage", "ScoreStage", "collect_explanations",
    "compare_explanations", "correlate", "format_comparison", "format_layer_table", "format_summary",
    "open_concept_phrase", "paired_correlation", "rank_columns", "score_blocks", "score_explanations", "simulate",
    "summarize_score_blocks", "summarize_scores",
]
