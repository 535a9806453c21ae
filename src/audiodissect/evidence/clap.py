"""TAB evidence from a CLAP audio-text model (transformers ``ClapModel``).

Any hub id or local folder that holds a ``ClapModel`` and its ``ClapProcessor``
works; the default is ``laion/clap-htsat-unfused``, as in the paper.
Evidence is the cosine between each clip's audio embedding and each
concept's text embedding (both L2-normalised).

Clips longer than the feature extractor's window (10 s for the LAION
models) are cut into consecutive windows whose embeddings are averaged and
renormalised, so every part of a clip counts and the result does not depend
on the extractor's random crop.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..audio import resample
from ..errors import AudioDissectError
from ..progress import ProgressHook, track

DEFAULT_CLAP = "laion/clap-htsat-unfused"


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _features(out: Any):
    """A ``get_*_features`` result as a tensor (transformers 4 returns one, 5 an output object)."""
    return out if hasattr(out, "dim") else out.pooler_output


class ClapEvidence:
    """A CLAP model as an audio-text evidence backend.

    Parameters
    ----------
    model : str
        Hub id or local folder with the model and its processor.
    device : str, optional
        ``"cuda"``, ``"cpu"``, ...; CUDA when available by default.
    batch_size : int
        Audio windows (or texts) per forward pass.
    template : str
        How a concept is worded for the text tower, with one ``{}``.
    """

    def __init__(self, model: str = DEFAULT_CLAP, *, device: str | None = None, batch_size: int = 8,
                 template: str = "{}", hook: ProgressHook | None = None):
        self.model_name = str(model)
        self.name = f"clap:{self.model_name}"
        self.batch_size = int(batch_size)
        self.template = template
        self.hook = hook
        self._device = device

    @functools.cached_property
    def _loaded(self):
        try:
            import torch
            from transformers import ClapModel, ClapProcessor
        except ImportError as exc:
            raise AudioDissectError(f"CLAP evidence needs transformers with CLAP support: {exc}") from None
        try:
            processor = ClapProcessor.from_pretrained(self.model_name)
            model = ClapModel.from_pretrained(self.model_name)
        except Exception as exc:
            raise AudioDissectError(f"cannot load CLAP model {self.model_name!r}: {exc}",
                                    hint="needs the internet for a hub id; offline, use the tag bridge "
                                         "or a local folder") from None
        device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
        return processor, model.to(device).eval(), torch.device(device)

    @property
    def sample_rate(self) -> int:
        """The rate the feature extractor expects (48 kHz for the LAION models)."""
        return int(self._loaded[0].feature_extractor.sampling_rate)

    def settings(self) -> dict[str, Any]:
        return {"backend": "clap", "model": self.model_name, "template": self.template}

    def _windows(self, waveforms: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
        """Cut clips into windows of at most the extractor's length: (windows, owner clip of each)."""
        limit = int(getattr(self._loaded[0].feature_extractor, "nb_max_samples", 0)) or None
        windows: list[np.ndarray] = []
        owner: list[int] = []
        for i, w in enumerate(waveforms):
            w = np.asarray(w, dtype=np.float32).reshape(-1)
            if w.size == 0:
                raise AudioDissectError(f"clip {i} is empty")
            n = 1 if limit is None else max(1, math.ceil(w.size / limit))
            for j in range(n):
                part = w if limit is None else w[j * limit:(j + 1) * limit]
                if j > 0 and part.size < limit // 4:  # a short tail adds little but noise
                    break
                windows.append(part)
                owner.append(i)
        return windows, np.asarray(owner, dtype=np.int64)

    def audio_embeddings(self, waveforms: Sequence[np.ndarray], *, sample_rate: int | None = None) -> np.ndarray:
        """Unit-norm audio embeddings, (N,) waveforms -> (N, D) float32.

        Parameters
        ----------
        waveforms : sequence of np.ndarray, each (T_i,)
            Mono audio at `sample_rate` (default: :attr:`sample_rate`); resampled if it differs.
        """
        import torch

        processor, model, device = self._loaded
        rate = self.sample_rate
        if sample_rate is not None and int(sample_rate) != rate:
            waveforms = [resample(w, int(sample_rate), rate) for w in waveforms]
        windows, owner = self._windows(waveforms)
        batches = [range(s, min(s + self.batch_size, len(windows))) for s in range(0, len(windows), self.batch_size)]
        chunks = []
        for batch in track(batches, "clap audio", hook=self.hook, artefact=self.model_name):
            inputs = processor.feature_extractor([windows[i] for i in batch], sampling_rate=rate,
                                                 return_tensors="pt")
            inputs = {k: v.to(device) for k, v in inputs.items()}
            with torch.inference_mode():
                chunks.append(_features(model.get_audio_features(**inputs)).float().cpu().numpy())
        per_window = _unit_rows(np.concatenate(chunks))
        sums = np.zeros((len(waveforms), per_window.shape[1]), dtype=np.float64)
        np.add.at(sums, owner, per_window)
        return _unit_rows(sums)

    def text_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm text embeddings of ``template.format(text)``, (C,) -> (C, D) float32."""
        import torch

        processor, model, device = self._loaded
        words = [self.template.format(t) for t in texts]
        chunks = []
        for s in range(0, len(words), self.batch_size):
            inputs = processor.tokenizer(words[s:s + self.batch_size], padding=True, truncation=True,
                                         return_tensors="pt")
            inputs = {k: v.to(device) for k, v in inputs.items()}
            with torch.inference_mode():
                chunks.append(_features(model.get_text_features(**inputs)).float().cpu().numpy())
        return _unit_rows(np.concatenate(chunks))

    def evidence(self, probe_or_waveforms: Any, concepts: Sequence[str], *,
                 sample_rate: int | None = None) -> np.ndarray:
        """Cosine of clip audio and concept text embeddings, shape (N, C), float32.

        Parameters
        ----------
        probe_or_waveforms : ProbeSet or sequence of np.ndarray (T_i,)
            Waveforms are taken to be at `sample_rate` (default: :attr:`sample_rate`).
        concepts : sequence of str
        """
        from .waveforms import waveforms_at

        waves = waveforms_at(probe_or_waveforms, self.sample_rate, sample_rate=sample_rate)
        return (self.audio_embeddings(waves) @ self.text_embeddings(concepts).T).astype(np.float32)
