"""The ``audio_text`` predictor: an audio-text evidence backend applied to explanation texts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..probes.base import ProbeSet


class AudioTextEvidence:
    """``explanation_evidence(texts) -> (N, len(texts))`` on fixed clips, from a TAB backend.

    The clip side is computed once, on the first call, and reused for every
    batch of texts: the tag logits for a tag bridge (``tag_logits`` +
    ``evidence_from_logits``), the audio embeddings for a CLAP-like backend
    (``audio_embeddings`` + ``text_embeddings``, cosine). Any other backend's
    ``evidence(waveforms, texts)`` is called as is.

    Parameters
    ----------
    backend : evidence backend
        From :func:`audiodissect.evidence.load_evidence_backend`.
    probe : ProbeSet
    rows : sequence of int
        The clips to predict on (the held-out clips), in order.
    """

    def __init__(self, backend: Any, probe: ProbeSet, rows: Sequence[int]):
        self.backend = backend
        self.name = str(getattr(backend, "name", type(backend).__name__))
        self._probe = probe
        self._rows = [int(r) for r in rows]
        self._clip_side: np.ndarray | None = None

    def _waveforms(self) -> list[np.ndarray]:
        rate = int(self.backend.sample_rate)
        return [self._probe.audio(r, sample_rate=rate) for r in self._rows]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Similarities, shape (N, len(texts)), float32."""
        texts = list(texts)
        b = self.backend
        if hasattr(b, "tag_logits") and hasattr(b, "evidence_from_logits"):
            if self._clip_side is None:
                self._clip_side = np.asarray(b.tag_logits(self._waveforms()), dtype=np.float32)
            return np.asarray(b.evidence_from_logits(self._clip_side, texts), dtype=np.float32)
        if hasattr(b, "audio_embeddings") and hasattr(b, "text_embeddings"):
            if self._clip_side is None:
                self._clip_side = np.asarray(b.audio_embeddings(self._waveforms()), dtype=np.float32)
            return (self._clip_side @ np.asarray(b.text_embeddings(texts), dtype=np.float32).T).astype(np.float32)
        return np.asarray(b.evidence(self._waveforms(), texts), dtype=np.float32)
