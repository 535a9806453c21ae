"""Acoustic evidence: audio-grounded columns for the acoustic words of a concept set.

Audio-text models (CLAP) and the offline tag bridge are weak at exactly the
words that describe *how* a sound sounds (pitch register, brightness,
noisiness, loudness, attack, sustain): no AudioSet tag is called
"low-pitched". This backend measures those qualities on every clip
(:func:`audiodissect.descriptors.measure`: YIN f0 and periodicity, spectral
centroid, spectral flatness, RMS level, spectral-flux onsets, envelope) and
turns each into an evidence column for the words of
``audiodissect/data/acoustic_evidence.toml``:

1. membership m[i, w] = sigmoid(sign * (t(value) - t(edge)) / width), times the
   gate word's membership for a gated word (pitch words need a pitched clip);
2. the column is m rank-Gaussianised over the probing set (ties share their
   mean rank), the scale of the tag bridge's columns.

A concept is *covered* when it is a word of the file or one of its aliases
(case and spacing ignored). :class:`AcousticEvidence` alone gives zero
columns for uncovered concepts; :class:`CombinedEvidence` (specs
``"tag-bridge+acoustic"``, ``"clap+acoustic"``) takes the covered concepts'
columns from the acoustic measurements, averages a text that mentions
acoustic words ("Low-pitched and dull.") with those words' columns, and
takes every other column, unchanged, from its base backend.

How this differs from the planted acoustic detectors
(:mod:`audiodissect.planted.detectors`), which stay independent of it:

=============  =========================================  ===============================================
word           evidence here                               planted detector
=============  =========================================  ===============================================
low-pitched    YIN median f0 below 220 Hz (soft, quarter-  autocorrelation f0 (first peak at 0.9 of the
               octave), gated by median YIN periodicity    best lag) within 40-220 Hz, times periodicity,
               >= 0.6; 64 ms frames over 2x YIN windows    averaged over 1024-sample frames
mid-pitched    YIN median f0 within 220-880 Hz (soft       autocorrelation f0 within 220-880 Hz (the
               edges as above), gated the same way         benchmark's ``registers`` extra)
high-pitched   YIN median f0 above 880 Hz (f0 <= 2 kHz)    autocorrelation f0 within 880-4000 Hz
noisy          median spectral flatness above 0.3          mean spectral flatness (1024-sample frames)
bright         spectral centroid above 2 kHz (log scale)   share of power above 2 kHz
dull           spectral centroid below 800 Hz (log scale)  share of power below 500 Hz
=============  =========================================  ===============================================
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import hash_key, load_npy, save_npy
from ..errors import AudioDissectError

log = logging.getLogger(__name__)

#: The vocabulary file inside the package's data.
VOCABULARY_RESOURCE = "acoustic_evidence.toml"
#: The descriptor fields read, in the column order of :func:`clip_features`.
FEATURES = ("loudness_db", "pitch_hz", "pitchedness", "brightness_hz", "noisiness", "onset_rate",
            "attack_s", "sustain")
SCALES = ("linear", "log2")
SIDES = ("above", "below", "between")
#: The rate clips are measured at.
RATE = 16000
_LOG_FLOOR = 1e-3
_NEGATIONS = frozenset({"no", "not", "without", "never"})


@dataclasses.dataclass(frozen=True)
class AcousticWord:
    """How one acoustic word is read off the measured features (see the module docstring)."""

    word: str
    feature: str
    scale: str
    side: str
    edge: float
    width: float
    edge_high: float | None = None
    gate: str | None = None
    antonym: str | None = None
    aliases: tuple[str, ...] = ()


def text_words(text: str) -> list[str]:
    """The normalised words of a text, its punctuation dropped.

    Hyphens become spaces as in :func:`normalize_word`, so "Low-pitched, dull."
    gives ``["low", "pitched", "dull"]``.
    """
    return normalize_word(re.sub(r"[^\w\s-]", " ", str(text))).split()


def normalize_word(text: str) -> str:
    """Lower case, hyphens and runs of spaces as one space: "Low-Pitched " -> "low pitched"."""
    return " ".join(str(text).lower().replace("-", " ").replace("_", " ").split())


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """The acoustic words, their aliases and the default acoustic concepts."""

    words: dict[str, AcousticWord]
    default_concepts: tuple[str, ...]

    @functools.cached_property
    def _names(self) -> dict[str, AcousticWord]:
        """Every word and alias, normalised, to its word; the first word naming it wins."""
        names: dict[str, AcousticWord] = {}
        for w in self.words.values():
            for name in (w.word, *w.aliases):
                names.setdefault(normalize_word(name), w)
        return names

    @functools.cached_property
    def _by_first_token(self) -> dict[str, list[tuple[tuple[str, ...], str]]]:
        """First token of every word and alias -> its (tokens, word name) pairs."""
        index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for w in self.words.values():
            for name in (w.word, *w.aliases):
                key = tuple(normalize_word(name).split())
                index.setdefault(key[0], []).append((key, w.word))
        return index

    def lookup(self, concept: str) -> AcousticWord | None:
        """The word a concept names (by the word itself or an alias), or None."""
        return self._names.get(normalize_word(concept))

    def covered(self, concepts: Sequence[str]) -> np.ndarray:
        """Which concepts have acoustic evidence, shape (C,), bool."""
        return np.array([self.lookup(c) is not None for c in concepts], dtype=bool)

    def mentioned(self, text: str) -> list[AcousticWord]:
        """The words `text` names (by word or alias, whole words), each once, in vocabulary order.

        Longer names win where matches overlap ("low-pitched" is not also
        "pitched"). A word with "no", "not", "without" or "never" among the
        four words before it is not counted ("not high-pitched").
        """
        tokens = text_words(text)
        matches = []                                           # (length, start, word name)
        for i, token in enumerate(tokens):
            matches += [(len(key), i, word) for key, word in self._by_first_token.get(token, ())
                        if tuple(tokens[i:i + len(key)]) == key]
        used = np.zeros(len(tokens), dtype=bool)
        found: set[str] = set()
        for length, start, word in sorted(matches, key=lambda m: (-m[0], m[1])):
            if used[start:start + length].any():
                continue
            used[start:start + length] = True
            if not _NEGATIONS & set(tokens[max(0, start - 4):start]):
                found.add(word)
        return [w for w in self.words.values() if w.word in found]


def _parse(table: dict[str, Any], source: str) -> Vocabulary:
    words = {}
    for name, spec in dict(table.get("words", {})).items():
        where = f"{source}: word {name!r}"
        try:
            word = AcousticWord(word=name, feature=spec["feature"], scale=spec.get("scale", "linear"),
                                side=spec["side"], edge=float(spec["edge"]), width=float(spec["width"]),
                                edge_high=float(spec["edge_high"]) if "edge_high" in spec else None,
                                gate=spec.get("gate"), antonym=spec.get("antonym"),
                                aliases=tuple(spec.get("aliases", ())))
        except KeyError as e:
            raise AudioDissectError(f"{where} lacks {e.args[0]!r}",
                                    hint="each word needs feature, side, edge and width") from None
        if word.feature not in FEATURES:
            raise AudioDissectError(f"{where}: unknown feature {word.feature!r}", hint=f"one of {', '.join(FEATURES)}")
        if word.scale not in SCALES or word.side not in SIDES:
            raise AudioDissectError(f"{where}: scale must be one of {SCALES}, side one of {SIDES}")
        if word.width <= 0 or (word.side == "between") != (word.edge_high is not None):
            raise AudioDissectError(f"{where}: width must be positive; 'between' (and only it) needs edge_high")
        words[name] = word
    for w in words.values():
        if w.gate is not None and (w.gate not in words or words[w.gate].gate is not None):
            raise AudioDissectError(f"{source}: word {w.word!r} has gate {w.gate!r}, which is not an ungated word")
    defaults = tuple(table.get("default", {}).get("concepts", ()))
    unknown = [c for c in defaults if c not in words]
    if unknown:
        raise AudioDissectError(f"{source}: default concepts without a word entry: {', '.join(unknown)}")
    return Vocabulary(words=words, default_concepts=defaults)


def load_vocabulary(path: str | os.PathLike | None = None) -> Vocabulary:
    """The acoustic vocabulary: the package's ``acoustic_evidence.toml`` or a TOML file of that form."""
    if path is None:
        text = resources.files("audiodissect.data").joinpath(VOCABULARY_RESOURCE).read_text(encoding="utf-8")
        source = VOCABULARY_RESOURCE
    else:
        text, source = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise AudioDissectError(f"{source} is not valid TOML: {e}") from None
    return _parse(table, source)


def default_acoustic_concepts() -> list[str]:
    """The acoustic words added to a concept set when the user gives none (the file's ``[default]``)."""
    return list(load_vocabulary().default_concepts)


def clip_features(waveforms: Sequence[np.ndarray], *, sample_rate: int = RATE) -> np.ndarray:
    """The measured qualities of each clip, shape (N, len(FEATURES)), float64.

    A clip the descriptors cannot measure (silent, empty) gets NaN in every column.
    """
    from ..descriptors import measure_many

    out = np.full((len(waveforms), len(FEATURES)), np.nan)
    for i, d in enumerate(measure_many(waveforms, sample_rate, unmeasurable="none")):
        if d is not None:
            out[i] = [getattr(d, f) for f in FEATURES]
    return out


def _transform(values: np.ndarray, scale: str) -> np.ndarray:
    return np.log2(np.maximum(values, _LOG_FLOOR)) if scale == "log2" else values


def memberships(features: np.ndarray, words: Sequence[AcousticWord], vocabulary: Vocabulary) -> np.ndarray:
    """Membership of every clip in every word, shape (N, W), in [0, 1]; NaN features give 0.

    Parameters
    ----------
    features : np.ndarray, shape (N, len(FEATURES))
        From :func:`clip_features`.
    words : sequence of AcousticWord, length W
    vocabulary : Vocabulary
        Resolves gates.
    """
    features = np.asarray(features, dtype=np.float64)

    def one(w: AcousticWord) -> np.ndarray:
        x = _transform(features[:, FEATURES.index(w.feature)], w.scale)
        lo = _transform(np.array(w.edge), w.scale)
        with np.errstate(invalid="ignore", over="ignore"):
            if w.side == "above":
                m = _sigmoid((x - lo) / w.width)
            elif w.side == "below":
                m = _sigmoid((lo - x) / w.width)
            else:
                hi = _transform(np.array(w.edge_high), w.scale)
                m = _sigmoid((x - lo) / w.width) * _sigmoid((hi - x) / w.width)
        m = np.where(np.isnan(m), 0.0, m)
        return m * one(vocabulary.words[w.gate]) if w.gate else m

    if not words:
        return np.zeros((len(features), 0))
    return np.stack([one(w) for w in words], axis=1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def rank_gaussian(values: np.ndarray) -> np.ndarray:
    """Each column's values ranked over the rows (ties averaged) and mapped to normal quantiles, (N, W)."""
    from scipy.special import ndtri  # here, not above: reading the acoustic words needs no scipy
    from scipy.stats import rankdata

    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n == 0:
        return values.copy()
    ranks = rankdata(values, method="average", axis=0)
    return ndtri((ranks - 0.5) / n)


def acoustic_columns(features: np.ndarray, concepts: Sequence[str], *,
                     vocabulary: Vocabulary | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Evidence columns of the covered concepts and which concepts are covered.

    Parameters
    ----------
    features : np.ndarray, shape (N, len(FEATURES))
    concepts : sequence of str, length C

    Returns
    -------
    evidence : np.ndarray, shape (N, C), float32
        Rank-Gaussianised memberships in covered columns, 0 elsewhere.
    covered : np.ndarray, shape (C,), bool
    """
    vocabulary = vocabulary or load_vocabulary()
    found = [vocabulary.lookup(c) for c in concepts]
    covered = np.array([w is not None for w in found], dtype=bool)
    out = np.zeros((len(features), len(concepts)), dtype=np.float32)
    if covered.any():
        words = [w for w in found if w is not None]
        out[:, covered] = rank_gaussian(memberships(features, words, vocabulary))
    return out, covered


class AcousticEvidence:
    """Evidence for acoustic words from measured clip qualities (spec ``"acoustic"``).

    Parameters
    ----------
    vocabulary : path-like, optional
        A TOML file of the form of ``acoustic_evidence.toml`` (default: the package's).
    cache_dir : path-like, optional
        Where the per-clip features of a probing set are kept
        (``acoustic-features-<key>.npy``, keyed by the set's content).
    """

    name = "acoustic"

    def __init__(self, *, vocabulary: str | os.PathLike | None = None, cache_dir: Any = None):
        self.vocabulary_path = None if vocabulary is None else str(vocabulary)
        self.vocabulary = load_vocabulary(vocabulary)
        self.cache_dir = cache_dir

    def settings(self) -> dict[str, Any]:
        """The vocabulary's content and the features read (they determine the evidence)."""
        return {"backend": self.name, "features": list(FEATURES), "rate": RATE,
                "vocabulary": hash_key(repr(sorted(self.vocabulary.words.items())))}

    def features(self, probe_or_waveforms: Any) -> np.ndarray:
        """Per-clip measured qualities, shape (N, len(FEATURES)), cached per probing set."""
        path = None
        if self.cache_dir is not None and hasattr(probe_or_waveforms, "content_key"):
            key = hash_key("acoustic-features", 1, FEATURES, RATE, probe_or_waveforms.name,
                           probe_or_waveforms.content_key())
            path = Path(self.cache_dir) / f"acoustic-features-{key[:16]}.npy"
            if path.exists():
                cached = load_npy(path)
                if cached.shape == (len(probe_or_waveforms.clips), len(FEATURES)):
                    return cached
        from .waveforms import waveforms_at

        waves = waveforms_at(probe_or_waveforms, RATE)
        log.info("acoustic evidence: measuring %d clips", len(waves))
        feats = clip_features(waves, sample_rate=RATE)
        if path is not None:
            save_npy(path, feats)
        return feats

    def covered(self, concepts: Sequence[str], probe: Any = None) -> np.ndarray:
        """Which concepts this backend has evidence for, shape (C,), bool (the same for every probing set)."""
        return self.vocabulary.covered(concepts)

    def evidence(self, probe_or_waveforms: Any, concepts: Sequence[str]) -> np.ndarray:
        """Clip-concept evidence, shape (N, C), float32; zero columns for uncovered concepts."""
        concepts = list(concepts)
        if not concepts:
            raise AudioDissectError("no concepts to compute evidence for")
        if not self.covered(concepts).any():
            log.warning("acoustic evidence: none of the %d concepts is an acoustic word", len(concepts))
        out, _ = acoustic_columns(self.features(probe_or_waveforms), concepts, vocabulary=self.vocabulary)
        return out


class CombinedEvidence:
    """A base backend's evidence with the acoustic words measured (``"<base>+acoustic"``).

    How a text's column is made (:meth:`combine`):

    * a text that *is* an acoustic word or alias ("low-pitched", "deep") gets
      its measured column alone; the base backend is not asked about it;
    * a text that *mentions* acoustic words ("Bass guitar. Low-pitched and
      dull.", not negated) gets the mean of its base column and those words'
      measured columns, so that a summary is heard for what it says of the
      sound as well as of its sources;
    * every other text gets its base column unchanged.

    Both kinds of column are rank-Gaussianised over the clips (the tag
    bridge's scale), so the mean weighs them alike.
    """

    def __init__(self, base: Any, acoustic: AcousticEvidence | None = None):
        self.base = base
        self.acoustic = acoustic or AcousticEvidence()
        self.name = f"{base.name}+acoustic"

    @property
    def cache_dir(self) -> Any:
        return self.acoustic.cache_dir

    @cache_dir.setter
    def cache_dir(self, value: Any) -> None:
        self.acoustic.cache_dir = value
        if getattr(self.base, "cache_dir", 0) is None:
            self.base.cache_dir = value

    def settings(self) -> dict[str, Any]:
        base = self.base.settings() if hasattr(self.base, "settings") else {"backend": self.base.name}
        return {"base": base, "acoustic": self.acoustic.settings(), "combine": "exact-or-mean"}

    def covered(self, concepts: Sequence[str], probe: Any = None) -> np.ndarray:
        """Concepts with evidence from the acoustic words or the base, shape (C,), bool."""
        from .coverage import backend_coverage

        return self.acoustic.covered(concepts) | backend_coverage(self.base, concepts, probe)

    def combine(self, features: np.ndarray, texts: Sequence[str], base_fn: Any) -> np.ndarray:
        """Evidence of `texts` on clips whose qualities are `features` (see the class docstring).

        Parameters
        ----------
        features : np.ndarray, shape (N, len(FEATURES))
            From :meth:`AcousticEvidence.features` (rows: the clips wanted).
        texts : sequence of str, length T
            Concepts or explanation texts.
        base_fn : callable
            ``base_fn(texts) -> (N, len(texts))``: the base backend on the same
            clips; asked once, for the texts that are not acoustic words.

        Returns
        -------
        np.ndarray, shape (N, T), float32
        """
        texts = list(texts)
        vocab = self.acoustic.vocabulary
        exact = [vocab.lookup(t) for t in texts]
        named = [[] if w is not None else vocab.mentioned(t) for t, w in zip(texts, exact)]
        words = list({w.word: w for w in [*(w for w in exact if w), *(x for ws in named for x in ws)]}.values())
        column = {w.word: j for j, w in enumerate(words)}
        n = len(features)
        mix = np.zeros((len(words), len(texts)))                      # (W, T) weights of measured columns
        base_weight = np.zeros(len(texts))                             # (T,) weight of the base column
        for t, (w, ws) in enumerate(zip(exact, named)):
            if w is not None:
                mix[column[w.word], t] = 1.0
                continue
            share = 1.0 / (1 + len(ws))
            base_weight[t] = share
            mix[[column[x.word] for x in ws], t] = share
        out = np.zeros((n, len(texts)))
        rest = np.flatnonzero(base_weight > 0)
        if rest.size:
            out[:, rest] = np.asarray(base_fn([texts[t] for t in rest]), dtype=np.float64) * base_weight[rest]
        if words:
            out += rank_gaussian(memberships(features, words, vocab)) @ mix
        return out.astype(np.float32)

    def evidence(self, probe_or_waveforms: Any, concepts: Sequence[str]) -> np.ndarray:
        """Clip-concept evidence, shape (N, C), float32 (see :meth:`combine`)."""
        concepts = list(concepts)
        if not concepts:
            raise AudioDissectError("no concepts to compute evidence for")
        return self.combine(self.acoustic.features(probe_or_waveforms), concepts,
                            lambda texts: self.base.evidence(probe_or_waveforms, texts))
