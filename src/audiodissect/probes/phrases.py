"""Instruments of the soundbank and the short musical phrases they play.

Everything here is pure: a phrase is a list of timed MIDI events drawn from a
``numpy.random.Generator``; :mod:`audiodissect.probes.synth` renders it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: The 16 General-MIDI families, in program order (8 programs each).
GM_FAMILIES = (
    "piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
    "reed", "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive",
    "sound effects",
)
DRUM_BANK = 128


@dataclasses.dataclass(frozen=True)
class Instrument:
    """A named instrument as a General-MIDI preset.

    Attributes
    ----------
    name : str
        The label, an AudioSet class name where one exists.
    program : int
        0-based GM program number.
    bank : int
        0 for melodic presets, 128 for the drum kit.
    low, high : int
        The MIDI note range the instrument plays in (inclusive).
    sustained : bool
        Bowed, blown or held notes (legato) rather than plucked or struck ones.
    """

    name: str
    program: int
    bank: int = 0
    low: int = 0
    high: int = 127
    sustained: bool = False

    @property
    def family(self) -> str:
        """The GM family name ("drums" for the drum kit)."""
        return "drums" if self.bank == DRUM_BANK else GM_FAMILIES[self.program // 8]


INSTRUMENTS = (
    Instrument("piano", 0, low=40, high=91),
    Instrument("organ", 19, low=40, high=84, sustained=True),
    Instrument("acoustic guitar", 25, low=40, high=79),
    Instrument("bass guitar", 33, low=28, high=55),
    Instrument("violin", 40, low=55, high=93, sustained=True),
    Instrument("cello", 42, low=36, high=69, sustained=True),
    Instrument("harp", 46, low=40, high=88),
    Instrument("trumpet", 56, low=55, high=82, sustained=True),
    Instrument("saxophone", 65, low=49, high=80, sustained=True),
    Instrument("clarinet", 71, low=50, high=86, sustained=True),
    Instrument("flute", 73, low=60, high=96, sustained=True),
    Instrument("marimba", 12, low=45, high=93),
    Instrument("synthesizer", 81, low=40, high=84, sustained=True),
    Instrument("banjo", 105, low=48, high=79),
    Instrument("sitar", 104, low=48, high=77),
    Instrument("drum kit", 0, bank=DRUM_BANK),
)
INSTRUMENT_BY_NAME = {inst.name: inst for inst in INSTRUMENTS}

MELODIC_PATTERNS = ("arpeggio", "scale", "repeated", "melody")
DRUM_PATTERNS = ("rock", "backbeat", "four on the floor", "fill")

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
_CHORDS = (np.array([0, 4, 7]), np.array([0, 3, 7]), np.array([0, 4, 7, 11]),
           np.array([0, 3, 7, 10]), np.array([0, 4, 7, 10]))

# General-MIDI percussion keys.
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH, RIDE = 36, 38, 42, 46, 49, 51
LOW_TOM, MID_TOM, HIGH_TOM = 45, 47, 50


@dataclasses.dataclass(frozen=True)
class Phrase:
    """Timed notes for one clip.

    Attributes
    ----------
    notes : tuple of int
        MIDI note (or drum key) of each event, in onset order.
    onsets, durations : tuple of float
        Seconds from the clip start, and how long each note is held.
    velocities : tuple of int
    tempo : float
        Beats per minute.
    pattern : str
    """

    notes: tuple[int, ...]
    onsets: tuple[float, ...]
    durations: tuple[float, ...]
    velocities: tuple[int, ...]
    tempo: float
    pattern: str


def _scale_notes(root: int, mode: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """MIDI notes of scale `degrees` (any integers) above `root`."""
    octave, step = np.divmod(degrees, len(mode))
    return root + 12 * octave + mode[step]


def _melodic_pitches(pattern: str, n: int, inst: Instrument, rng: np.random.Generator) -> np.ndarray:
    """Pitches (n,) of a `pattern` phrase that fit in the instrument's range."""
    mode = _MAJOR if rng.random() < 0.6 else _MINOR
    if pattern == "arpeggio":
        chord = _CHORDS[rng.integers(len(_CHORDS))]
        idx = np.arange(n)
        shape = rng.integers(3)
        if shape == 1:  # descending
            idx = idx[::-1]
        elif shape == 2:  # up and back down
            half = (n + 1) // 2
            idx = np.concatenate([np.arange(half), np.arange(n - half)[::-1] + 1])[:n]
        octave, step = np.divmod(idx, len(chord))
        rel = 12 * octave + chord[step]
    elif pattern == "scale":
        start = int(rng.integers(0, 3))
        degrees = start + np.arange(n)
        if rng.random() < 0.5:
            degrees = degrees[::-1]
        rel = _scale_notes(0, mode, degrees)
    elif pattern == "repeated":
        # One or two pitches repeated in a rhythm.
        other = _scale_notes(0, mode, np.array([int(rng.choice([2, 4, 7]))]))[0]
        rel = np.where(rng.random(n) < 0.3, other, 0)
        rel[0] = 0
    else:  # melody: a random walk on the scale
        steps = rng.choice([-2, -1, -1, 1, 1, 2, 0], size=n - 1)
        degrees = np.concatenate([[0], np.cumsum(steps)])
        degrees -= degrees.min()
        rel = _scale_notes(0, mode, degrees)
    rel = rel - rel.min()
    span = int(rel.max())
    top = max(inst.low, inst.high - span)
    root = int(rng.integers(inst.low, top + 1))
    return np.clip(root + rel, inst.low, inst.high).astype(int)


def _timing(n: int, rng: np.random.Generator, *, length: float, start: float) -> tuple[float, float]:
    """A tempo (bpm) and step (s) so that `n` steps fit in `length` seconds after `start`."""
    tempo = float(rng.uniform(80, 160))
    per_beat = float(rng.choice([0.5, 1.0, 1.0, 2.0 / 3.0]))  # eighths, quarters, triplets
    step = 60.0 / tempo * per_beat
    room = length - start - 0.35
    if n * step > room:
        step = room / n
        tempo = 60.0 / step * per_beat
    return round(tempo, 1), step


def melodic_phrase(inst: Instrument, rng: np.random.Generator, *, length: float) -> Phrase:
    """A seeded 4-8 note phrase of `inst` that ends before `length` seconds."""
    pattern = MELODIC_PATTERNS[int(rng.integers(len(MELODIC_PATTERNS)))]
    n = int(rng.integers(4, 9))
    start = float(rng.uniform(0.0, 0.25))
    tempo, step = _timing(n, rng, length=length, start=start)
    pitches = _melodic_pitches(pattern, n, inst, rng)
    onsets = start + step * np.arange(n) + rng.normal(0.0, 0.006, n).clip(-0.012, 0.012)
    onsets = np.maximum(onsets, 0.0)
    legato = rng.uniform(0.75, 0.97) if inst.sustained else rng.uniform(0.5, 0.95)
    durations = np.full(n, step * legato)
    durations[-1] = min(length - onsets[-1] - 0.05, step * rng.uniform(1.0, 2.0))
    base = int(rng.integers(60, 121))
    velocities = np.clip(base + rng.integers(-12, 13, n), 30, 127)
    if pattern == "repeated":
        accents = np.arange(n) % int(rng.choice([2, 3, 4])) == 0
        velocities = np.clip(velocities + 15 * accents - 5, 30, 127)
    return Phrase(tuple(int(p) for p in pitches), tuple(float(o) for o in onsets),
                  tuple(float(d) for d in durations), tuple(int(v) for v in velocities),
                  tempo, pattern)


def _drum_grid(pattern: str, steps: int, rng: np.random.Generator) -> list[list[int]]:
    """For each eighth-note step, the drum keys struck on it."""
    grid: list[list[int]] = [[] for _ in range(steps)]
    hat = OPEN_HAT if rng.random() < 0.2 else (RIDE if rng.random() < 0.25 else CLOSED_HAT)
    for i in range(steps):
        beat = i % 8
        if pattern == "rock":
            if beat in (0, 4) or (beat == 5 and rng.random() < 0.5):
                grid[i].append(KICK)
            if beat in (2, 6):
                grid[i].append(SNARE)
            grid[i].append(hat)
        elif pattern == "backbeat":
            if beat in (0, 3) or (beat == 7 and rng.random() < 0.4):
                grid[i].append(KICK)
            if beat in (2, 6):
                grid[i].append(SNARE)
            if beat % 2 == 0:
                grid[i].append(hat)
        elif pattern == "four on the floor":
            if beat % 2 == 0:
                grid[i].append(KICK)
            else:
                grid[i].append(OPEN_HAT if rng.random() < 0.7 else hat)
            if beat in (2, 6):
                grid[i].append(SNARE)
        else:  # fill: a beat, then snare and toms
            if i < steps // 2:
                if beat in (0, 4):
                    grid[i].append(KICK)
                if beat in (2, 6):
                    grid[i].append(SNARE)
                grid[i].append(hat)
            else:
                grid[i].append(int(rng.choice([SNARE, HIGH_TOM, MID_TOM, LOW_TOM])))
    if rng.random() < 0.3:
        grid[0].append(CRASH)
    return grid


def drum_phrase(rng: np.random.Generator, *, length: float) -> Phrase:
    """A seeded kick/snare/hi-hat rhythm of one or two bars of eighth notes."""
    pattern = DRUM_PATTERNS[int(rng.integers(len(DRUM_PATTERNS)))]
    start = float(rng.uniform(0.0, 0.2))
    tempo = float(rng.uniform(80, 150))
    step = 30.0 / tempo  # an eighth note
    steps = min(16, int((length - start - 0.3) // step))
    grid = _drum_grid(pattern, steps, rng)
    base = int(rng.integers(70, 121))
    notes, onsets, velocities = [], [], []
    for i, keys in enumerate(grid):
        for key in keys:
            accent = 10 if key in (KICK, SNARE, CRASH) else (0 if i % 2 == 0 else -15)
            notes.append(key)
            onsets.append(max(0.0, start + i * step + float(rng.normal(0.0, 0.004))))
            velocities.append(int(np.clip(base + accent + rng.integers(-8, 9), 30, 127)))
    order = np.argsort(onsets, kind="stable")
    notes = [notes[i] for i in order]
    onsets = [onsets[i] for i in order]
    velocities = [velocities[i] for i in order]
    durations = [min(step, length - o) for o in onsets]
    return Phrase(tuple(notes), tuple(onsets), tuple(durations), tuple(velocities),
                  round(tempo, 1), pattern)


def phrase_for(inst: Instrument, rng: np.random.Generator, *, length: float) -> Phrase:
    """The phrase `inst` plays in one clip of `length` seconds."""
    if inst.bank == DRUM_BANK:
        return drum_phrase(rng, length=length)
    return melodic_phrase(inst, rng, length=length)
