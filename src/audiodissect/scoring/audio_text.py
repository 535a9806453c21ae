"""The ``audio_text`` predictor: an audio-text evidence backend applied to explanation texts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import hash_key, load_npy, save_npy
from ..probes.base import ProbeSet


class AudioTextEvidence:
    """``explanation_evidence(texts) -> (N, len(texts))`` on fixed clips, from a TAB backend.

    The clip side is computed once per instance and, with a `cache_dir`, once
    per run: the tag logits for a tag bridge (``tag_logits`` +
    ``explanation_evidence_from_logits``, which embeds the texts as the
    description predictor does, or ``evidence_from_logits`` for a backend
    without it), the audio embeddings for a CLAP-like backend
    (``audio_embeddings`` + ``text_embeddings``, cosine). A tag bridge that
    keeps the run's shared tag-logit file (``probe_logits``) reads the rows
    from it when it is there (the TAB stage wrote it); otherwise the clip side
    of the given rows is saved as ``audio-text-<key>.npy``, keyed by the
    backend's name and the clips' ids. Any other backend's
    ``evidence(waveforms, texts)`` is called as is, except a combined
    ``"<base>+acoustic"`` backend: its base is a predictor of its own and
    the rows' measured qualities come from the probing set's feature cache.

    Parameters
    ----------
    backend : evidence backend
        From :func:`audiodissect.evidence.load_evidence_backend`.
    probe : ProbeSet
    rows : sequence of int
        The clips to predict on (the held-out clips), in order.
    cache_dir : path-like, optional
        The run's cache folder; None computes the clip side in memory only.
    """

    def __init__(self, backend: Any, probe: ProbeSet, rows: Sequence[int], *,
                 cache_dir: str | os.PathLike | None = None):
        self.backend = backend
        self.name = str(getattr(backend, "name", type(backend).__name__))
        self._probe = probe
        self._rows = [int(r) for r in rows]
        self._cache_dir = None if cache_dir is None else Path(cache_dir)
        self._clip_side: np.ndarray | None = None
        #: Where the clip side came from: ``"computed"``, ``"cache"`` or ``"run tag logits"`` (None before use).
        self.clip_side_source: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Once the clip side is known, a copy (for another process) leaves the probing set behind."""
        state = dict(self.__dict__)
        if state["_clip_side"] is not None:
            state["_probe"] = None
        return state

    def _waveforms(self) -> list[np.ndarray]:
        rate = int(self.backend.sample_rate)
        return [self._probe.audio(r, sample_rate=rate) for r in self._rows]

    def _shared_tag_logits(self) -> np.ndarray | None:
        """The rows of the run's tag-logit file when the backend keeps one there and it exists."""
        b = self.backend
        if self._cache_dir is None or not hasattr(b, "probe_logits") or not hasattr(b, "pooling"):
            return None
        from ..evidence.tag_logits import tag_logits_key

        ids = [str(c.id) for c in self._probe.clips]
        key = tag_logits_key(getattr(b, "tagger_name", self.name), ids, sample_rate=int(b.sample_rate))
        if not (self._cache_dir / f"tag-logits-{key}-{b.pooling}.npy").exists():
            return None
        if getattr(b, "cache_dir", None) is None:
            b.cache_dir = self._cache_dir
        self.clip_side_source = "run tag logits"
        return np.asarray(b.probe_logits(self._probe), dtype=np.float32)[self._rows]

    def _cached(self, kind: str, compute) -> np.ndarray:
        """`compute()` (the clip side of the rows), through ``audio-text-<key>.npy`` when caching."""
        if self._cache_dir is None:
            self.clip_side_source = "computed"
            return np.asarray(compute(), dtype=np.float32)
        ids = [str(self._probe.clips[r].id) for r in self._rows]
        settings = self.backend.settings() if hasattr(self.backend, "settings") else None
        path = self._cache_dir / f"audio-text-{hash_key('audio-text', kind, self.name, settings, ids)}.npy"
        if path.exists():
            cached = load_npy(path)
            if cached.ndim == 2 and cached.shape[0] == len(ids):
                self.clip_side_source = "cache"
                return cached
        matrix = np.asarray(compute(), dtype=np.float32)
        save_npy(path, matrix)
        self.clip_side_source = "computed"
        return matrix

    def clip_embedding(self) -> np.ndarray | None:
        """The clips' side as an audio embedding (n, d): tag logits or audio embeddings, None for a
        backend without one (then nothing is computed)."""
        b = self.backend
        if hasattr(b, "combine") and hasattr(b, "base"):  # "<base>+acoustic", "<base>+labels": the base's audio side
            return AudioTextEvidence(b.base, self._probe, self._rows, cache_dir=self._cache_dir).clip_embedding()
        if not (hasattr(b, "tag_logits") or hasattr(b, "audio_embeddings")):
            return None
        if self._clip_side is None:
            self([])
        return None if self._clip_side is None else np.asarray(self._clip_side, dtype=np.float32)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Similarities, shape (N, len(texts)), float32."""
        texts = list(texts)
        b = self.backend
        if hasattr(b, "combine") and hasattr(b, "base") and hasattr(b, "acoustic"):
            # "<base>+acoustic": the base as its own predictor, the rows' measured qualities read once
            if self._clip_side is None:
                if self._cache_dir is not None and b.acoustic.cache_dir is None:
                    b.acoustic.cache_dir = self._cache_dir
                self._base = AudioTextEvidence(b.base, self._probe, self._rows, cache_dir=self._cache_dir)
                self._clip_side = np.asarray(b.acoustic.features(self._probe))[self._rows]
                self.clip_side_source = "acoustic features"
            return b.combine(self._clip_side, texts, self._base)
        if hasattr(b, "tag_logits") and hasattr(b, "evidence_from_logits"):
            if self._clip_side is None:
                shared = self._shared_tag_logits()
                self._clip_side = shared if shared is not None else self._cached(
                    "tag-logits", lambda: b.tag_logits(self._waveforms()))
            explain = getattr(b, "explanation_evidence_from_logits", b.evidence_from_logits)
            return np.asarray(explain(self._clip_side, texts), dtype=np.float32)
        if hasattr(b, "audio_embeddings") and hasattr(b, "text_embeddings"):
            if self._clip_side is None:
                self._clip_side = self._cached("audio-embeddings", lambda: b.audio_embeddings(self._waveforms()))
            return (self._clip_side @ np.asarray(b.text_embeddings(texts), dtype=np.float32).T).astype(np.float32)
        return np.asarray(b.evidence(self._waveforms(), texts), dtype=np.float32)
