"""Per-clip evidence for concepts: the P matrices (N clips x C concepts) of Module A.

- TAB (audio-text): a backend with ``evidence(probe_or_waveforms, concepts)``;
  :class:`ClapEvidence` (a CLAP model, online) also gives ``audio_embeddings``
  and ``text_embeddings``; :class:`TagBridge` (a tagger plus a sentence
  embedder) is the offline default. :class:`AcousticEvidence` (``"acoustic"``)
  measures acoustic words (pitch register, brightness, noisiness, loudness,
  attack, sustain) on the audio; ``"<base>+acoustic"`` (:class:`CombinedEvidence`)
  takes those words' columns from it, averages a text that mentions them with
  their columns, and takes every other column from the base.
  :class:`LabelEvidence` (``"labels"``) is a labelled probing set's own labels
  (1 on a concept's clips, 0 elsewhere); ``"<base>+labels"`` (:class:`WithLabels`)
  takes the concepts that name a label from them, the others from the base.
- :func:`no_evidence` lists the concepts a matrix says nothing about (constant
  columns, concepts the source does not cover: :func:`backend_coverage`).
- DB (descriptions): :func:`description_evidence`.
- :func:`compute_evidence` runs either with a cache on disk.

Backends are found by spec in :data:`EVIDENCE_BACKENDS` (:func:`load_evidence_backend`).
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

#: Where each public name lives: imported on first use (PEP 562), so that the backends' specs (help texts,
#: settings) cost neither torch nor scipy.
_EXPORTS = {
    "AcousticEvidence": "acoustic", "CombinedEvidence": "acoustic", "default_acoustic_concepts": "acoustic",
    "load_vocabulary": "acoustic",
    "ACOUSTIC_SUFFIX": "backends", "DEFAULT_TAB_BACKEND": "backends", "EVIDENCE_BACKENDS": "backends",
    "LABELS_SUFFIX": "backends", "EvidenceBackend": "backends", "evidence_forms": "backends",
    "is_circular": "backends", "load_evidence_backend": "backends",
    "ClapEvidence": "clap",
    "backend_coverage": "coverage", "constant_columns": "coverage", "no_evidence": "coverage",
    "description_evidence": "descriptions", "top_k_clips": "descriptions",
    "LabelEvidence": "labels", "WithLabels": "labels",
    "compute_evidence": "runner", "evidence_cache_key": "runner",
    "VARIANTS": "tag_bridge", "TagBridge": "tag_bridge", "bridge_evidence": "tag_bridge",
    "waveforms_at": "waveforms",
}

if TYPE_CHECKING:
    from .acoustic import AcousticEvidence, CombinedEvidence, default_acoustic_concepts, load_vocabulary
    from .backends import (ACOUSTIC_SUFFIX, DEFAULT_TAB_BACKEND, EVIDENCE_BACKENDS, LABELS_SUFFIX, EvidenceBackend,
                           evidence_forms, is_circular, load_evidence_backend)
    from .clap import ClapEvidence
    from .coverage import backend_coverage, constant_columns, no_evidence
    from .descriptions import description_evidence, top_k_clips
    from .labels import LabelEvidence, WithLabels
    from .runner import compute_evidence, evidence_cache_key
    from .tag_bridge import VARIANTS, TagBridge, bridge_evidence
    from .waveforms import waveforms_at


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = [
    "ACOUSTIC_SUFFIX", "DEFAULT_TAB_BACKEND", "EVIDENCE_BACKENDS", "LABELS_SUFFIX", "VARIANTS", "AcousticEvidence",
    "ClapEvidence", "CombinedEvidence", "EvidenceBackend", "LabelEvidence", "TagBridge", "WithLabels",
    "backend_coverage", "bridge_evidence", "compute_evidence", "constant_columns", "default_acoustic_concepts",
    "description_evidence", "evidence_cache_key", "evidence_forms", "is_circular", "load_evidence_backend",
    "load_vocabulary", "no_evidence", "top_k_clips", "waveforms_at",
]
