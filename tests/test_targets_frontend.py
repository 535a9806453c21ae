import math

import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.targets.frontend import (YAMNET, LogMel, LogMelSettings, frame_patches, hz_to_mel,
                                           mel_filterbank, pad_batch, patch_padded_length, periodic_hann)


def test_htk_mel_scale_values():
    assert hz_to_mel(700.0) == pytest.approx(1127.0 * math.log(2.0))
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.05)
    assert hz_to_mel(0.0) == 0.0


def test_periodic_hann_matches_definition():
    w = periodic_hann(8).numpy()
    assert w[0] == 0.0
    assert w[4] == pytest.approx(1.0)
    assert w[2] == pytest.approx(0.5)
    np.testing.assert_allclose(w, np.hanning(9)[:-1], atol=1e-7)


def _scalar_filterbank(s: LogMelSettings) -> np.ndarray:
    """Triangles over mel, one weight at a time (an independent reference)."""
    n_bins = s.n_fft // 2 + 1
    lo, hi = 1127 * math.log(1 + s.f_min / 700), 1127 * math.log(1 + s.f_max / 700)
    step = (hi - lo) / (s.n_mels + 1)
    out = np.zeros((n_bins, s.n_mels))
    for k in range(1, n_bins):
        mel = 1127 * math.log(1 + k * (s.sample_rate / 2) / (n_bins - 1) / 700)
        for m in range(s.n_mels):
            left, centre, right = lo + m * step, lo + (m + 1) * step, lo + (m + 2) * step
            if left < mel <= centre:
                out[k, m] = (mel - left) / (centre - left)
            elif centre < mel < right:
                out[k, m] = (right - mel) / (right - centre)
    return out


def test_filterbank_matches_scalar_reference():
    fb = mel_filterbank(YAMNET)
    assert fb.shape == (257, 64)
    assert not fb[0].any()  # DC carries no weight
    np.testing.assert_allclose(fb, _scalar_filterbank(YAMNET), atol=1e-6)
    # below 125 Hz (bins 0..3 at 31.25 Hz spacing) and above 7500 Hz nothing is weighted
    assert not fb[:5].any() and not fb[241:].any()


def test_log_mel_matches_numpy_reference():
    rng = np.random.default_rng(0)
    wave = rng.standard_normal(2000).astype(np.float32)
    out = LogMel(YAMNET)(torch.from_numpy(wave)[None])[0].numpy()
    n_frames = 1 + (2000 - 400) // 160
    assert out.shape == (n_frames, 64)
    window = np.hanning(401)[:-1]
    frames = np.stack([wave[i * 160:i * 160 + 400] for i in range(n_frames)])
    magnitude = np.abs(np.fft.rfft(frames * window, n=512))
    expected = np.log(magnitude @ _scalar_filterbank(YAMNET) + 0.001)
    np.testing.assert_allclose(out, expected, atol=2e-4)


def test_sine_peaks_in_its_band():
    t = np.arange(16000) / 16000
    wave = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = LogMel(YAMNET)(torch.from_numpy(wave)[None])[0]
    edges = np.linspace(hz_to_mel(125), hz_to_mel(7500), 66)
    nearest = int(np.argmin(np.abs(edges[1:-1] - hz_to_mel(1000))))
    assert set(out.argmax(dim=1).tolist()) == {nearest}


def test_patch_padding_follows_yamnet():
    assert YAMNET.min_samples == 15600  # 0.975 s
    assert patch_padded_length(100) == 15600
    assert patch_padded_length(15600) == 15600
    assert patch_padded_length(15601) == 15600 + 7680
    assert patch_padded_length(48000) == 54000  # 3 s -> 6 patches


def test_frame_patches():
    log_mel = torch.arange(2 * 336 * 3, dtype=torch.float32).reshape(2, 336, 3)
    patches = frame_patches(log_mel)
    assert patches.shape == (2, 6, 96, 3)
    assert torch.equal(patches[1, 2], log_mel[1, 96:192])
    with pytest.raises(AudioDissectError):
        frame_patches(log_mel[:, :95])


def test_pad_batch():
    batch = pad_batch([np.ones(3), np.ones(6)], 5)
    assert batch.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]


def test_bad_settings():
    with pytest.raises(AudioDissectError):
        LogMelSettings(f_max=9000.0)
    with pytest.raises(AudioDissectError):
        LogMelSettings(window_length=600)
