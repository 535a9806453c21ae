"""The paper's analyses of a dissection: adjectives over units and layers, uninterpretable units."""

from .adjectives import adjective_counts, adjectives_per_layer, depth_trend
from .interpretability import (clip_clusters, cluster_sentences, description_sentences, largest_shared_group,
                               top_rows, uninterpretable)
from .run import write_analyses
from .stage import AnalyzeStage

__all__ = ["adjective_counts", "adjectives_per_layer", "depth_trend", "clip_clusters", "cluster_sentences",
           "description_sentences", "largest_shared_group", "top_rows", "uninterpretable", "write_analyses",
           "AnalyzeStage"]
