"""Module A: closed-set concepts per unit (TAB, DB, labels), one name per unit, and how stable it is."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

#: Where each public name lives: imported on first use (PEP 562), so that a reused stage (its inputs read,
#: nothing recomputed) costs no torch.
_EXPORTS = {
    "clean_concepts": "concepts", "load_concepts": "concepts",
    "NamingSettings": "naming", "benjamini_hochberg": "naming", "name_units": "naming",
    "unexplained_share": "naming", "wilson_interval": "naming",
    "flip_shares": "stability", "name_stability": "stability", "noisy_waveforms": "stability",
    "IdentifyStage": "stage", "StabilityStage": "stage", "read_concepts": "stage",
    "METHODS": "units", "concept_records": "units", "identify_units": "units", "score_units": "units",
    "topk_clip_evidence": "units",
}

if TYPE_CHECKING:
    from .concepts import clean_concepts, load_concepts
    from .naming import NamingSettings, benjamini_hochberg, name_units, unexplained_share, wilson_interval
    from .stability import flip_shares, name_stability, noisy_waveforms
    from .stage import IdentifyStage, StabilityStage, read_concepts
    from .units import METHODS, concept_records, identify_units, score_units, topk_clip_evidence


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = ["METHODS", "IdentifyStage", "NamingSettings", "StabilityStage", "benjamini_hochberg", "clean_concepts",
           "concept_records", "flip_shares", "identify_units", "load_concepts", "name_stability", "name_units",
           "noisy_waveforms", "read_concepts", "score_units", "topk_clip_evidence", "unexplained_share",
           "wilson_interval"]
