"""Media files of the report: a 16-bit WAV and a mel-spectrogram thumbnail per clip.

Files are named after the clip (a safe slug plus a digest of the id) and
written once: a clip shared by many units, or a report rebuilt over an old
one, reuses the files already there.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from ..cache import atomic_path

#: Longest audio kept in the report, in seconds (longer clips are cut).
MAX_SECONDS = 30.0


def slug(name: str, *, max_length: int = 48) -> str:
    """A file-name-safe, collision-free name for `name`: its safe characters plus a digest."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:max_length] or "x"
    return f"{safe}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}"


def log_mel(audio: np.ndarray, sample_rate: int, *, n_mels: int = 48, max_frames: int = 160) -> np.ndarray:
    """A log-mel spectrogram for display.

    25 ms Hann windows with a 10 ms hop, HTK mel bands from 0 Hz to Nyquist,
    frames averaged down to at most `max_frames`.

    Parameters
    ----------
    audio : np.ndarray, shape (T,)
    sample_rate : int
    n_mels : int
    max_frames : int

    Returns
    -------
    np.ndarray, shape (n_mels, F), float32
        Log magnitudes (natural log), low bands first; F <= max_frames.
    """
    from ..targets.frontend import LogMelSettings, mel_filterbank

    audio = np.asarray(audio, dtype=np.float32)
    window = max(16, int(round(0.025 * sample_rate)))
    hop = max(4, int(round(0.010 * sample_rate)))
    n_fft = 1 << int(np.ceil(np.log2(window)))
    if audio.size < window:
        audio = np.pad(audio, (0, window - audio.size))
    n_frames = 1 + (audio.size - window) // hop
    frames = np.lib.stride_tricks.sliding_window_view(audio, window)[::hop][:n_frames]  # (F, window)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(window).astype(np.float32), n=n_fft))  # (F, n_fft//2+1)
    settings = LogMelSettings(sample_rate=int(sample_rate), window_length=window, hop_length=hop, n_fft=n_fft,
                              n_mels=n_mels, f_min=0.0, f_max=sample_rate / 2)
    mel = np.log(spectrum @ mel_filterbank(settings) + 1e-4)  # (F, n_mels)
    if mel.shape[0] > max_frames:
        edges = np.linspace(0, mel.shape[0], max_frames + 1).astype(int)
        mel = np.add.reduceat(mel, edges[:-1], axis=0) / np.diff(edges)[:, None]
    return mel.T.astype(np.float32)


def write_spectrogram(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    """A small PNG of the clip's log-mel spectrogram (time left to right, low frequencies at the bottom)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.image

    mel = log_mel(audio, sample_rate)
    low, high = np.percentile(mel, [5, 99.5])
    with atomic_path(path) as tmp:
        matplotlib.image.imsave(tmp, mel, cmap="magma", origin="lower", vmin=low, vmax=max(high, low + 1e-3),
                                format="png")


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    """A 16-bit PCM WAV of the clip, cut to :data:`MAX_SECONDS` and scaled down if it clips."""
    import soundfile as sf

    audio = np.asarray(audio, dtype=np.float32)[: int(MAX_SECONDS * sample_rate)]
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1.0:
        audio = audio / peak
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, int(sample_rate), subtype="PCM_16", format="WAV")


def clip_media(media_dir: Path, clip_id: str) -> tuple[Path, Path]:
    """Paths of the WAV and PNG of `clip_id` under `media_dir`."""
    name = slug(clip_id)
    return media_dir / f"{name}.wav", media_dir / f"{name}.png"


def write_clip_media(media_dir: Path, clip_id: str, audio: np.ndarray, sample_rate: int) -> tuple[Path, Path]:
    """Write the WAV and the spectrogram of one clip unless they exist; return their paths."""
    wav, png = clip_media(media_dir, clip_id)
    if not wav.exists():
        write_audio(wav, audio, sample_rate)
    if not png.exists():
        write_spectrogram(png, audio, sample_rate)
    return wav, png


def remove_stray_temporaries(media_dir: Path) -> int:
    """Delete temporary files that an interrupted report left in `media_dir`; returns how many."""
    if not media_dir.is_dir():
        return 0
    stray = [p for p in media_dir.glob(".*.tmp") if p.is_file()]
    for path in stray:
        path.unlink(missing_ok=True)
    return len(stray)
