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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..audio import resample
from ..errors import AudioDissectError, unknown_name_error
from .acoustic import AcousticEvidence, CombinedEvidence, default_acoustic_concepts, load_vocabulary
from .clap import DEFAULT_CLAP, ClapEvidence
from .coverage import backend_coverage, constant_columns, no_evidence
from .descriptions import description_evidence, top_k_clips
from .labels import LABELS_SUFFIX, LabelEvidence, WithLabels
from .tag_bridge import DEFAULT_VARIANT, VARIANTS, TagBridge, bridge_evidence, is_circular

#: The tag bridge for sources, with the acoustic words (pitch, brightness, noisiness, ...) measured on the clips.
DEFAULT_TAB_BACKEND = "tag-bridge+acoustic"
BACKENDS = ("tag-bridge", "clap", "acoustic", "tag-bridge+acoustic", "clap+acoustic", "labels",
            "tag-bridge+acoustic+labels")
ACOUSTIC_SUFFIX = "+acoustic"


class EvidenceBackend(Protocol):
    name: str

    def evidence(self, probe_or_waveforms: Any, concepts: Sequence[str]) -> np.ndarray:
        """Clip-concept evidence, shape (N, C), float32."""
        ...

    def settings(self) -> dict[str, Any]:
        """JSON-able settings that, with the clips and concepts, determine the evidence."""
        ...


def waveforms_at(probe_or_waveforms: Any, rate: int, *, sample_rate: int | None = None) -> list[np.ndarray]:
    """Mono float32 waveforms at `rate` from a probing set or a sequence of arrays.

    Parameters
    ----------
    probe_or_waveforms : ProbeSet or sequence of np.ndarray (T_i,)
    rate : int
        The rate wanted.
    sample_rate : int, optional
        The rate of given arrays (default: `rate`); ignored for a probing set.
    """
    if hasattr(probe_or_waveforms, "clips") and hasattr(probe_or_waveforms, "audio"):
        probe = probe_or_waveforms
        return [probe.audio(i, sample_rate=rate) for i in range(len(probe))]
    waves = [np.asarray(w, dtype=np.float32).reshape(-1) for w in probe_or_waveforms]
    if not waves:
        raise AudioDissectError("no clips to compute evidence for")
    if sample_rate is not None and int(sample_rate) != int(rate):
        waves = [resample(w, int(sample_rate), int(rate)) for w in waves]
    return waves


def load_evidence_backend(spec: str = DEFAULT_TAB_BACKEND, *, device: str | None = None,
                          variant: str = DEFAULT_VARIANT, embedder: Any = "minilm",
                          batch_size: int | None = None) -> Any:
    """A TAB evidence backend from its spec.

    Parameters
    ----------
    spec : str
        ``"tag-bridge"`` (YAMNet as the tagger), ``"tag-bridge:<target spec>"``,
        ``"clap"`` (``laion/clap-htsat-unfused``) or ``"clap:<hub id or local folder>"``;
        ``"acoustic"`` (measured acoustic words only); any of the first two with
        ``"+acoustic"`` appended (``"tag-bridge+acoustic"``, ``"clap:<id>+acoustic"``):
        the acoustic words' columns measured, the others from that backend;
        ``"labels"`` (the probing set's labels), or any spec with ``"+labels"``
        appended (``"tag-bridge+acoustic+labels"``): the concepts that name a
        probe label from the labels, the others from that backend.
    device : str, optional
        For CLAP.
    variant : str
        Tag-bridge combination, a key of ``VARIANTS``.
    embedder : str or text embedder
        Tag-bridge name matcher.
    batch_size : int, optional
    """
    spec = str(spec).strip()
    if spec.lower() == "labels":
        return LabelEvidence()
    if spec.lower().endswith(LABELS_SUFFIX):
        return WithLabels(load_evidence_backend(spec[:-len(LABELS_SUFFIX)], device=device, variant=variant,
                                                embedder=embedder, batch_size=batch_size))
    if spec.lower() == "acoustic":
        return AcousticEvidence()
    if spec.lower().endswith(ACOUSTIC_SUFFIX):
        base = load_evidence_backend(spec[:-len(ACOUSTIC_SUFFIX)], device=device, variant=variant,
                                     embedder=embedder, batch_size=batch_size)
        return CombinedEvidence(base)
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind in ("tag-bridge", "tag_bridge", "tags"):
        return TagBridge(tagger_name=arg.strip() or "yamnet", embedder=embedder, variant=variant,
                         batch_size=batch_size or 16)
    if kind == "clap":
        return ClapEvidence(arg.strip() or DEFAULT_CLAP, device=device, batch_size=batch_size or 8)
    raise unknown_name_error("evidence backend", kind, BACKENDS)


from .runner import compute_evidence, evidence_cache_key  # noqa: E402

__all__ = [
    "BACKENDS", "DEFAULT_TAB_BACKEND", "VARIANTS", "AcousticEvidence", "ClapEvidence", "CombinedEvidence",
    "EvidenceBackend", "LabelEvidence", "TagBridge", "WithLabels", "backend_coverage", "bridge_evidence",
    "compute_evidence", "constant_columns", "default_acoustic_concepts", "description_evidence",
    "evidence_cache_key", "is_circular", "load_evidence_backend", "load_vocabulary", "no_evidence", "top_k_clips",
    "waveforms_at",
]
