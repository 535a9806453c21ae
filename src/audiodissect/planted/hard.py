"""Harder planted units: a pitch band, a speech detector, a label's own clips.

Each is defined from the waveform (or the probe's annotation) alone,
independently of every evidence source, so that naming it measures the
evidence and the similarity function rather than echoing them:

=================  ======================================================  ======================
detector           value per clip                                           concept (benchmark)
=================  ======================================================  ======================
PitchBand          mean over active frames of periodicity x a Gaussian     low-/mid-/high-pitched
                   tuning curve on log2 f0 (centre, width in octaves):     by the centre's register
                   high in its band, low above *and* below it
SpeechDetector     syllable-rate modulation of the 300-3400 Hz energy x    "speech"
                   alternation of voiced and unvoiced frames x the
                   speech band's share of the power x the share of
                   voiced frame pairs whose f0 glides (0.01-0.15 octave)
ClipIndicator      1 on a given set of clips (by a digest of their          a name only the labels
                   samples), 0 on the others                                know (:func:`label_detectors`)
=================  ======================================================  ======================

Pitch comes from :func:`~audiodissect.planted.detectors.frame_pitch`
(autocorrelation), not from the acoustic evidence's YIN.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import AudioDissectError
from .detectors import Detector, Spectra, frame_pitch

#: Centre (Hz) of each register's pitch band: the middle, in octaves, of the acoustic words' registers
#: (low: 55-220 Hz, mid: 220-880 Hz, high: 880-3520 Hz).
BAND_CENTRES = {"low-pitched": 110.0, "mid-pitched": 440.0, "high-pitched": 1760.0}


class PitchBand(Detector):
    """Periodicity times a Gaussian tuning curve on log2 f0, averaged over the active frames.

    Per active frame: ``periodicity * exp(-(log2 f0 - log2 centre) ** 2 / (2 octaves ** 2))``;
    the clip's value is the mean over its active frames. Unlike a register
    detector (:class:`~audiodissect.planted.detectors.PitchRange`, high
    anywhere in an open-ended range), it falls off on both sides of its
    centre, so a concept that only grows (or only falls) with pitch cannot
    follow it.

    Parameters
    ----------
    centre_hz : float
        Best frequency.
    octaves : float
        Standard deviation of the tuning curve, in octaves.
    concept : str
    """

    group = "band"

    def __init__(self, centre_hz: float, octaves: float, concept: str):
        super().__init__()
        if not (centre_hz > 0 and octaves > 0):
            raise AudioDissectError(f"a pitch band needs a positive centre and width, got {centre_hz}, {octaves}")
        self.centre_hz, self.octaves = float(centre_hz), float(octaves)
        self.concept = concept

    def forward(self, spectra: Spectra) -> torch.Tensor:
        f0, periodicity = frame_pitch(spectra)
        distance = (torch.log2(f0) - math.log2(self.centre_hz)) / self.octaves
        return spectra.frame_mean(periodicity * torch.exp(-0.5 * distance.square()))

    def describe(self) -> str:
        return f"pitch band {self.centre_hz:g} Hz +- {self.octaves:g} octaves ({self.concept})"


class SpeechDetector(Detector):
    """Voiced and unvoiced stretches at syllable rate, gliding in pitch: a speech detector from the waveform alone.

    The product of four shares, each in [0, 1]:

    * **syllable rate**: the log energy of each frame within 300-3400 Hz, over
      the clip's active frames (mean removed, others 0), its power spectrum
      across frames; the share of that power within 2-8 Hz of the power
      within 0.5-20 Hz;
    * **alternation**: ``4 v (1 - v)`` for the share ``v`` of the active
      frames whose periodicity is at least 0.5 with an f0 of 70-400 Hz: 1
      when half the frames are voiced, 0 when none (a drum) or all (a held
      note) are;
    * **speech band**: the share of the active frames' power within 300-3400 Hz;
    * **glide**: the share of consecutive voiced frames whose f0 moves by
      0.01-0.15 octave (intonation), where a held note moves less and a new
      note more.
    """

    group = "speech"
    BAND = (300.0, 3400.0)
    SYLLABLES = (2.0, 8.0)
    MODULATION = (0.5, 20.0)
    VOICE_F0 = (70.0, 400.0)
    GLIDE = (0.01, 0.15)

    def __init__(self, concept: str = "speech"):
        super().__init__()
        self.concept = concept

    def forward(self, spectra: Spectra) -> torch.Tensor:
        band = ((spectra.freqs >= self.BAND[0]) & (spectra.freqs < self.BAND[1])).float()      # (K,)
        envelope = torch.log((spectra.power * band).sum(dim=-1) + 1e-10)                       # (B, F)
        active = spectra.active
        mean = spectra.frame_mean(envelope).unsqueeze(1)
        centred = (envelope - mean) * active
        frames = centred.shape[1]
        spectrum = torch.fft.rfft(centred, dim=1).abs().square()                               # (B, F // 2 + 1)
        rate = spectra.sample_rate / spectra.hop
        mod_freqs = torch.fft.rfftfreq(frames, d=1.0 / rate).to(centred.device)
        syllables = ((mod_freqs >= self.SYLLABLES[0]) & (mod_freqs <= self.SYLLABLES[1])).float()
        modulation = ((mod_freqs >= self.MODULATION[0]) & (mod_freqs <= self.MODULATION[1])).float()
        share = (spectrum * syllables).sum(dim=1) / (spectrum * modulation).sum(dim=1).clamp_min(1e-10)
        f0, periodicity = frame_pitch(spectra)
        voiced = ((periodicity >= 0.5) & (f0 >= self.VOICE_F0[0]) & (f0 <= self.VOICE_F0[1])).float()
        v = spectra.frame_mean(voiced)
        power = (spectra.power * spectra.active[..., None]).sum(dim=1)                          # (B, K)
        in_band = (power * band).sum(dim=1) / power.sum(dim=1).clamp_min(1e-10)
        step = (torch.log2(f0[:, 1:]) - torch.log2(f0[:, :-1])).abs()                          # (B, F - 1)
        pairs = voiced[:, 1:] * voiced[:, :-1] * active[:, 1:] * active[:, :-1]
        gliding = ((step > self.GLIDE[0]) & (step < self.GLIDE[1])).float()
        glide = (gliding * pairs).sum(dim=1) / pairs.sum(dim=1).clamp_min(1.0)
        return share * 4.0 * v * (1.0 - v) * in_band * glide

    def describe(self) -> str:
        return f"syllable rate x voicing alternation x speech band x pitch glide ({self.concept})"


def clip_digest(samples: np.ndarray) -> str:
    """SHA-1 of a clip's float32 samples with trailing exact zeros removed (so zero padding does not change it)."""
    x = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).reshape(-1))
    nonzero = np.flatnonzero(x)
    x = x[:nonzero[-1] + 1] if nonzero.size else x[:0]
    return hashlib.sha1(x.tobytes()).hexdigest()


class ClipIndicator(Detector):
    """1 on the clips whose samples are among a given set (by :func:`clip_digest`), 0 on the others.

    The planted layer sees waveforms only; the digests tie the unit to clips
    chosen by their annotation (:func:`label_detectors`), exactly. A clip must
    reach the layer whole and unchanged (clips cut into windows by the
    recorder do not match: record with windows longer than the clips).

    Parameters
    ----------
    digests : iterable of str
        :func:`clip_digest` of each clip the unit fires on (at the planted layer's rate).
    concept : str
    """

    group = "label"

    def __init__(self, digests, concept: str):
        super().__init__()
        self.digests = frozenset(digests)
        if not self.digests:
            raise AudioDissectError(f"clip indicator {concept!r} has no clips to fire on")
        self.concept = concept

    def forward(self, spectra: Spectra) -> torch.Tensor:
        if spectra.waveform is None or spectra.lengths is None:
            raise AudioDissectError("a clip indicator needs the batch's waveforms and lengths")
        waves = spectra.waveform.detach().cpu().numpy()
        hits = [clip_digest(w[:int(n)]) in self.digests for w, n in zip(waves, spectra.lengths.tolist())]
        return torch.tensor(hits, dtype=torch.float32, device=spectra.power.device)

    def describe(self) -> str:
        return f"indicator of {len(self.digests)} clips ({self.concept})"


class CohortIndicator(ClipIndicator):
    """A :class:`ClipIndicator` of a hidden cohort of clips (:func:`cohort_detectors`)."""

    group = "cohort"


def band_detectors(*, octaves: float = 0.5) -> list[Detector]:
    """Three pitch bands, one per register (:data:`BAND_CENTRES`), each concept its register's word."""
    return [PitchBand(hz, octaves, concept) for concept, hz in BAND_CENTRES.items()]


def label_detectors(probe: Any, names: Mapping[str, str], *, sample_rate: int) -> list[Detector]:
    """One :class:`ClipIndicator` per probe label in `names`, firing on that label's clips.

    Parameters
    ----------
    probe : ProbeSet
    names : mapping of str to str
        ``{probe label: concept}``; the concept is the name the labels give the
        clips in the evidence: give the same mapping to
        :class:`~audiodissect.evidence.LabelEvidence` (``rename=``), so that
        a code name no tagger knows (:func:`label_names`) names the label.
    sample_rate : int
        The planted layer's rate (the target's).

    Returns
    -------
    list of Detector
        In the order of `names`.
    """
    by_label: dict[str, list[int]] = {}
    for i, clip in enumerate(probe.clips):
        by_label.setdefault(clip.label, []).append(i)
    missing = [label for label in names if label not in by_label]
    if missing:
        raise AudioDissectError(f"no clips labelled {', '.join(map(repr, missing))} in {probe.name!r}",
                                hint=f"labels: {', '.join(probe.labels)}")
    return [ClipIndicator({clip_digest(probe.audio(i, sample_rate=sample_rate)) for i in by_label[label]}, concept)
            for label, concept in names.items()]


def cohort_detectors(probe: Any, *, sample_rate: int, count: int = 2, share: float = 0.1,
                     seed: int = 0) -> tuple[list[Detector], dict[str, str]]:
    """Units tied to hidden cohorts of clips that nothing in the audio sets apart, like a speaker's.

    Each of `count` cohorts is a seeded random `share` of the probing set's
    clips (disjoint), named ``"cohort a"``, ``"cohort b"``, ...; its unit is 1
    on the cohort's clips and 0 elsewhere. No tagger, captioner or acoustic
    measure can name such a unit; only labels that record the cohorts can
    (``cohorts``, given as the clips' labels), and without them a trustworthy
    namer must leave it unexplained.

    Parameters
    ----------
    probe : ProbeSet
    sample_rate : int
        The planted layer's rate (the target's).
    count : int
    share : float
    seed : int

    Returns
    -------
    detectors : list of Detector
    cohorts : dict of str to str
        ``{clip id: cohort}`` of every clip in a cohort.
    """
    if count < 1 or not 0 < share * count <= 1:
        raise AudioDissectError(f"cannot draw {count} disjoint cohorts of {share:g} of the clips")
    n = len(probe.clips)
    size = max(1, int(round(share * n)))
    order = np.random.default_rng(seed).permutation(n)
    detectors, cohorts = [], {}
    for k in range(count):
        name = f"cohort {chr(ord('a') + k)}"
        members = order[k * size:(k + 1) * size]
        cohorts.update({probe.clips[int(i)].id: name for i in members})
        detectors.append(CohortIndicator({clip_digest(probe.audio(int(i), sample_rate=sample_rate))
                                          for i in members}, name))
    return detectors, cohorts


def label_names(labels: Sequence[str], *, prefix: str = "group") -> dict[str, str]:
    """Code names no tagger knows for probe labels: ``{"sitar": "group 1", "harp": "group 2"}`` (in the given order)."""
    return {label: f"{prefix} {i + 1}" for i, label in enumerate(labels)}
