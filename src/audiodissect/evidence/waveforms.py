"""The clips' audio as the evidence backends read it: mono float32 waveforms at the backend's rate."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..audio import resample
from ..errors import AudioDissectError


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
