"""Module A: closed-set concepts per unit (TAB, DB, labels), one name per unit, and how stable it is."""

from .concepts import clean_concepts, load_concepts
from .naming import NamingSettings, benjamini_hochberg, name_units, unexplained_share, wilson_interval
from .stability import flip_shares, name_stability, noisy_waveforms
from .stage import IdentifyStage, StabilityStage, read_concepts
from .units import METHODS, concept_records, identify_units, score_units, topk_clip_evidence

__all__ = ["METHODS", "IdentifyStage", "NamingSettings", "StabilityStage", "benjamini_hochberg", "clean_concepts",
           "concept_records", "flip_shares", "identify_units", "load_concepts", "name_stability", "name_units",
           "noisy_waveforms", "read_concepts", "score_units", "topk_clip_evidence", "unexplained_share",
           "wilson_interval"]
