"""Clip-level logits of a target over many waveforms, in batches."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import AudioDissectError
from ..progress import ProgressHook, track
from .base import Target, require_logits


def clip_logits(target: Target, waveforms: Iterable[np.ndarray], *, batch_size: int = 16,
                hook: ProgressHook | None = None) -> np.ndarray:
    """Logits of every waveform, shape (N, n_classes), float32, in input order.

    Waveforms (each (T_i,) mono float32 at ``target.sample_rate``) are grouped
    by length, so that every batch holds clips of one length and no clip is
    padded to another's length.

    Parameters
    ----------
    target : Target
    waveforms : iterable of np.ndarray, each (T_i,)
    batch_size : int
        Clips per forward pass.
    hook : progress hook, optional
    """
    if batch_size < 1:
        raise AudioDissectError(f"batch_size must be at least 1, got {batch_size}")
    clips = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waveforms]
    if not clips:
        raise AudioDissectError("no waveforms to classify")
    groups: dict[int, list[int]] = {}
    for i, clip in enumerate(clips):
        groups.setdefault(clip.size, []).append(i)
    batches = [members[i:i + batch_size] for _, members in sorted(groups.items())
               for i in range(0, len(members), batch_size)]
    out: np.ndarray | None = None
    for batch in track(batches, "logits", hook=hook, artefact=target.name):
        logits = require_logits(target.logits([clips[i] for i in batch]), len(batch), where=target.name) \
            .float().cpu().numpy().reshape(len(batch), -1)
        if out is None:
            out = np.zeros((len(clips), logits.shape[1]), dtype=np.float32)
        out[batch] = logits
    return out
