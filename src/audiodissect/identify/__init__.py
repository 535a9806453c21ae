"""Module A: closed-set concepts per unit (TAB, DB), the concept set, and the identify stage."""

from .concepts import clean_concepts, load_concepts
from .stage import IdentifyStage, read_concepts
from .units import METHODS, concept_records, identify_units, score_units, topk_clip_evidence

__all__ = ["METHODS", "IdentifyStage", "clean_concepts", "concept_records", "identify_units", "load_concepts",
           "read_concepts", "score_units", "topk_clip_evidence"]
