"""Planted ground-truth units: a layer of detectors with known concepts inside any target."""

from .benchmark import (
    ACOUSTIC_CONCEPTS,
    EXTRAS,
    BenchmarkSetup,
    acoustic_detectors,
    benchmark_concepts,
    benchmark_setup,
    default_detectors,
    format_table,
    recovery,
    recovery_rows,
)
from .detectors import BandEnergy, ClassCopy, Detector, Noisiness, PitchRange, Spectra, analyse
from .hard import (ClipIndicator, PitchBand, SpeechDetector, band_detectors, clip_digest, cohort_detectors,
                   label_detectors, label_names)
from .model import PLANTED_LAYER, PlantedLayer, PlantedModel, plant_units, planted_class_count, planted_concepts
from .run import planted_scores, run_planted, truth_indices
from .summaries import names_concept, planted_summaries, summary_recall, write_planted_summaries
from .trust import format_naming_table, naming_table

__all__ = [
    "ACOUSTIC_CONCEPTS", "EXTRAS", "BandEnergy", "BenchmarkSetup", "ClassCopy", "ClipIndicator", "Detector",
    "Noisiness", "PLANTED_LAYER", "PitchBand", "PitchRange", "PlantedLayer", "PlantedModel", "Spectra",
    "SpeechDetector", "acoustic_detectors", "analyse", "band_detectors", "benchmark_concepts", "benchmark_setup",
    "clip_digest", "cohort_detectors", "default_detectors", "format_naming_table", "format_table",
    "label_detectors", "label_names", "names_concept", "naming_table",
    "plant_units", "planted_class_count", "planted_concepts", "planted_scores", "planted_summaries", "recovery",
    "recovery_rows", "run_planted", "summary_recall", "truth_indices", "write_planted_summaries",
]
