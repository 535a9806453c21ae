"""Seeded synthetic audio shared by the tests: tones and noise as float32 waveforms."""

from __future__ import annotations

import numpy as np


def tone(freq: float = 440.0, *, seconds: float = 0.5, rate: int = 16000, amp: float = 0.5) -> np.ndarray:
    """A sine of `freq` Hz, shape (round(seconds * rate),), float32."""
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(rng: np.random.Generator | None = None, *, seconds: float = 0.5, rate: int = 16000, amp: float = 0.3,
          seed: int = 0) -> np.ndarray:
    """Gaussian noise of standard deviation `amp`, from `rng` (else a generator seeded with `seed`), float32."""
    rng = rng if rng is not None else np.random.default_rng(seed)
    return (amp * rng.standard_normal(int(rate * seconds))).astype(np.float32)
