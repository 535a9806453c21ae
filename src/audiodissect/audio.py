"""Reading, checking and resampling audio."""

from __future__ import annotations

import logging
import math
import os
from fractions import Fraction

import numpy as np

from .errors import AudioDissectError

log = logging.getLogger("audiodissect")


class BadClipError(AudioDissectError):
    """A clip that cannot be used: unreadable, empty, silent or not finite."""


def resample(audio: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample mono audio with a polyphase filter.

    Parameters
    ----------
    audio : np.ndarray, shape (T,)
    orig_rate, target_rate : int
        Sample rates in Hz.

    Returns
    -------
    np.ndarray, shape (round(T * target_rate / orig_rate),), float32
    """
    if orig_rate == target_rate:
        return np.asarray(audio, dtype=np.float32)
    from scipy.signal import resample_poly

    ratio = Fraction(int(target_rate), int(orig_rate))
    out = resample_poly(np.asarray(audio, dtype=np.float64), ratio.numerator, ratio.denominator)
    return out.astype(np.float32)


#: A mix of the channels quieter than this share of its loudest channel's RMS (-20 dB) means they cancel out.
CANCELLING_MIX = 0.1
_warned_mixes: set[str] = set()


def to_mono(audio: np.ndarray, *, source: str = "clip") -> np.ndarray:
    """Average the channels of a (T,) or (T, channels) array into (T,) float32.

    Channels that cancel out in the average (antiphase stereo: the mix is more
    than 20 dB below the loudest channel, :data:`CANCELLING_MIX`) would leave
    near-silence; the loudest channel is taken instead, with a warning (once
    per `source`).
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        return audio
    mix = audio.mean(axis=1)
    if audio.shape[1] < 2 or audio.shape[0] == 0:
        return mix
    channels = np.sqrt(np.mean(np.square(audio, dtype=np.float64), axis=0))  # (channels,) RMS
    loudest = int(np.argmax(channels))
    if channels[loudest] > 1e-6 and np.sqrt(np.mean(np.square(mix, dtype=np.float64))) < \
            CANCELLING_MIX * channels[loudest]:
        if source not in _warned_mixes:
            _warned_mixes.add(source)
            log.warning("%s: its %d channels cancel out when mixed to mono (antiphase); channel %d, the loudest, "
                        "is used instead", source, audio.shape[1], loudest + 1)
        return np.ascontiguousarray(audio[:, loudest])
    return mix


def check_clip(audio: np.ndarray, *, source: str = "clip") -> np.ndarray:
    """Raise :class:`BadClipError` unless `audio` is a non-empty, finite, non-silent (T,) array."""
    if audio.size == 0:
        raise BadClipError(f"{source}: empty audio")
    if not np.all(np.isfinite(audio)):
        raise BadClipError(f"{source}: audio holds NaN or infinite samples")
    if float(np.max(np.abs(audio))) < 1e-6:
        raise BadClipError(f"{source}: audio is silent (all samples zero)")
    return audio


def read_audio(path: str | os.PathLike, *, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file (wav, flac, ogg, mp3 via libsndfile) as checked mono float32.

    Parameters
    ----------
    path : path-like
    sample_rate : int, optional
        Resample to this rate; keep the file's rate when None.

    Returns
    -------
    audio : np.ndarray, shape (T,), float32
    rate : int
        The rate of the returned audio.

    Raises
    ------
    BadClipError
        When the file cannot be decoded, or is empty, silent or not finite.
    """
    import soundfile as sf

    try:
        data, rate = sf.read(os.fspath(path), dtype="float32", always_2d=False)
    except Exception as exc:  # libsndfile raises several types for broken files
        raise BadClipError(f"{path}: cannot decode audio ({exc})") from None
    audio = check_clip(to_mono(data, source=str(path)), source=str(path))
    if sample_rate is not None and sample_rate != rate:
        audio = resample(audio, rate, sample_rate)
        rate = sample_rate
    return audio, int(rate)


def duration_samples(seconds: float, rate: int) -> int:
    return int(math.floor(seconds * rate + 0.5))
