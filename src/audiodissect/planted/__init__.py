"""Planted ground-truth units: a layer of detectors with known concepts inside any target."""

from .benchmark import (
    ACOUSTIC_CONCEPTS,
    acoustic_detectors,
    benchmark_concepts,
    default_detectors,
    format_table,
    recovery,
    recovery_rows,
)
from .detectors import BandEnergy, ClassCopy, Detector, Noisiness, PitchRange, Spectra, analyse
from .model import PLANTED_LAYER, PlantedLayer, PlantedModel, plant_units, planted_class_count, planted_concepts
from .run import planted_scores, run_planted, truth_indices
from .summaries import names_concept, planted_summaries, summary_recall, write_planted_summaries

__all__ = [
    "ACOUSTIC_CONCEPTS", "BandEnergy", "ClassCopy", "Detector", "Noisiness", "PLANTED_LAYER", "PitchRange",
    "PlantedLayer", "PlantedModel", "Spectra", "acoustic_detectors", "analyse", "benchmark_concepts",
    "default_detectors", "format_table", "names_concept", "plant_units", "planted_class_count", "planted_concepts",
    "planted_scores", "planted_summaries", "recovery", "recovery_rows", "run_planted", "summary_recall",
    "truth_indices", "write_planted_summaries",
]
