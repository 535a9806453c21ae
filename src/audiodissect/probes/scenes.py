"""Scenes: generated clips that mix two to four timed events, with every onset and offset known.

Each clip (``duration`` seconds, 4.0 by default, 16 kHz mono) holds two to
four events of different labels, one after another: an instrument playing
one to three notes (piano, trumpet, violin, flute, marimba), a few drum hits
(``"drum kit"``), a spoken word or phrase from espeak-ng (``"speech"``), or a
burst of white noise (``"white noise"``). The clip is cut into as many equal
slots as it has events; each event is rendered on its own, trimmed to where it
sounds (its 10 ms frames within 30 dB of its loudest frame), shortened to fit
its slot with a 20 ms fade, and placed at a seeded time inside the slot, so
events never overlap and at least 50 ms of silence lies between two of them.
Its onset and offset are where its trimmed audio starts and ends in the clip.

A clip's label is the label of its longest event; its metadata lists every
event; :attr:`SceneProbeSet.events` holds all of them as
:class:`~audiodissect.probes.events.Event` records, and the cache folder
holds them as ``events.csv`` (``clip,onset,offset,label``) beside the audio.

Split: as the soundbank's, one clip in five of each label held out
(:func:`~audiodissect.probes.splits.numbered_split` over the clip numbers).

Cache: ``cache_dir() / "scenes" / <key>`` (the key hashes the settings, the
format version and the synthesisers' versions) with ``audio.npy`` (int16, (N, T),
memory-mapped), ``clips.jsonl``, ``events.csv`` and ``meta.json``, written
atomically, ``meta.json`` last. A clip depends only on the seed and its
number (its speech also on the speech of the clips before it: espeak-ng keeps state).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import cache_dir, hash_key
from ..errors import AudioDissectError
from .base import ClipInfo, ProbeSet
from .generated import Generated, cached_clips
from .events import Event, write_events
from .phrases import INSTRUMENT_BY_NAME, Phrase
from .soundbank import SAMPLE_RATE, _versions
from .splits import HELDOUT_FRACTION, numbered_split


FORMAT_VERSION = 1
#: Melodic instruments a scene's note events use.
NOTE_INSTRUMENTS = ("piano", "trumpet", "violin", "flute", "marimba")
DRUMS = "drum kit"
SPEECH = "speech"
NOISE = "white noise"
#: Every event label, in this order.
SCENE_LABELS = NOTE_INSTRUMENTS + (DRUMS, SPEECH, NOISE)
#: The concept file of scenes: their event labels, one per line.
SCENE_CONCEPTS = Path(__file__).resolve().parent.parent / "data" / "scene_concepts.txt"
DEFAULT_CLIPS = 240
DEFAULT_DURATION = 4.0
#: Frames quieter than this many dB under an event's loudest 10 ms frame are silence.
SOUNDING_DB = 30.0
GAP_SECONDS = 0.05
FADE_SECONDS = 0.02
PEAK = 0.7
#: Words a speech event says (one per event).
WORDS = ("hello", "thank you", "yes please", "good morning", "open the door", "turn left", "stop",
         "wait a minute", "where are you", "welcome home", "listen carefully", "seven eight nine")


class SceneProbeSet(ProbeSet):
    """Scenes with their audio memory-mapped from the cache and every event known.

    Attributes
    ----------
    waveforms : np.ndarray, shape (N, T), int16
    sample_rate : int
    folder : Path
    metadata : dict
    events : list of Event
        Every event of every clip, in clip order then time order.
    """

    concepts_file = SCENE_CONCEPTS

    def __init__(self, *, clips: Sequence[ClipInfo], waveforms: np.ndarray, events: Sequence[Event],
                 spec: dict[str, Any], folder: Path, metadata: dict[str, Any]):
        super().__init__(name="scenes", clips=clips, spec=spec)
        self.waveforms = waveforms
        self.sample_rate = SAMPLE_RATE
        self.folder = folder
        self.metadata = metadata
        self.events = list(events)

    def _read(self, index: int) -> tuple[np.ndarray, int]:
        return np.asarray(self.waveforms[index], dtype=np.float32) / 32767.0, self.sample_rate

    def _content_parts(self) -> Any:
        return self.folder.name


@dataclasses.dataclass(frozen=True)
class _Plan:
    """One event to render: its label, what it plays and where its slot lies (samples)."""

    label: str
    slot_start: int
    slot_stop: int
    rng_seed: tuple[int, ...]
    word: str = ""


def sounding_extent(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE, db: float = SOUNDING_DB) -> tuple[int, int]:
    """Where `audio` (T,) sounds: from its first to the end of its last 10 ms frame within `db` dB of its loudest.

    Returns
    -------
    (start, stop) : tuple of int
        Sample range; (0, 0) for silence.
    """
    hop = max(1, sample_rate // 100)
    n = audio.size // hop
    if n == 0:
        return 0, 0
    rms = np.sqrt(np.mean(audio[:n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))  # (n,)
    peak = float(rms.max())
    if peak <= 0.0:
        return 0, 0
    loud = np.flatnonzero(rms >= peak * 10.0 ** (-db / 20.0))
    return int(loud[0]) * hop, int(loud[-1] + 1) * hop


def _note_phrase(label: str, rng: np.random.Generator) -> Phrase:
    inst = INSTRUMENT_BY_NAME[label]
    n = int(rng.integers(1, 4))
    notes = rng.integers(max(inst.low, 48), min(inst.high, 84) + 1, size=n)
    length = float(rng.uniform(0.25, 0.45))
    onsets = tuple(round(i * length, 4) for i in range(n))
    return Phrase(notes=tuple(int(x) for x in notes), onsets=onsets, durations=(length * 0.95,) * n,
                  velocities=tuple(int(v) for v in rng.integers(80, 121, size=n)), tempo=60.0 / length,
                  pattern="notes")


def _drum_phrase(rng: np.random.Generator) -> Phrase:
    n = int(rng.integers(2, 5))
    keys = rng.choice([36, 38, 42, 45, 50], size=n)
    gap = float(rng.uniform(0.15, 0.3))
    return Phrase(notes=tuple(int(k) for k in keys), onsets=tuple(round(i * gap, 4) for i in range(n)),
                  durations=(0.1,) * n, velocities=tuple(int(v) for v in rng.integers(90, 121, size=n)),
                  tempo=60.0 / gap, pattern="hits")


def _fade(audio: np.ndarray) -> np.ndarray:
    fade = min(audio.size // 2, int(FADE_SECONDS * SAMPLE_RATE))
    out = audio.astype(np.float32).copy()
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        out[:fade] *= ramp
        out[-fade:] *= ramp[::-1]
    return out


def plan_scene(seed: int, number: int, n_samples: int, *, min_events: int = 2,
               max_events: int = 4) -> list[_Plan]:
    """The events of scene `number`: labels (all different) and their slots, drawn from the seed."""
    rng = np.random.default_rng([int(seed), 7919, int(number)])
    n = int(rng.integers(min_events, max_events + 1))
    labels = [SCENE_LABELS[int(i)] for i in rng.choice(len(SCENE_LABELS), size=n, replace=False)]
    edges = np.linspace(0, n_samples, n + 1).astype(np.int64)
    plans = []
    for k, label in enumerate(labels):
        word = WORDS[int(rng.integers(len(WORDS)))] if label == SPEECH else ""
        plans.append(_Plan(label=label, slot_start=int(edges[k]), slot_stop=int(edges[k + 1]),
                           rng_seed=(int(seed), 7919, int(number), k), word=word))
    return plans


def generate_scenes(*, seed: int, n_clips: int, duration: float, min_events: int = 2,
                    max_events: int = 4) -> tuple[np.ndarray, list[dict], list[Event]]:
    """Render `n_clips` scenes (pure of any cache).

    Returns
    -------
    waveforms : np.ndarray, shape (n_clips, round(duration * 16000)), int16
    records : list of dict
        ``id``, ``label`` and ``metadata`` (its ``events``) of each clip.
    events : list of Event
        Every event, in clip order then time order.
    """
    from .speech import ACCENTS, VARIANTS, SpeechJob, Utterance
    from .synth import PhraseRenderer

    n_samples = int(round(duration * SAMPLE_RATE))
    plans = [plan_scene(seed, i, n_samples, min_events=min_events, max_events=max_events) for i in range(n_clips)]
    speech = [(i, k, p) for i, ps in enumerate(plans) for k, p in enumerate(ps) if p.label == SPEECH]
    utterances = []
    for _, _, p in speech:
        rng = np.random.default_rng([*p.rng_seed, 1])
        voice = f"{ACCENTS[int(rng.integers(len(ACCENTS)))]}+{VARIANTS[int(rng.integers(len(VARIANTS)))]}"
        utterances.append(Utterance(text=p.word, voice=voice, rate=int(rng.integers(140, 190)),
                                    pitch=int(rng.integers(30, 71))))
    job = SpeechJob(utterances, sample_rate=SAMPLE_RATE) if utterances else None
    renderer = PhraseRenderer(sample_rate=SAMPLE_RATE)
    rendered: dict[tuple[int, int], np.ndarray] = {}
    for i, ps in enumerate(plans):
        for k, p in enumerate(ps):
            rng = np.random.default_rng(list(p.rng_seed))
            if p.label == NOISE:
                rendered[i, k] = (rng.standard_normal(int(rng.uniform(0.3, 0.8) * SAMPLE_RATE)) * 0.3
                                  ).astype(np.float32)
            elif p.label != SPEECH:
                phrase = _drum_phrase(rng) if p.label == DRUMS else _note_phrase(p.label, rng)
                inst = INSTRUMENT_BY_NAME[p.label]
                length = int((phrase.onsets[-1] + phrase.durations[-1] + 0.6) * SAMPLE_RATE)
                rendered[i, k] = renderer.render(inst, phrase, n_samples=length)
    if job is not None:
        for (i, k, _), audio in zip(speech, job.result()):
            rendered[i, k] = np.asarray(audio, dtype=np.float32)
    waveforms = np.zeros((n_clips, n_samples), dtype=np.int16)
    records, events = [], []
    gap = int(GAP_SECONDS * SAMPLE_RATE)
    for i, ps in enumerate(plans):
        clip_id = f"scene-{i:04d}"
        mix = np.zeros(n_samples, dtype=np.float32)
        clip_events = []
        for k, p in enumerate(ps):
            audio = rendered[i, k]
            start, stop = sounding_extent(audio)
            room = p.slot_stop - p.slot_start - gap
            if stop <= start or room <= 0:
                continue
            piece = audio[start:min(stop, start + room)]
            piece = _fade(piece / max(float(np.max(np.abs(piece))), 1e-9))
            rng = np.random.default_rng([*p.rng_seed, 2])
            at = p.slot_start + gap // 2 + int(rng.integers(0, room - piece.size + 1))
            mix[at:at + piece.size] += piece * np.float32(10.0 ** (rng.uniform(-6.0, 0.0) / 20.0))
            clip_events.append(Event(clip=clip_id, onset=round(at / SAMPLE_RATE, 4),
                                     offset=round((at + piece.size) / SAMPLE_RATE, 4), label=p.label))
        peak = float(np.max(np.abs(mix)))
        if peak > 0:
            mix *= np.float32(PEAK / peak)
        waveforms[i] = np.round(np.clip(mix, -1.0, 1.0) * 32767.0).astype(np.int16)
        if not clip_events:
            raise AudioDissectError(f"scene {clip_id} holds no sounding event", hint="try another seed")
        longest = max(clip_events, key=lambda e: e.offset - e.onset)
        records.append({"id": clip_id, "label": longest.label,
                        "metadata": {"events": [{"onset": e.onset, "offset": e.offset, "label": e.label}
                                                for e in clip_events]}})
        events += clip_events
    return waveforms, records, events


def load_scenes(*, seed: int = 0, n_clips: int = DEFAULT_CLIPS, duration: float = DEFAULT_DURATION,
                min_events: int = 2, max_events: int = 4, heldout_fraction: float = HELDOUT_FRACTION,
                root: str | None = None) -> SceneProbeSet:
    """Load the scenes from the cache, generating them first if needed.

    Parameters
    ----------
    seed : int
    n_clips : int
        Scenes generated (240 by default).
    duration : float
        Seconds per scene, 1 to 30.
    min_events, max_events : int
        Events per scene, between 1 and :data:`SCENE_LABELS`'s length.
    heldout_fraction : float
    root : str, optional
        The folder holding generated scenes, instead of ``cache_dir() / "scenes"``.

    Returns
    -------
    SceneProbeSet
    """
    if int(n_clips) < 1:
        raise AudioDissectError("n_clips must be at least 1", hint="e.g. n_clips=240")
    if not 1.0 <= float(duration) <= 30.0:
        raise AudioDissectError(f"duration must be between 1 and 30 seconds, got {duration}")
    if not 1 <= int(min_events) <= int(max_events) <= len(SCENE_LABELS):
        raise AudioDissectError(f"events per scene must satisfy 1 <= min_events <= max_events <= "
                                f"{len(SCENE_LABELS)}, got {min_events} and {max_events}")
    if not 0.0 <= float(heldout_fraction) < 1.0:
        raise AudioDissectError("heldout_fraction must be in [0, 1)")
    settings = {"seed": int(seed), "n_clips": int(n_clips), "duration": float(duration),
                "min_events": int(min_events), "max_events": int(max_events)}
    spec: dict[str, Any] = {"name": "scenes", **settings, "heldout_fraction": float(heldout_fraction)}
    if root is not None:
        spec["root"] = str(root)
    base = Path(root) if root is not None else cache_dir() / "scenes"
    folder = base / hash_key(FORMAT_VERSION, settings, _versions())
    def generate() -> Generated:
        audio, records, events = generate_scenes(**settings)
        return audio, records, {"n_events": len(events)}, lambda into: write_events(into / "events.csv", events)

    metadata, records, waveforms = cached_clips(
        folder, generate, what="scenes",
        base_metadata={"format_version": FORMAT_VERSION, "settings": settings, "versions": _versions(),
                       "sample_rate": SAMPLE_RATE})
    splits = numbered_split([r["label"] for r in records], [int(r["id"].rsplit("-", 1)[1]) for r in records],
                            seed=int(seed), fraction=float(heldout_fraction))
    clips = [ClipInfo(id=r["id"], label=r["label"], split=s, metadata=r["metadata"]) for r, s in zip(records, splits)]
    events = [Event(clip=r["id"], onset=float(e["onset"]), offset=float(e["offset"]), label=str(e["label"]))
              for r in records for e in r["metadata"]["events"]]
    return SceneProbeSet(clips=clips, waveforms=waveforms, events=events, spec=spec, folder=folder,
                         metadata=metadata)

