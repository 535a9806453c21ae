"""Spoken words from espeak-ng, driven through ctypes.

The ``espeakng-loader`` package carries ``libespeak-ng`` and its voice data;
this module loads that library once per process, synthesises text into a
buffer at the library's native rate (22,050 Hz) and resamples it.

espeak-ng keeps state between utterances (a pitch-flutter counter and a noise
generator inside the library), so the same text comes out slightly different
the second time. A fresh process that says the same utterances in the same
order, however, always produces the same samples. :class:`SpeechJob`
therefore renders a list of utterances in a child Python process (which also
lets it run beside the music rendering on a second core); the child is this
module run as a script.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..audio import resample
from ..errors import AudioDissectError

#: English accents (espeak-ng voice names).
ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-us-nyc", "en-029", "en-gb-x-gbclan")
#: Voice variants (``+name``), male then female. Variants that add breath
#: noise (f2, f3, f5, whisper...) are left out: that noise differs from run
#: to run, even in a fresh process, so their clips would not be reproducible.
VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f4", "Annie", "belinda", "linda", "steph")

#: Short words and phrases; a speech clip says two of them (about two seconds together).
TEXTS = (
    "hello", "good morning", "thank you", "yes please", "no thanks", "see you later",
    "one two three", "four five six", "seven eight nine", "open the door", "close the window",
    "turn left here", "turn right", "stop", "go ahead", "wait a minute", "where are you",
    "I am here", "what time is it", "it is late", "the weather is nice", "it might rain",
    "the train is leaving", "please sit down", "welcome home", "happy birthday",
    "how are you", "very well", "listen carefully", "speak louder", "call me tomorrow",
    "the meeting starts now", "coffee or tea", "a glass of water", "the red car",
    "a small dog", "the cat is asleep", "read the book", "write it down", "good night",
    "excuse me", "I am sorry", "not today", "maybe later", "let us begin", "that is right",
    "count to ten", "the last page", "bring the keys", "the bus is late", "in the garden",
    "under the table", "on the roof", "over there", "come back soon", "check the time",
    "the phone is ringing", "pass the salt", "nice to meet you", "have a good day",
    "the quick brown fox", "jumps over the dog", "summer holidays", "winter is coming",
    "green apples", "fresh bread", "a cup of coffee", "the music is loud", "lower the volume",
    "we are ready", "follow me", "look up", "take a seat", "the answer is yes",
    "ask a question", "final call", "next station", "mind the gap", "all aboard",
    "attention please",
)

_SAMPLE_RATE_NATIVE = 22050
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


@dataclasses.dataclass(frozen=True)
class Utterance:
    """What one speech clip says and how.

    Attributes
    ----------
    text : str
    voice : str
        espeak-ng voice, ``"<accent>+<variant>"``.
    rate : int
        Words per minute.
    pitch : int
        espeak-ng base pitch, 0-100.
    """

    text: str
    voice: str
    rate: int
    pitch: int


def draw_utterance(rng: np.random.Generator) -> Utterance:
    """A seeded text (two of :data:`TEXTS`, so speech fills most of a clip), voice, rate and pitch."""
    first, second = rng.choice(len(TEXTS), size=2, replace=False)
    text = f"{TEXTS[int(first)]}, {TEXTS[int(second)]}"
    voice = f"{ACCENTS[int(rng.integers(len(ACCENTS)))]}+{VARIANTS[int(rng.integers(len(VARIANTS)))]}"
    return Utterance(text=text, voice=voice, rate=int(rng.integers(135, 196)),
                     pitch=int(rng.integers(30, 71)))


class _Espeak:
    """The process-wide espeak-ng library (it keeps global state)."""

    _instance: _Espeak | None = None
    _lock = threading.Lock()

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError:
            raise AudioDissectError("speech clips need the espeakng-loader package",
                                    hint="pip install espeakng-loader") from None
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synchronize.restype = ctypes.c_int
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                     espeakng_loader.get_data_path().encode(), 0)
        if rate <= 0:
            raise AudioDissectError("espeak-ng failed to initialise",
                                    hint="reinstall espeakng-loader")
        self.rate = int(rate)
        self._lib = lib
        self._chunks: list[np.ndarray] = []

        def collect(wav, n, _events):
            if wav and n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._callback = _CALLBACK(collect)  # keep a reference: the library holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> _Espeak:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def synthesize(self, utt: Utterance) -> np.ndarray:
        """int16 samples at :attr:`rate`, shape (T,)."""
        with self._lock:
            if self._lib.espeak_SetVoiceByName(utt.voice.encode()) != 0:
                raise AudioDissectError(f"espeak-ng has no voice {utt.voice!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, utt.rate, 0)
            self._lib.espeak_SetParameter(_PARAM_PITCH, utt.pitch, 0)
            self._chunks = []
            text = utt.text.encode() + b"\0"
            self._lib.espeak_Synth(text, len(text), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def speak(utt: Utterance, *, sample_rate: int) -> np.ndarray:
    """Synthesise `utt`.

    Returns
    -------
    np.ndarray, shape (T,), float32
        Audio in [-1, 1] at `sample_rate`; empty if espeak-ng produced nothing.
    """
    engine = _Espeak.get()
    audio = engine.synthesize(utt).astype(np.float32) / 32768.0
    return resample(audio, engine.rate, sample_rate) if audio.size else audio


class SpeechJob:
    """Render `utterances` in a fresh child process, in order.

    Parameters
    ----------
    utterances : sequence of Utterance
    sample_rate : int

    Use :meth:`result` to wait for the audio; the child starts at once.
    """

    def __init__(self, utterances: Sequence[Utterance], *, sample_rate: int):
        self._n = len(utterances)
        self._dir = tempfile.TemporaryDirectory(prefix="audiodissect-speech-")
        folder = Path(self._dir.name)
        self._out = folder / "speech.npz"
        request = folder / "request.json"
        request.write_text(json.dumps({"sample_rate": int(sample_rate),
                                       "utterances": [dataclasses.asdict(u) for u in utterances]}))
        # the child must import this package even when it is not installed
        package_parent = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONHASHSEED="0",
                   PYTHONPATH=package_parent + (os.pathsep + path if path else ""))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "audiodissect.probes.speech", str(request), str(self._out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)

    def result(self) -> list[np.ndarray]:
        """The clips' audio, each (T_i,) float32 at the requested rate."""
        try:
            _, err = self._proc.communicate()
            if self._proc.returncode != 0:
                tail = err.decode(errors="replace").strip().splitlines()[-3:]
                raise AudioDissectError("speech synthesis with espeak-ng failed: " + " | ".join(tail),
                                        hint="check that espeakng-loader is installed")
            with np.load(self._out) as data:
                audio, bounds = data["audio"], data["bounds"]
        finally:
            self._dir.cleanup()
        clips = [audio[bounds[i]:bounds[i + 1]] for i in range(self._n)]
        return [c.astype(np.float32) / 32768.0 for c in clips]


def _render_request(request_path: str, out_path: str) -> None:
    """Child side of :class:`SpeechJob`: say every utterance and save them concatenated."""
    request = json.loads(Path(request_path).read_text())
    rate = int(request["sample_rate"])
    clips = []
    for item in request["utterances"]:
        audio = speak(Utterance(**item), sample_rate=rate)
        clips.append(np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16))
    bounds = np.cumsum([0] + [c.size for c in clips]).astype(np.int64)
    audio = np.concatenate(clips) if clips else np.zeros(0, dtype=np.int16)
    with open(out_path, "wb") as f:
        np.savez(f, audio=audio, bounds=bounds)


if __name__ == "__main__":
    _render_request(sys.argv[1], sys.argv[2])
