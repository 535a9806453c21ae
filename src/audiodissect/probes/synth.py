"""Render General-MIDI phrases with ``tinysoundfont`` and the TimGM6mb SoundFont.

The SoundFont ships inside the ``pretty_midi`` package; it is located without
importing that package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import AudioDissectError
from .phrases import DRUM_BANK, Instrument, Phrase

SOUNDFONT_NAME = "TimGM6mb.sf2"


def soundfont_path() -> Path:
    """The TimGM6mb SoundFont file inside the installed ``pretty_midi`` package."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or not spec.submodule_search_locations:
        raise AudioDissectError("the soundbank needs the pretty_midi package (for its SoundFont)",
                                hint="pip install pretty-midi")
    path = Path(list(spec.submodule_search_locations)[0]) / SOUNDFONT_NAME
    if not path.is_file():
        raise AudioDissectError(f"SoundFont {SOUNDFONT_NAME} not found in {path.parent}",
                                hint="reinstall pretty-midi")
    return path


class PhraseRenderer:
    """One synthesiser that renders phrases, one at a time, on MIDI channel 0.

    Every render starts from silence, so a clip's audio does not depend on
    which clips were rendered before it.

    Parameters
    ----------
    sample_rate : int
    """

    def __init__(self, *, sample_rate: int):
        try:
            import tinysoundfont
        except ImportError:
            raise AudioDissectError("the soundbank needs the tinysoundfont package",
                                    hint="pip install --no-deps tinysoundfont") from None
        self.sample_rate = int(sample_rate)
        self._synth = tinysoundfont.Synth(samplerate=self.sample_rate)
        self._sfid = self._synth.sfload(str(soundfont_path()))

    def render(self, inst: Instrument, phrase: Phrase, *, n_samples: int) -> np.ndarray:
        """Play `phrase` on `inst`.

        Returns
        -------
        np.ndarray, shape (n_samples,), float32
            The mono mix (mean of the synthesiser's two channels).
        """
        synth = self._synth
        synth.program_select(0, self._sfid, inst.bank, inst.program, is_drums=inst.bank == DRUM_BANK)
        events = []  # (sample, order, is_on, key, velocity); note-offs first at equal times
        for key, onset, dur, vel in zip(phrase.notes, phrase.onsets, phrase.durations,
                                        phrase.velocities):
            start = int(round(onset * self.sample_rate))
            stop = int(round((onset + dur) * self.sample_rate))
            events.append((start, 1, True, key, vel))
            events.append((max(stop, start + 1), 0, False, key, 0))
        events.sort(key=lambda e: (e[0], e[1]))
        out = np.zeros(2 * n_samples, dtype=np.float32)
        pos = 0
        for sample, _, is_on, key, vel in events:
            sample = min(sample, n_samples)
            if sample > pos:
                out[2 * pos:2 * sample] = np.frombuffer(synth.generate(sample - pos), dtype=np.float32)
                pos = sample
            if is_on:
                synth.noteon(0, key, vel)
            else:
                synth.noteoff(0, key)
        if pos < n_samples:
            out[2 * pos:] = np.frombuffer(synth.generate(n_samples - pos), dtype=np.float32)
        self._flush()
        return out.reshape(n_samples, 2).mean(axis=1)

    def _flush(self) -> None:
        """Silence every voice and let the quick release finish."""
        self._synth.sounds_off()
        self._synth.generate(self.sample_rate // 4)
