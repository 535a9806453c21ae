"""BEATs' front end: a Kaldi-compatible 128-bin log-mel filterbank, via kaldi-native-fbank.

The official BEATs release feeds its network Kaldi ``fbank`` features of the
waveform scaled by ``2**15`` (25 ms povey window, 10 ms shift, pre-emphasis
0.97, DC removal, 512-point power spectrum, 128 mel bins from 20 Hz to
Nyquist, natural log floored at float32 epsilon, no dither, no energy), then
normalises them as ``(fbank - 15.41663) / (2 * 6.55582)``.

With 128 bins over a 512-point FFT at 16 kHz, mel bin 3 (about 56-78 Hz)
covers no FFT bin centre. The release's feature code keeps that bin as an
all-zero filter, so it is always ``log(eps)``; Kaldi and kaldi-native-fbank
refuse such a filterbank outright. We therefore run kaldi-native-fbank once per
contiguous run of non-empty bins (bins 0-2 and 4-127), choosing each run's
frequency edges so that its triangles are exactly the corresponding triangles
of the full 128-bin bank, and fill the empty bins with ``log(eps)``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from ..errors import AudioDissectError

SAMPLE_RATE = 16000
NUM_MEL_BINS = 128
FRAME_LENGTH_MS = 25.0
FRAME_SHIFT_MS = 10.0
WINDOW_SAMPLES = 400
HOP_SAMPLES = 160
N_FFT = 512
LOW_FREQ = 20.0
WAVE_SCALE = 2.0 ** 15
FBANK_MEAN = 15.41663
FBANK_STD = 6.55582
LOG_FLOOR = float(np.log(np.finfo(np.float32).eps))
#: Frames per patch along time in the official checkpoints; shorter clips are padded to one patch.
PATCH_FRAMES = 16
MIN_SAMPLES = WINDOW_SAMPLES + (PATCH_FRAMES - 1) * HOP_SAMPLES


def _mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def _inverse_mel(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * np.expm1(np.asarray(mel, dtype=np.float64) / 1127.0)


@functools.lru_cache(maxsize=None)
def mel_bin_runs(num_mel_bins: int = NUM_MEL_BINS) -> tuple[tuple[int, int], ...]:
    """Contiguous runs ``(start, stop)`` of mel bins that cover at least one FFT bin centre.

    Kaldi's bank spaces ``num_mel_bins + 2`` edges evenly in mel between 20 Hz
    and Nyquist; bin ``b`` spans edges ``b`` to ``b + 2`` and takes the FFT
    bins (0 .. n_fft/2 - 1) whose mel lies strictly inside.
    """
    low, high = _mel(LOW_FREQ), _mel(SAMPLE_RATE / 2)
    delta = (high - low) / (num_mel_bins + 1)
    fft_mel = _mel(np.arange(N_FFT // 2) * SAMPLE_RATE / N_FFT)  # (n_fft/2,)
    left = low + np.arange(num_mel_bins)[:, None] * delta  # (bins, 1)
    covered = ((fft_mel > left) & (fft_mel < left + 2 * delta)).any(axis=1)  # (bins,)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], covered.astype(np.int8), [0]])))
    runs = tuple((int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]))
    if any(b - a < 3 for a, b in runs):
        raise AudioDissectError(f"{num_mel_bins} mel bins leave a run of fewer than 3 non-empty bins",
                                hint="kaldi-native-fbank needs at least 3 bins per call; use 128 bins")
    return runs


@functools.lru_cache(maxsize=None)
def _run_options(start: int, stop: int, num_mel_bins: int):
    import kaldi_native_fbank as knf

    low, high = _mel(LOW_FREQ), _mel(SAMPLE_RATE / 2)
    delta = (high - low) / (num_mel_bins + 1)
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.frame_opts.frame_length_ms = FRAME_LENGTH_MS
    opts.frame_opts.frame_shift_ms = FRAME_SHIFT_MS
    opts.frame_opts.dither = 0.0
    opts.frame_opts.preemph_coeff = 0.97
    opts.frame_opts.remove_dc_offset = True
    opts.frame_opts.window_type = "povey"
    opts.frame_opts.round_to_power_of_two = True
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = stop - start
    opts.mel_opts.low_freq = float(LOW_FREQ if start == 0 else _inverse_mel(low + start * delta))
    opts.mel_opts.high_freq = float(0.0 if stop == num_mel_bins else _inverse_mel(low + (stop + 1) * delta))
    opts.use_energy = False
    opts.use_log_fbank = True
    opts.use_power = True
    return opts


def _knf_fbank(scaled: np.ndarray, opts) -> np.ndarray:
    import kaldi_native_fbank as knf

    extractor = knf.OnlineFbank(opts)
    extractor.accept_waveform(SAMPLE_RATE, scaled)
    extractor.input_finished()
    return np.asarray([extractor.get_frame(i) for i in range(extractor.num_frames_ready)], dtype=np.float32)


def kaldi_fbank(waveform: np.ndarray, *, num_mel_bins: int = NUM_MEL_BINS) -> np.ndarray:
    """Raw (unnormalised) Kaldi log-mel filterbank of one 16 kHz waveform.

    Parameters
    ----------
    waveform : np.ndarray, shape (T,)
        Mono audio in [-1, 1] at 16 kHz; it is scaled by ``2**15`` here, as the release does.
    num_mel_bins : int

    Returns
    -------
    np.ndarray, shape (1 + (T - 400) // 160, num_mel_bins), float32
        Natural-log mel energies; bins that cover no FFT bin hold ``log(eps)``.
    """
    try:
        import kaldi_native_fbank  # noqa: F401
    except ImportError:
        raise AudioDissectError("BEATs' front end needs the 'kaldi-native-fbank' package",
                                hint="pip install 'kaldi-native-fbank>=1.20'") from None
    wave = np.asarray(waveform, dtype=np.float32).reshape(-1)
    if wave.size < WINDOW_SAMPLES:
        raise AudioDissectError(f"audio of {wave.size} samples is shorter than one 25 ms frame ({WINDOW_SAMPLES})")
    scaled = wave * np.float32(WAVE_SCALE)
    n_frames = 1 + (wave.size - WINDOW_SAMPLES) // HOP_SAMPLES
    out = np.full((n_frames, num_mel_bins), LOG_FLOOR, dtype=np.float32)
    for start, stop in mel_bin_runs(num_mel_bins):
        out[:, start:stop] = _knf_fbank(scaled, _run_options(start, stop, num_mel_bins))
    return out


def normalize_fbank(fbank: np.ndarray) -> np.ndarray:
    """The release's normalisation ``(fbank - 15.41663) / (2 * 6.55582)``, same shape, float32."""
    return ((fbank - FBANK_MEAN) / (2 * FBANK_STD)).astype(np.float32)


def fbank_batch(waveforms: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised filterbanks of B clips, zero-padded to the longest, and the padding mask.

    A clip shorter than :data:`MIN_SAMPLES` (one 16-frame patch, 0.175 s) is
    first zero-padded to that length, so that it gives one patch.

    Parameters
    ----------
    waveforms : sequence of np.ndarray, each (T_i,)
        Mono float audio at 16 kHz.

    Returns
    -------
    fbank : np.ndarray, shape (B, F, 128), float32
        ``F`` is the largest frame count; frames after a clip's own end are 0.
    padding_mask : np.ndarray, shape (B, F), bool
        True on the frames that pad a clip.
    """
    if len(waveforms) == 0:
        raise AudioDissectError("no waveforms to preprocess")
    feats = []
    for wave in waveforms:
        wave = np.asarray(wave, dtype=np.float32).reshape(-1)
        if wave.size < MIN_SAMPLES:
            wave = np.pad(wave, (0, MIN_SAMPLES - wave.size))
        feats.append(normalize_fbank(kaldi_fbank(wave)))
    lengths = np.array([f.shape[0] for f in feats])
    batch = np.zeros((len(feats), int(lengths.max()), NUM_MEL_BINS), dtype=np.float32)
    for i, f in enumerate(feats):
        batch[i, : f.shape[0]] = f
    return batch, np.arange(batch.shape[1])[None, :] >= lengths[:, None]
