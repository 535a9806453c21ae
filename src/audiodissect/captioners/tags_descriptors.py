"""The offline default captioner: a tagger's distinctive tags plus acoustic descriptors.

No audio captioner runs offline, so this one writes its descriptions from
two things that do: the tags of a sound tagger (YAMNet by default) and the
acoustic descriptors of :mod:`audiodissect.descriptors`. A description is two
plain sentences, e.g.::

    Sounds of trumpet, brass instrument and french horn. A loud, mid-pitched,
    bright, tonal, sustained sound with steady onsets and a sharp attack.

Tag logits. The tagger's per-patch logits are max-pooled over each clip's
patches (:mod:`audiodissect.evidence.tag_logits`: a silent patch would
otherwise swamp a mean with extreme logits, and espeak speech would read
"silence"). With a ``cache_dir`` (the pipeline passes the run's cache
folder), the logits of the reference set come from, or go to, the same
per-run files the tag bridge reads, so the tagger runs once per run; clips
of the reference set are then described from those rows without running the
tagger again.

Which tags. Raw tag probabilities on music are dominated by tags that are on
for every clip ("Music", "Musical instrument"), so tags are ranked by how
*distinctive* they are for the clip: its logit z-scored against a reference
set of clips. Only tags among the clip's ``pool`` most probable ones are
candidates (a tag far less unlikely than usual is still unlikely), and only
those with a positive z-score are said; at most ``top_k``.

The reference set. By default it is the batch given to :meth:`describe`; the
pipeline should call :meth:`calibrate` with the whole probing set first (or
describe it in one batch), and descriptions then depend on that set: the
same clip can be described differently within another set. A batch of fewer
than ``min_reference`` clips with no calibration is ranked by raw logits.
Calibration changes :attr:`name`, so cached descriptions of different
references are not mixed.

Confidences are kept out of the text (a text embedder would read "0.93" as
a word); :meth:`describe_records` returns them in a side record with the
descriptor values.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..cache import hash_array
from ..descriptors import descriptor_sentence, descriptor_words, measure_many
from ..errors import AudioDissectError, unknown_name_error
from ..evidence.tag_logits import POOLINGS, cached_tag_logits, tag_logits
from ..progress import ProgressHook

log = logging.getLogger(__name__)

#: Patch pooling of the captioner (see :mod:`audiodissect.evidence.tag_logits`).
CAPTION_POOLING = "max"
#: Version of the descriptions' wording, part of the captioner's name (which keys the description cache), so
#: that descriptions cached with an earlier wording are written again. 2: "an irregular rhythm", no "tonal" for
#: an unpitched clip, no "etc." among the tags.
WORDING = 2


#: Parts of a tag name that name nothing ("Bee, wasp, etc.").
_FILLERS = frozenset({"etc", "etc.", "and so on"})


def _top_level_parts(name: str) -> list[str]:
    """`name` split at its commas outside parentheses: "Roaring cats (lions, tigers)" stays one part."""
    parts, depth, current = [], 0, ""
    for char in name:
        depth += (char == "(") - (char == ")")
        if char == "," and depth <= 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in parts + [current] if p.strip()]


def tag_phrase(name: str) -> str:
    """An AudioSet display name as words: "Marimba, xylophone" -> "marimba or xylophone",
    "Bee, wasp, etc." -> "bee or wasp" (a trailing "etc." names nothing)."""
    parts = [p for p in _top_level_parts(name) if p.lower() not in _FILLERS]
    words = " or ".join(parts) if parts else name.strip()
    # keep acronyms and proper names as they are, lower-case ordinary capitalised words
    return " ".join(w if (w.isupper() and len(w) > 1) else w.lower() for w in words.split())


def join_words(items: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def distinctive_tags(logits: np.ndarray, *, mean: np.ndarray | None, std: np.ndarray | None,
                     top_k: int = 3, pool: int = 10) -> list[list[tuple[int, float]]]:
    """Each clip's most distinctive tags.

    Parameters
    ----------
    logits : np.ndarray, shape (B, T)
    mean, std : np.ndarray, shape (T,), or None
        Reference statistics of the logits; None ranks by raw logit.
    top_k : int
        At most this many tags per clip.
    pool : int
        Candidates are the clip's `pool` highest-logit tags.

    Returns
    -------
    list (length B) of lists of (tag index, score)
        Score = z-score against the reference (or the raw logit), best first;
        with a reference, only tags with a positive z-score.
    """
    logits = np.asarray(logits, dtype=np.float64)
    pool = min(max(pool, top_k), logits.shape[1])
    candidates = np.argsort(-logits, axis=1, kind="stable")[:, :pool]            # (B, pool)
    if mean is None or std is None:
        scores = logits
    else:
        scores = (logits - mean) / np.where(std > 1e-8, std, np.inf)
    cand_scores = np.take_along_axis(scores, candidates, axis=1)
    order = np.argsort(-cand_scores, axis=1, kind="stable")[:, :top_k]
    picked = np.take_along_axis(candidates, order, axis=1)
    picked_scores = np.take_along_axis(cand_scores, order, axis=1)
    out = []
    for tags, vals in zip(picked, picked_scores):
        keep = [(int(t), float(v)) for t, v in zip(tags, vals) if mean is None or v > 0]
        out.append(keep)
    return out


class TagsDescriptorsCaptioner:
    """Descriptions from a tagger's distinctive tags and acoustic descriptors.

    Parameters
    ----------
    tagger : Target, optional
        A model with ``name``, ``class_names``, ``sample_rate`` and
        ``logits(waveforms) -> (B, T)``; loaded from `tagger_name` on first use when None.
    tagger_name : str
    top_k, pool : int
        See :func:`distinctive_tags`.
    min_reference : int
        Smallest uncalibrated batch that is z-scored against itself.
    pooling : {"max", "mean", "mean-prob"}
        How per-patch logits become clip logits
        (:func:`audiodissect.evidence.tag_logits.pool_patches`).
    cache_dir : path-like, optional
        Where :meth:`calibrate` keeps the reference clips' logits (shared with
        the tag bridge); None keeps them in memory only.
    batch_size : int
        Clips per tagger forward pass.
    """

    def __init__(self, tagger: Any = None, *, tagger_name: str = "yamnet", top_k: int = 3, pool: int = 10,
                 min_reference: int = 8, pooling: str = CAPTION_POOLING, cache_dir: Any = None,
                 batch_size: int = 16, hook: ProgressHook | None = None):
        if pooling not in POOLINGS:
            raise unknown_name_error("patch pooling", pooling, POOLINGS)
        self._tagger = tagger
        self.pooling = pooling
        self.cache_dir = cache_dir
        self.tagger_name = getattr(tagger, "name", None) or tagger_name
        self.top_k = int(top_k)
        self.pool = int(pool)
        self.min_reference = int(min_reference)
        self.batch_size = int(batch_size)
        self.hook = hook
        self._mean: np.ndarray | None = None
        self._std: np.ndarray | None = None
        self._reference_key: str | None = None
        self._reference_rows: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        base = f"tags+descriptors:w{WORDING}:{self.tagger_name}:k{self.top_k}p{self.pool}:{self.pooling}"
        return base + (f"@{self._reference_key}" if self._reference_key else "")

    @property
    def tagger(self) -> Any:
        if self._tagger is None:
            from ..targets import load_target

            self._tagger = load_target(self.tagger_name)
        return self._tagger

    def _audio(self, clips: Sequence[Any]) -> list[np.ndarray]:
        from ..audio import resample

        rate = int(self.tagger.sample_rate)
        return [resample(np.asarray(c.audio, dtype=np.float32).reshape(-1), int(c.sample_rate), rate)
                for c in clips]

    def _logits(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        return tag_logits(self.tagger, waves, pooling=self.pooling, batch_size=self.batch_size, hook=self.hook)

    def calibrate(self, clips: Sequence[Any]) -> None:
        """Use `clips` (normally the whole probing set) as the reference for z-scores.

        Their logits are kept (in :attr:`cache_dir` too, when set), and clips
        of the reference are later described from them without another pass
        of the tagger.

        Parameters
        ----------
        clips : sequence of clips (``id``, ``audio``, ``sample_rate``), at least 2, unique ids
        """
        if len(clips) < 2:
            raise AudioDissectError("calibrating the tags needs at least 2 clips")
        rate = int(self.tagger.sample_rate)
        logits = cached_tag_logits(self.tagger, [_AtRate(c, rate) for c in clips], cache_dir=self.cache_dir,
                                   tagger_name=self.tagger_name, pooling=self.pooling,
                                   batch_size=self.batch_size, hook=self.hook)
        self.calibrate_logits(logits, ids=[c.id for c in clips])

    def calibrate_logits(self, logits: np.ndarray, *, ids: Sequence[str] | None = None) -> None:
        """Use precomputed reference logits (M, T) for z-scores.

        Parameters
        ----------
        logits : np.ndarray, shape (M, T)
        ids : sequence of str, length M, optional
            The clip ids of the rows; clips with these ids are then described
            from their rows here instead of by the tagger.
        """
        logits = np.asarray(logits, dtype=np.float64)
        if ids is not None and len(ids) != len(logits):
            raise AudioDissectError(f"{len(ids)} ids for {len(logits)} rows of reference logits")
        self._mean, self._std = logits.mean(axis=0), logits.std(axis=0)
        self._reference_key = hash_array(logits.astype(np.float32))[:8]
        self._reference_rows = {str(i): row for i, row in zip(ids, logits)} if ids is not None else {}

    def _clip_logits(self, clips: Sequence[Any], waves: Sequence[np.ndarray]) -> np.ndarray:
        """Logits (B, T) of `clips`: reference rows where known, the tagger for the rest."""
        known = [self._reference_rows.get(str(getattr(c, "id", ""))) for c in clips]
        todo = [i for i, row in enumerate(known) if row is None]
        fresh = self._logits([waves[i] for i in todo]) if todo else None
        rows = list(known)
        for j, i in enumerate(todo):
            rows[i] = fresh[j]
        return np.stack(rows).astype(np.float64)

    def describe_records(self, clips: Sequence[Any]) -> list[dict[str, Any]]:
        """Descriptions with their side records.

        Returns
        -------
        list of dict
            Per clip: ``id``, ``text``, ``tags`` (list of ``{"name", "z" or "logit",
            "probability"}``, best first), ``descriptors`` (numbers) and ``words``.
        """
        if len(clips) == 0:
            return []
        waves = self._audio(clips)
        logits = self._clip_logits(clips, waves)
        mean, std = self._mean, self._std
        if mean is None:
            if len(clips) >= self.min_reference:
                mean, std = logits.mean(axis=0), logits.std(axis=0)
            else:
                log.warning("%d clips and no calibration: tags ranked by raw logits", len(clips))
        picked = distinctive_tags(logits, mean=mean, std=std, top_k=self.top_k, pool=self.pool)
        names = self.tagger.class_names
        rate = int(self.tagger.sample_rate)
        records = []
        for clip, d, row, tags in zip(clips, measure_many(waves, rate), logits, picked):
            phrases = list(dict.fromkeys(tag_phrase(names[t]) for t, _ in tags))
            first = f"Sounds of {join_words(phrases)}. " if phrases else ""
            text = first + descriptor_sentence(d)
            key = "logit" if mean is None else "z"
            records.append({
                "id": clip.id, "text": text,
                "tags": [{"name": names[t], key: round(s, 3),
                          "probability": round(float(1 / (1 + np.exp(-row[t]))), 4)} for t, s in tags],
                "descriptors": d.to_record(), "words": descriptor_words(d),
            })
        return records

    def describe(self, clips: Sequence[Any]) -> list[str]:
        """One description per clip, in order (see the module docstring)."""
        return [r["text"] for r in self.describe_records(clips)]


class _AtRate:
    """A clip seen at `rate`: its ``id`` and its audio resampled on access."""

    def __init__(self, clip: Any, rate: int):
        self.id = clip.id
        self._clip = clip
        self._rate = int(rate)

    @property
    def audio(self) -> np.ndarray:
        from ..audio import resample

        c = self._clip
        return resample(np.asarray(c.audio, dtype=np.float32).reshape(-1), int(c.sample_rate), self._rate)
