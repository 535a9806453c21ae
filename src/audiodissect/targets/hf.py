"""Hugging Face audio classifiers (AST, wav2vec2, HuBERT, Whisper-encoder, ...) as targets.

The model comes from ``AutoModelForAudioClassification`` and its inputs from
``AutoFeatureExtractor``; both are read from a hub id or a local directory.
Layers are addressed by the module paths of the installed transformers
version, so nothing here names a module of any architecture.
"""

from __future__ import annotations

import inspect
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import AudioDissectError
from ..layers import unit_layers
from .base import Target


class FeatureExtractorPreprocess:
    """Waveforms (list of (T_i,)) to the model's keyword inputs, via its feature extractor.

    Pads to the longest clip when the extractor pads on request (wav2vec2-like),
    keeps the extractor's own padding otherwise (AST and Whisper pad to a fixed
    length), and passes only the outputs the model's ``forward`` accepts
    (``attention_mask`` included when the extractor returns one).
    """

    def __init__(self, feature_extractor: Any, model: torch.nn.Module):
        self.feature_extractor = feature_extractor
        self.sample_rate = int(feature_extractor.sampling_rate)
        params = inspect.signature(type(feature_extractor).__call__).parameters
        padding = params.get("padding")
        self.extra = {"padding": True} if padding is not None and padding.default in (False, None) else {}
        accepted = inspect.signature(model.forward).parameters
        self.accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        self.accepted = set(accepted)

    def __call__(self, waveforms: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        if len(waveforms) == 0:
            raise AudioDissectError("no waveforms to preprocess")
        batch = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waveforms]
        features = self.feature_extractor(batch, sampling_rate=self.sample_rate, return_tensors="pt",
                                          **self.extra)
        return {k: v for k, v in features.items()
                if isinstance(v, torch.Tensor) and (self.accepts_kwargs or k in self.accepted)}


def _looks_like_path(source: str) -> bool:
    """True for a local path; hub ids are ``name`` or ``owner/name``."""
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or os.sep != "/" and os.sep in source


def hub_reachable(*, timeout: float = 3.0) -> bool:
    """Whether the model hub's host (``$HF_ENDPOINT`` or huggingface.co) resolves and accepts a connection."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _from_pretrained(where: str, **kwargs: Any):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    extractor = AutoFeatureExtractor.from_pretrained(where, **kwargs)
    model = AutoModelForAudioClassification.from_pretrained(where, **kwargs)
    return extractor, model.eval()


def _load_error(source: str, exc: BaseException | None) -> AudioDissectError:
    if isinstance(exc, pickle.UnpicklingError):  # torch's own text is long and holds terminal escapes
        return AudioDissectError(
            f"the Hugging Face model {source!r} holds weights in a pickle file with objects other than tensors, "
            "which are not loaded for safety (torch.load with weights_only=True refused them)",
            hint="use a model saved as safetensors (save_pretrained's default), or convert the .bin file where you "
                 "trust it")
    if exc is None:
        reason = "it is not in the local cache and the model hub cannot be reached"
    else:
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
    return AudioDissectError(
        f"cannot load the Hugging Face audio classifier {source!r}: {reason}",
        hint="without internet access, download the model where you have it "
             "(save_pretrained or `hf download`) and pass its local directory as hf:<path>")


def load_hf(source: str, *, local_files_only: bool | None = None):
    """(feature extractor, model in eval mode) from a hub id or a local directory.

    A hub id is looked up in the local cache first; the hub is asked only when
    that fails and its host can be reached, so an offline machine gets a quick,
    clear :class:`AudioDissectError` instead of minutes of retries.
    """
    if not source:
        raise AudioDissectError("empty Hugging Face model name", hint="use hf:<model id or local path>")
    path = Path(source).expanduser()
    if path.is_dir():
        try:
            return _from_pretrained(str(path))
        except (OSError, ValueError, KeyError, pickle.UnpicklingError) as exc:
            raise _load_error(source, exc) from None
    if _looks_like_path(source):
        raise AudioDissectError(f"no model directory at {source}",
                                hint="pass a directory saved with save_pretrained, or a hub model id")
    try:
        return _from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as exc:
        cached_error = exc
    if local_files_only or not hub_reachable():
        raise _load_error(source, cached_error if local_files_only else None)
    try:
        return _from_pretrained(source)
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as exc:
        raise _load_error(source, exc) from None


def hf_target(source: str, *, device: str | None = None, local_files_only: bool | None = None) -> Target:
    """A Hugging Face audio classifier as a :class:`Target`.

    Parameters
    ----------
    source : str
        Hub model id (needs the internet or the local hub cache) or a local directory.
    device : str, optional
    local_files_only : bool, optional
        Passed to ``from_pretrained``.

    Returns
    -------
    Target
        Sample rate from the feature extractor, class names from ``config.id2label``,
        default layers: every Linear module.
    """
    extractor, model = load_hf(source, local_files_only=local_files_only)
    if device:
        model = model.to(device)
    id2label = getattr(model.config, "id2label", None) or {}
    names = [str(id2label[i]) for i in sorted(id2label, key=int)] if id2label else None
    return Target(name=f"hf:{source}", module=model, sample_rate=int(extractor.sampling_rate),
                  preprocess=FeatureExtractorPreprocess(extractor, model), class_names=names,
                  default_layers=unit_layers(model, [torch.nn.Linear]))
