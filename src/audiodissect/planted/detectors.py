"""Detectors with known concepts: the units of a planted layer.

Each detector maps a batch of clips to one number per clip, from the
waveform's short-time spectrum or from the wrapped model's logits, so its
concept is known by construction:

=================  =====================================================  ======================
detector           value per clip                                          concept (default)
=================  =====================================================  ======================
ClassCopy          the wrapped model's logit of one class                  the class name
BandEnergy         share of the active frames' power inside [lo, hi) Hz    e.g. "dull", "bright"
PitchRange         mean over active frames of periodicity x a soft         e.g. "low-pitched",
                   indicator that the frame's f0 lies in [lo, hi] Hz      "high-pitched"
Noisiness          mean spectral flatness of the active frames              "noisy"
=================  =====================================================  ======================

Active frames are the frames inside the clip (padding excluded) whose RMS is
within 40 dB of the clip's loudest frame. Everything is vectorised over
clips and frames.
"""

from __future__ import annotations

import dataclasses
import math

import torch

ACTIVE_DB = 40.0
_EPS = 1e-10


@dataclasses.dataclass
class Spectra:
    """The short-time analysis of a padded batch, shared by all detectors.

    Attributes
    ----------
    power : torch.Tensor, shape (B, F, K)
        Power spectrum of each frame (K = n_fft // 2 + 1 bins).
    freqs : torch.Tensor, shape (K,)
        Bin centre frequencies in Hz.
    active : torch.Tensor, shape (B, F), float 0/1
        Frames inside the clip and within 40 dB of its loudest frame.
    autocorr : torch.Tensor, shape (B, F, L)
        Normalised, unbiased autocorrelation of each frame at lags 0..L-1 samples.
    sample_rate : int
    logits : torch.Tensor, shape (B, n_classes)
    hop : int
        Samples between frame starts.
    waveform : torch.Tensor or None, shape (B, T)
        The zero-padded waveforms as given.
    lengths : torch.Tensor or None, shape (B,)
        Their true lengths in samples.
    """

    power: torch.Tensor
    freqs: torch.Tensor
    active: torch.Tensor
    autocorr: torch.Tensor
    sample_rate: int
    logits: torch.Tensor
    hop: int = 256
    waveform: torch.Tensor | None = None
    lengths: torch.Tensor | None = None

    def frame_mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean of per-frame `values` (B, F) over each clip's active frames -> (B,)."""
        return (values * self.active).sum(dim=1) / self.active.sum(dim=1).clamp_min(1.0)


def analyse(waveform: torch.Tensor, lengths: torch.Tensor, logits: torch.Tensor, *, sample_rate: int,
            n_fft: int = 1024, hop: int = 256) -> Spectra:
    """Frame a padded batch and compute the spectra the detectors read.

    Parameters
    ----------
    waveform : torch.Tensor, shape (B, T)
        Zero-padded mono waveforms.
    lengths : torch.Tensor, shape (B,)
        True lengths in samples.
    logits : torch.Tensor, shape (B, n_classes)
    sample_rate : int
    n_fft, hop : int
        Frame and hop length in samples.
    """
    given = waveform
    waveform = waveform.float()
    if waveform.shape[1] < n_fft:
        waveform = torch.nn.functional.pad(waveform, (0, n_fft - waveform.shape[1]))
    frames = waveform.unfold(1, n_fft, hop)                     # (B, F, n_fft)
    starts = torch.arange(frames.shape[1], device=waveform.device) * hop
    inside = (starts[None, :] + n_fft <= lengths[:, None].clamp_min(n_fft)).float()  # (B, F)
    window = torch.hann_window(n_fft, periodic=True, device=waveform.device)
    spec = torch.fft.rfft(frames * window, dim=-1)
    power = spec.real ** 2 + spec.imag ** 2                      # (B, F, K)
    energy = frames.pow(2).mean(dim=-1)                          # (B, F)
    energy_db = 10 * torch.log10(energy + _EPS)
    loudest = torch.where(inside > 0, energy_db, torch.full_like(energy_db, -1e9)).amax(dim=1, keepdim=True)
    active = inside * (energy_db >= loudest - ACTIVE_DB).float() * (energy > _EPS).float()
    # autocorrelation of the (unwindowed, zero-padded) frame through the power spectrum
    centred = frames - frames.mean(dim=-1, keepdim=True)
    full = torch.fft.rfft(centred, n=2 * n_fft, dim=-1)
    ac = torch.fft.irfft(full.real ** 2 + full.imag ** 2, n=2 * n_fft, dim=-1)[..., :n_fft // 2]
    overlap = (n_fft - torch.arange(n_fft // 2, device=waveform.device)).float() / n_fft
    ac = ac / overlap
    ac = ac / ac[..., :1].clamp_min(_EPS)
    freqs = torch.fft.rfftfreq(n_fft, d=1.0 / sample_rate).to(waveform.device)
    return Spectra(power=power, freqs=freqs, active=active, autocorr=ac, sample_rate=int(sample_rate),
                   logits=logits, hop=int(hop), waveform=given, lengths=lengths)


class Detector(torch.nn.Module):
    """One planted unit: ``forward(spectra) -> (B,)``, with a known `concept`.

    `group` names the kind of unit in the benchmark's table (``class``,
    ``acoustic``, ``band``, ``speech``, ``label``).
    """

    concept: str
    group = "acoustic"

    def describe(self) -> str:
        raise NotImplementedError


class ClassCopy(Detector):
    """Copies the wrapped model's logit of class `index`."""

    group = "class"

    def __init__(self, index: int, concept: str):
        super().__init__()
        self.index = int(index)
        self.concept = concept

    def forward(self, spectra: Spectra) -> torch.Tensor:
        return spectra.logits[:, self.index].float()

    def describe(self) -> str:
        return f"logit {self.index} ({self.concept})"


class BandEnergy(Detector):
    """Share of the active frames' power in the band [low_hz, high_hz)."""

    def __init__(self, low_hz: float, high_hz: float, concept: str):
        super().__init__()
        if not 0 <= low_hz < high_hz:
            raise ValueError(f"need 0 <= low_hz < high_hz, got {low_hz}, {high_hz}")
        self.low_hz, self.high_hz = float(low_hz), float(high_hz)
        self.concept = concept

    def forward(self, spectra: Spectra) -> torch.Tensor:
        band = ((spectra.freqs >= self.low_hz) & (spectra.freqs < self.high_hz)).float()  # (K,)
        power = (spectra.power * spectra.active[..., None]).sum(dim=1)                    # (B, K)
        return (power * band).sum(dim=1) / power.sum(dim=1).clamp_min(_EPS)

    def describe(self) -> str:
        return f"power share {self.low_hz:g}-{self.high_hz:g} Hz ({self.concept})"


class PitchRange(Detector):
    """How much of the clip is periodic with a fundamental in [low_hz, high_hz].

    Per active frame: the fundamental f0 is the shortest lag (within 40-4000 Hz)
    whose normalised autocorrelation reaches 0.9 of the frame's best, the
    periodicity is the autocorrelation there (clipped to [0, 1]); the frame
    counts ``periodicity * s(f0)``, where ``s`` is a soft indicator of the
    range (a logistic in log2 f0 with a quarter-octave scale at each edge).
    """

    F0_RANGE = (40.0, 4000.0)

    def __init__(self, low_hz: float, high_hz: float, concept: str):
        super().__init__()
        if not 0 < low_hz < high_hz:
            raise ValueError(f"need 0 < low_hz < high_hz, got {low_hz}, {high_hz}")
        self.low_hz, self.high_hz = float(low_hz), float(high_hz)
        self.concept = concept

    def forward(self, spectra: Spectra) -> torch.Tensor:
        f0, periodicity = frame_pitch(spectra)
        log_f0 = torch.log2(f0)
        scale = 0.25
        inside = torch.sigmoid((log_f0 - math.log2(self.low_hz)) / scale) * \
            torch.sigmoid((math.log2(self.high_hz) - log_f0) / scale)
        return spectra.frame_mean(periodicity * inside)

    def describe(self) -> str:
        return f"periodic with f0 {self.low_hz:g}-{self.high_hz:g} Hz ({self.concept})"


def frame_pitch(spectra: Spectra) -> tuple[torch.Tensor, torch.Tensor]:
    """Fundamental frequency (Hz) and periodicity (0..1) of every frame, each (B, F)."""
    sr = spectra.sample_rate
    n_lags = spectra.autocorr.shape[-1]
    lo = max(1, int(math.floor(sr / PitchRange.F0_RANGE[1])))
    hi = min(n_lags - 1, int(math.ceil(sr / PitchRange.F0_RANGE[0])))
    ac = spectra.autocorr[..., lo:hi + 1]                       # (B, F, L')
    best = ac.amax(dim=-1, keepdim=True)
    # the first lag past the zero-lag lobe (autocorrelation has dipped below 0.5 once)
    dipped = torch.cummax((ac < 0.5).int(), dim=-1).values.bool()
    candidate = dipped & (ac >= 0.9 * best)
    first = torch.argmax(candidate.int(), dim=-1)               # (B, F)
    has = candidate.any(dim=-1)
    # refine the peak between integer lags with a parabola through its neighbours
    last = ac.shape[-1] - 1
    a, b, c = (torch.gather(ac, -1, (first + d).clamp(0, last)[..., None])[..., 0] for d in (-1, 0, 1))
    curve = a - 2 * b + c
    ok = curve < -1e-6
    shift = torch.where(ok, 0.5 * (a - c) / torch.where(ok, curve, -torch.ones_like(curve)), torch.zeros_like(b))
    shift = shift.clamp(-0.5, 0.5)
    peak = torch.where(ok, b - 0.25 * (a - c) * shift, b)
    lag = (first + lo).float() + shift
    f0 = torch.where(has, sr / lag, torch.full_like(lag, PitchRange.F0_RANGE[0]))
    periodicity = torch.where(has, peak.clamp(0, 1), torch.zeros_like(lag))
    return f0, periodicity


class Noisiness(Detector):
    """Mean spectral flatness of the active frames (white noise about 0.56, a sine about 0)."""

    def __init__(self, concept: str = "noisy"):
        super().__init__()
        self.concept = concept

    def forward(self, spectra: Spectra) -> torch.Tensor:
        power = spectra.power[..., 1:] + _EPS                        # drop DC
        flatness = torch.exp(torch.log(power).mean(dim=-1)) / power.mean(dim=-1)
        return spectra.frame_mean(flatness)

    def describe(self) -> str:
        return f"spectral flatness ({self.concept})"
