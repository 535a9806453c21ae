"""A log-mel front end in plain torch, with YAMNet's settings as the default.

The computation follows the semantics of YAMNet's reference feature code:

1. frames of ``window_length`` samples every ``hop_length`` samples, with no
   centre padding (a waveform of T samples gives ``1 + (T - window_length) //
   hop_length`` frames);
2. each frame times a periodic Hann window, zero-padded at its end to
   ``n_fft`` samples, and the *magnitude* (not the power) of its real FFT;
3. an HTK mel filterbank whose triangles are linear in mel, not in Hz, with
   the DC bin given zero weight;
4. ``log(mel + log_offset)``;
5. optionally, patches of ``patch_frames`` frames every ``patch_hop`` frames.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import AudioDissectError


@dataclasses.dataclass(frozen=True)
class LogMelSettings:
    """Parameters of the log-mel front end (defaults: YAMNet's).

    Attributes
    ----------
    sample_rate : int
        Hz.
    window_length : int
        STFT window in samples (25 ms at 16 kHz).
    hop_length : int
        STFT hop in samples (10 ms at 16 kHz).
    n_fft : int
        FFT size; frames are zero-padded at their end to this length.
    n_mels : int
        Number of mel bands.
    f_min, f_max : float
        Lower and upper edges of the filterbank, in Hz.
    log_offset : float
        Added to the mel magnitudes before the natural log.
    patch_frames, patch_hop : int
        Patch length and hop, in frames.
    """

    sample_rate: int = 16000
    window_length: int = 400
    hop_length: int = 160
    n_fft: int = 512
    n_mels: int = 64
    f_min: float = 125.0
    f_max: float = 7500.0
    log_offset: float = 0.001
    patch_frames: int = 96
    patch_hop: int = 48

    def __post_init__(self) -> None:
        if self.window_length > self.n_fft:
            raise AudioDissectError(f"window_length {self.window_length} exceeds n_fft {self.n_fft}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise AudioDissectError(
                f"mel edges must satisfy 0 <= f_min < f_max <= {self.sample_rate / 2} Hz, "
                f"got {self.f_min} and {self.f_max}")

    @property
    def min_samples(self) -> int:
        """Fewest samples that give one full patch."""
        return (self.patch_frames - 1) * self.hop_length + self.window_length


YAMNET = LogMelSettings()


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``1127 * ln(1 + f / 700)``."""
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_filterbank(settings: LogMelSettings = YAMNET) -> np.ndarray:
    """Mel weights, shape (n_fft // 2 + 1, n_mels), float32.

    Band ``m`` is a triangle over mel that rises from edge ``m`` to edge
    ``m + 1`` and falls to edge ``m + 2``, the ``n_mels + 2`` edges being
    evenly spaced in mel between `f_min` and `f_max`. Row 0 (DC) is zero.
    """
    n_bins = settings.n_fft // 2 + 1
    bin_mel = hz_to_mel(np.linspace(0.0, settings.sample_rate / 2, n_bins))[1:, None]  # (n_bins-1, 1)
    edges = np.linspace(hz_to_mel(settings.f_min), hz_to_mel(settings.f_max), settings.n_mels + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - lower) / (centre - lower)
    falling = (upper - bin_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.concatenate([np.zeros((1, settings.n_mels)), weights]).astype(np.float32)


def periodic_hann(length: int) -> torch.Tensor:
    """Periodic Hann window ``0.5 - 0.5 cos(2 pi n / length)``, shape (length,)."""
    n = torch.arange(length, dtype=torch.float64)
    return (0.5 - 0.5 * torch.cos(2 * math.pi * n / length)).float()


class LogMel(torch.nn.Module):
    """Waveforms (B, T) to log-mel spectrograms (B, frames, n_mels).

    A plain module with its window and filterbank as buffers, so that it moves
    with ``.to(device)``. It has no parameters and no units.
    """

    def __init__(self, settings: LogMelSettings = YAMNET):
        super().__init__()
        self.settings = settings
        self.register_buffer("window", periodic_hann(settings.window_length), persistent=False)
        self.register_buffer("filterbank", torch.from_numpy(mel_filterbank(settings)), persistent=False)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        s = self.settings
        if waveforms.shape[-1] < s.window_length:
            raise AudioDissectError(f"audio of {waveforms.shape[-1]} samples is shorter than one "
                                    f"STFT window ({s.window_length})")
        frames = waveforms.unfold(-1, s.window_length, s.hop_length)  # (B, F, window_length)
        magnitude = torch.fft.rfft(frames * self.window, n=s.n_fft).abs()  # (B, F, n_fft//2+1)
        return torch.log(magnitude @ self.filterbank + s.log_offset)


def frame_patches(log_mel: torch.Tensor, settings: LogMelSettings = YAMNET) -> torch.Tensor:
    """Cut (B, F, n_mels) into (B, P, patch_frames, n_mels), P = 1 + (F - patch_frames) // patch_hop."""
    if log_mel.shape[1] < settings.patch_frames:
        raise AudioDissectError(f"{log_mel.shape[1]} frames are fewer than one patch ({settings.patch_frames})")
    return log_mel.unfold(1, settings.patch_frames, settings.patch_hop).transpose(2, 3)


def patch_padded_length(n_samples: int, settings: LogMelSettings = YAMNET) -> int:
    """Length YAMNet zero-pads a waveform to: at least one patch, then whole patch hops.

    A waveform shorter than one patch is padded to :attr:`LogMelSettings.min_samples`;
    a longer one is padded so that the samples after the first patch fill a
    whole number of patch hops, so its tail becomes one last, partly silent patch.
    """
    first = settings.min_samples
    hop = settings.patch_hop * settings.hop_length
    rest = max(0, n_samples - first)
    return first + hop * math.ceil(rest / hop)


def pad_batch(waveforms: Sequence[np.ndarray], length: int) -> torch.Tensor:
    """Zero-pad (or keep) each waveform (T_i,) to `length`; returns (B, length) float32."""
    batch = np.zeros((len(waveforms), length), dtype=np.float32)
    for i, w in enumerate(waveforms):
        w = np.asarray(w, dtype=np.float32).reshape(-1)[:length]
        batch[i, : w.shape[0]] = w
    return torch.from_numpy(batch)
