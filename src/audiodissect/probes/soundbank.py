"""The soundbank: a built-in, offline probing set of named instruments and speech.

Design
------
Probing an audio model needs clips whose content the model can recognise.
Single General-MIDI notes are a poor choice: an AudioSet model such as YAMNet
tags them as generic "Music" or "Musical instrument" whatever the program. Short
*phrases* of *named* instruments (a piano arpeggio, a trumpet melody, a drum
beat) are another matter: their own AudioSet classes come up. The soundbank
therefore renders, for each of 16 instruments that AudioSet names, seeded
phrases of 4-8 notes (arpeggios, scales, repeated-note rhythms, small random
walk melodies; kick/snare/hi-hat rhythms for the drum kit), in the
instrument's natural range, at varied tempo and velocity, with the TimGM6mb
SoundFont and ``tinysoundfont``; and adds short spoken English phrases from
espeak-ng in several accents and voices as a 17th label, ``"speech"``.

Every clip is 16 kHz mono float32, exactly ``duration`` seconds (3.0 by
default; padded or trimmed, with a 20 ms fade-out), peak-normalised to
0.7 times a seeded gain of -3 to 0 dB. Renders whose peak stays under 1e-3
(a few GM notes render silent) and clips that fail
:func:`audiodissect.audio.check_clip` are dropped; :attr:`SoundbankProbeSet.metadata`
counts them.

Labels are the instrument names (:data:`SOUNDBANK_LABELS`); clip metadata
holds the GM program, family and bank, the MIDI notes, mean velocity, tempo
and pattern of a phrase, or the voice, text, rate and pitch of speech.

Concepts: ``audiodissect/data/soundbank_concepts.txt`` (:data:`SOUNDBANK_CONCEPTS`)
lists the 17 labels, one per line, as the closed concept set that matches
this probing set.

Split: one clip in five of every label is held out, evenly along the clip
numbers from a seeded offset per label
(:func:`audiodissect.probes.splits.numbered_split`): a clip's split depends
only on the seed, its label and its number, so a subset (fewer
``clips_per_label``, fewer labels) never moves a clip to the other split,
and the first ``n`` clips of a label hold out ``floor(n / 5)`` or
``ceil(n / 5)`` of them. Held-out clips are never used to describe units.

Cache: the set is generated once per distinct settings and kept under
``cache_dir() / "soundbank" / <key>`` (``key`` hashes the settings, the
format version and the versions of the two synthesisers) as ``audio.npy``
(int16, shape (N, T), memory-mapped on load), ``clips.jsonl`` and
``meta.json``, each written atomically and ``meta.json`` last, so an
interrupted generation simply starts again. A clip's audio depends only on
the seed, its label and its number within the label (speech clips also on
the speech clips before them, because espeak-ng keeps state).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import BadClipError, check_clip
from ..cache import cache_dir, hash_key
from ..errors import AudioDissectError, unknown_name_error
from .base import ClipInfo, ProbeSet
from .generated import Generated, cached_clips
from .phrases import INSTRUMENTS, phrase_for
from .splits import HELDOUT_FRACTION, numbered_split

logger = logging.getLogger("audiodissect")

FORMAT_VERSION = 2
SAMPLE_RATE = 16000
SPEECH = "speech"
#: The 17 labels: 16 instruments, then "speech".
SOUNDBANK_LABELS = tuple(inst.name for inst in INSTRUMENTS) + (SPEECH,)
#: The concept list file of the soundbank: its 17 labels, one per line.
SOUNDBANK_CONCEPTS = Path(__file__).resolve().parent.parent / "data" / "soundbank_concepts.txt"
DEFAULT_CLIPS_PER_LABEL = 118
DEFAULT_DURATION = 3.0

PEAK = 0.7
GAIN_DB_RANGE = (-3.0, 0.0)
SILENT_PEAK = 1e-3
FADE_SECONDS = 0.02


class SoundbankProbeSet(ProbeSet):
    """The soundbank, with its audio memory-mapped from the cache.

    Attributes
    ----------
    waveforms : np.ndarray, shape (N, T), int16
        All clips, scaled by 32767.
    sample_rate : int
        16000.
    folder : pathlib.Path
        The cache folder the set was read from.
    metadata : dict
        Settings, format version, generation time and the dropped clips
        (``"dropped"``: reason -> count; ``"dropped_clips"``: id and reason).
    """

    concepts_file = SOUNDBANK_CONCEPTS

    def __init__(self, *, clips: Sequence[ClipInfo], waveforms: np.ndarray, spec: dict[str, Any],
                 folder: Path, metadata: dict[str, Any]):
        super().__init__(name="soundbank", clips=clips, spec=spec)
        if waveforms.shape[0] != len(self.clips):
            raise ValueError("one waveform per clip is required")
        self.waveforms = waveforms
        self.sample_rate = SAMPLE_RATE
        self.folder = folder
        self.metadata = metadata

    def _read(self, index: int) -> tuple[np.ndarray, int]:
        return np.asarray(self.waveforms[index], dtype=np.float32) / 32767.0, self.sample_rate

    def _content_parts(self) -> Any:
        """The cache folder's name: a digest of the format version, the settings and the synthesis packages."""
        return self.folder.name

    def describe(self) -> str:
        text = super().describe()
        n_dropped = sum(self.metadata.get("dropped", {}).values())
        return text + (f", {n_dropped} clips dropped at generation" if n_dropped else "")


def _resolve_labels(labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return list(SOUNDBANK_LABELS)
    if isinstance(labels, str):
        labels = [labels]
    out = []
    for label in labels:
        if label not in SOUNDBANK_LABELS:
            raise unknown_name_error("soundbank label", label, SOUNDBANK_LABELS)
        if label not in out:
            out.append(label)
    if not out:
        raise AudioDissectError("the soundbank needs at least one label",
                                hint="labels: " + ", ".join(SOUNDBANK_LABELS))
    return [label for label in SOUNDBANK_LABELS if label in out]


def _clip_rng(seed: int, label: str, number: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), SOUNDBANK_LABELS.index(label), int(number)])


def _slug(label: str) -> str:
    return label.replace(" ", "_")


def _fit(audio: np.ndarray, *, offset: int, n_samples: int) -> np.ndarray:
    """Place `audio` at `offset` in a zero clip of `n_samples`, trimmed, with a fade-out."""
    out = np.zeros(n_samples, dtype=np.float32)
    take = max(0, min(audio.size, n_samples - offset))
    out[offset:offset + take] = audio[:take]
    fade = min(n_samples, int(FADE_SECONDS * SAMPLE_RATE))
    out[n_samples - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


def _finish(audio: np.ndarray, rng: np.random.Generator, *, source: str) -> tuple[np.ndarray | None, str, float]:
    """Peak-normalise with a seeded gain; returns (audio or None, drop reason, gain in dB)."""
    gain_db = float(rng.uniform(*GAIN_DB_RANGE))
    if not np.all(np.isfinite(audio)):
        return None, "audio not finite", gain_db
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < SILENT_PEAK:
        return None, "silent render", gain_db
    audio = audio * np.float32(PEAK * 10.0 ** (gain_db / 20.0) / peak)
    try:
        check_clip(audio, source=source)
    except BadClipError as exc:
        return None, exc.message.split(": ", 1)[-1], gain_db
    return audio.astype(np.float32), "", gain_db


def _versions() -> dict[str, str]:
    out = {}
    for package in ("tinysoundfont", "espeakng-loader"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "missing"
    return out


def generate_soundbank(*, seed: int, labels: Sequence[str], clips_per_label: int,
                       speech_clips: int, duration: float) -> tuple[np.ndarray, list[dict], list[dict]]:
    """Render the soundbank's clips (pure of any cache).

    Parameters
    ----------
    seed : int
    labels : sequence of str
        Labels from :data:`SOUNDBANK_LABELS`.
    clips_per_label : int
        Clips rendered per instrument.
    speech_clips : int
        Clips of speech (if "speech" is among the labels).
    duration : float
        Seconds per clip.

    Returns
    -------
    waveforms : np.ndarray, shape (N, round(duration * 16000)), int16
        The kept clips, scaled by 32767.
    records : list of dict, length N
        ``id``, ``label`` and ``metadata`` of each kept clip.
    dropped : list of dict
        ``id`` and ``reason`` of each clip left out.
    """
    from .speech import SpeechJob, draw_utterance
    from .synth import PhraseRenderer

    n_samples = int(round(duration * SAMPLE_RATE))
    speech_plan = []
    if SPEECH in labels:
        for k in range(speech_clips):
            rng = _clip_rng(seed, SPEECH, k)
            speech_plan.append((k, rng, draw_utterance(rng)))
    job = SpeechJob([u for _, _, u in speech_plan], sample_rate=SAMPLE_RATE) if speech_plan else None

    rendered: list[tuple[str, str, dict, np.ndarray | None, str]] = []
    instruments = [inst for inst in INSTRUMENTS if inst.name in labels]
    if instruments:
        renderer = PhraseRenderer(sample_rate=SAMPLE_RATE)
        for inst in instruments:
            for k in range(clips_per_label):
                clip_id = f"{_slug(inst.name)}-{k:04d}"
                rng = _clip_rng(seed, inst.name, k)
                phrase = phrase_for(inst, rng, length=duration)
                raw = renderer.render(inst, phrase, n_samples=n_samples)
                audio, reason, gain_db = _finish(_fit(raw, offset=0, n_samples=n_samples), rng,
                                                 source=clip_id)
                meta = {"program": inst.program, "family": inst.family, "bank": inst.bank,
                        "notes": list(phrase.notes), "velocity": int(round(np.mean(phrase.velocities))),
                        "tempo": phrase.tempo, "pattern": phrase.pattern,
                        "gain_db": round(gain_db, 3)}
                rendered.append((clip_id, inst.name, meta, audio, reason))

    if job is not None:
        for (k, rng, utt), speech in zip(speech_plan, job.result()):
            clip_id = f"{SPEECH}-{k:04d}"
            offset = int(rng.uniform(0.0, 0.3) * SAMPLE_RATE)
            audio, reason, gain_db = _finish(_fit(speech, offset=offset, n_samples=n_samples), rng,
                                             source=clip_id)
            meta = {"voice": utt.voice, "text": utt.text, "rate": utt.rate, "pitch": utt.pitch,
                    "gain_db": round(gain_db, 3)}
            rendered.append((clip_id, SPEECH, meta, audio, reason))

    kept = [r for r in rendered if r[3] is not None]
    dropped = [{"id": r[0], "reason": r[4]} for r in rendered if r[3] is None]
    waveforms = np.zeros((len(kept), n_samples), dtype=np.int16)
    for i, (_, _, _, audio, _) in enumerate(kept):
        waveforms[i] = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    records = [{"id": r[0], "label": r[1], "metadata": r[2]} for r in kept]
    return waveforms, records, dropped


def load_soundbank(*, seed: int = 0, clips_per_label: int = DEFAULT_CLIPS_PER_LABEL,
                   speech_clips: int | None = None, labels: Sequence[str] | None = None,
                   duration: float = DEFAULT_DURATION, heldout_fraction: float = HELDOUT_FRACTION,
                   root: str | None = None) -> SoundbankProbeSet:
    """Load the soundbank from the cache, generating it first if needed.

    Parameters
    ----------
    seed : int
        Decides every phrase, voice, gain and the split.
    clips_per_label : int
        Clips per instrument (118 by default: about 2,000 clips in all).
    speech_clips : int, optional
        Speech clips; ``clips_per_label`` when None.
    labels : sequence of str, optional
        A subset of :data:`SOUNDBANK_LABELS` (all when None).
    duration : float
        Seconds per clip.
    heldout_fraction : float
        Share of each label held out.
    root : str, optional
        The folder that holds generated soundbanks, instead of
        ``cache_dir() / "soundbank"``.

    Returns
    -------
    SoundbankProbeSet
    """
    label_list = _resolve_labels(labels)
    if int(clips_per_label) < 1:
        raise AudioDissectError("clips_per_label must be at least 1")
    speech_n = int(clips_per_label if speech_clips is None else speech_clips)
    if speech_n < 0 or not 0.5 <= float(duration) <= 30.0:
        raise AudioDissectError("speech_clips must be >= 0 and duration between 0.5 and 30 seconds")
    if not 0.0 <= float(heldout_fraction) < 1.0:
        raise AudioDissectError("heldout_fraction must be in [0, 1)")
    settings = {"seed": int(seed), "clips_per_label": int(clips_per_label),
                "speech_clips": speech_n if SPEECH in label_list else 0,
                "labels": label_list, "duration": float(duration)}
    spec: dict[str, Any] = {"name": "soundbank", "seed": int(seed),
                            "clips_per_label": int(clips_per_label), "speech_clips": speech_clips,
                            "labels": None if labels is None else label_list,
                            "duration": float(duration), "heldout_fraction": float(heldout_fraction)}
    if root is not None:
        spec["root"] = str(root)
    base = Path(root) if root is not None else cache_dir() / "soundbank"
    folder = base / hash_key(FORMAT_VERSION, settings, _versions())
    def generate() -> Generated:
        audio, records, dropped = generate_soundbank(
            seed=settings["seed"], labels=label_list, clips_per_label=settings["clips_per_label"],
            speech_clips=settings["speech_clips"], duration=settings["duration"])
        if not records:
            raise AudioDissectError("the soundbank generated no usable clip")
        counts: dict[str, int] = {}
        for item in dropped:
            counts[item["reason"]] = counts.get(item["reason"], 0) + 1
            logger.warning("soundbank clip %s dropped: %s", item["id"], item["reason"])
        return audio, records, {"dropped": counts, "dropped_clips": dropped}, None

    metadata, records, waveforms = cached_clips(
        folder, generate, what="soundbank",
        base_metadata={"format_version": FORMAT_VERSION, "settings": settings, "versions": _versions(),
                       "sample_rate": SAMPLE_RATE})
    splits = numbered_split([r["label"] for r in records], [int(r["id"].rsplit("-", 1)[1]) for r in records],
                            seed=int(seed), fraction=float(heldout_fraction))
    clips = [ClipInfo(id=r["id"], label=r["label"], split=s, metadata=r["metadata"])
             for r, s in zip(records, splits)]
    return SoundbankProbeSet(clips=clips, waveforms=waveforms, spec=spec, folder=folder,
                             metadata=metadata)
