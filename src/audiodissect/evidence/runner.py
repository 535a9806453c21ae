"""Compute an evidence matrix once and keep it on disk."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import hash_key, load_npy, save_npy
from ..errors import AudioDissectError, unknown_name_error
from ..probes.base import ProbeSet

log = logging.getLogger(__name__)
METHODS = ("tab", "db")


def _embedder_name(embedder: Any) -> str:
    return embedder if isinstance(embedder, str) else str(getattr(embedder, "name", type(embedder).__name__))


def evidence_cache_key(method: str, probe: ProbeSet, concepts: Sequence[str], *, settings: dict[str, Any],
                       descriptions: Sequence[str] | None = None) -> str:
    """The cache key of an evidence matrix: method, the set's content key, concepts, settings, descriptions."""
    return hash_key("evidence", 2, method, probe.name, probe.content_key(), list(concepts),
                    settings, list(descriptions) if descriptions is not None else None)


def compute_evidence(method: str, probe: Any, concepts: Sequence[str], *, backend: Any = None,
                     descriptions: Sequence[str] | None = None, cache_dir: str | os.PathLike | None,
                     embedder: Any = "minilm", temperature: float = 100.0) -> np.ndarray:
    """The evidence matrix P (N clips x C concepts) of a probing set, cached as ``.npy``.

    Parameters
    ----------
    method : {"tab", "db"}
    probe : ProbeSet
        Its :meth:`~audiodissect.probes.base.ProbeSet.content_key` keys the cache.
    concepts : sequence of str, length C
    backend : backend or str, optional
        For ``"tab"``: an evidence backend or a spec for
        :func:`audiodissect.evidence.load_evidence_backend` (default ``"tag-bridge+acoustic"``).
    descriptions : sequence of str, length N
        For ``"db"``: one description per clip, in clip order.
    cache_dir : path-like or None
        Where ``evidence-<method>-<key>.npy`` is kept; None disables caching.
        A tag bridge without a cache folder of its own keeps its clip logits
        here too (``tag-logits-<key>.npy``, shared with the captioner).
    embedder : str or text embedder
        For ``"db"``: encodes descriptions and concepts.
    temperature : float
        For ``"db"``.

    Returns
    -------
    np.ndarray, shape (N, C), float32
    """
    if method not in METHODS:
        raise unknown_name_error("evidence method", method, METHODS)
    concepts = list(concepts)
    if not concepts:
        raise AudioDissectError("no concepts to compute evidence for")
    n = len(probe.clips)
    if method == "tab":
        if descriptions is not None:
            raise AudioDissectError("descriptions are for method 'db', not 'tab'")
        if backend is None or isinstance(backend, str):
            from .backends import DEFAULT_TAB_BACKEND, load_evidence_backend

            backend = load_evidence_backend(backend or DEFAULT_TAB_BACKEND)
        if cache_dir is not None and getattr(backend, "cache_dir", 0) is None:
            # the tag bridge shares its clip logits with the captioner; acoustic evidence keeps its features
            backend.cache_dir = cache_dir
        settings = backend.settings() if hasattr(backend, "settings") else {"backend": backend.name}
    else:
        if descriptions is None:
            raise AudioDissectError("method 'db' needs one description per clip",
                                    hint="run the captioner first")
        descriptions = [str(d) for d in descriptions]
        if len(descriptions) != n:
            raise AudioDissectError(f"{len(descriptions)} descriptions for {n} clips")
        settings = {"embedder": _embedder_name(embedder), "temperature": float(temperature)}

    path = None
    if cache_dir is not None:
        key = evidence_cache_key(method, probe, concepts, settings=settings,
                                 descriptions=descriptions if method == "db" else None)
        path = Path(cache_dir) / f"evidence-{method}-{key}.npy"
        if path.exists():
            cached = load_npy(path)
            if cached.shape == (n, len(concepts)):
                log.info("evidence %s: cached %s", method, path.name)
                return cached
            log.warning("evidence cache %s has shape %s, expected %s; recomputing",
                        path, cached.shape, (n, len(concepts)))

    if method == "tab":
        result = np.asarray(backend.evidence(probe, concepts), dtype=np.float32)
    else:
        from .descriptions import description_evidence

        if isinstance(embedder, str):
            from ..text_embedder import load_text_embedder

            embedder = load_text_embedder(embedder)
        result = description_evidence(descriptions, concepts, embedder, temperature=temperature)
    if result.shape != (n, len(concepts)):
        raise AudioDissectError(f"evidence backend returned shape {result.shape}, expected {(n, len(concepts))}")
    if path is not None:
        save_npy(path, result)
    return result
