"""The tag bridge: audio-text evidence from a sound tagger and a sentence embedder.

No CLAP model runs offline, so the offline default of TAB evidence bridges
two models that do: a tagger (YAMNet: clip logits over the 521 AudioSet
classes) tells what each clip sounds like in its own fixed vocabulary, and a
sentence embedder maps every concept onto that vocabulary by name.

How a concept is mapped onto tags (the ``"softmax-rank"`` variant, the default)
-------------------------------------------------------------------------------
0. **Clip logits**: the mean of the tagger's per-patch logits (``pooling``;
   see :mod:`audiodissect.evidence.tag_logits`), from a per-run cache shared
   with the tags+descriptors captioner.
1. **Tag scores, relative to the probing set.** Each tag's logits are ranked
   over the clips and the ranks mapped to standard normal quantiles
   (rank-Gaussianised): score[i, t] = Phi^-1((rank_i - 0.5) / N). Raw
   probabilities are dominated by always-on tags ("Music", "Musical
   instrument" fire on every music clip); relative to the set, a tag counts
   only where it is *higher than usual*, which is what tells clips apart.
   Ranks rather than z-scores because YAMNet gives unrelated classes logits
   down to about -300: that tail inflates a z-score's standard deviation and,
   once cubed by cos3, dominates the evidence column.
2. **Name similarity.** Concepts and tag names are embedded in the template
   "This is a sound of {x}." and compared by cosine, giving S (C x T). The
   score stage's explanation texts (summaries, open concepts, top-1 labels)
   are embedded as they are, in no template (:data:`EXPLANATION_TEMPLATE`),
   against the same templated tag names: see :class:`TagBridge`.
3. **Close tags only.** A concept keeps the tags whose similarity is within
   ``margin`` (0.1) of its best tag; every other tag gets weight 0. A concept
   that *is* a tag name ("trumpet" -> "Trumpet", similarity 1.0) then keeps
   that tag alone, and a concept between several tags ("dog bark" -> "Bark",
   "Dog", "Bow-wow") spreads over them.
4. **Softmax weights** over the kept tags, w = softmax(S / temperature) with
   temperature 0.05, so that closer names count more.
5. **Evidence** = score @ w.T, an (N x C) matrix: the weighted mean of the
   concept's close tags' scores.

Nothing here reads the probing set's labels or the model being dissected.
The other variants are kept for comparison: ``"softmax"`` (the same on
z-scored logits), ``"best1"`` and ``"best1-rank"`` (each concept's single
closest tag), ``"top3"`` (mean of the three closest) and ``"spread"`` (every
tag's probability spread over every concept by similarity).
``bench/tag_bridge.py`` measures every variant under every patch pooling on
the soundbank (17 labels, 1,598 probe clips) by clip-level top-1, by the
last-layer bound (a perfect classifier's one-hot outputs dissected) and by
the demo CNN's last-layer accuracy; ``bench/results/tag_bridge.md`` holds the
figures and the reasons for each default.

Evidence from a tagger is *circular* when the tagger is the model being
dissected: its last layer then explains itself. :func:`audiodissect.evidence.is_circular` says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import AudioDissectError, unknown_name_error
from ..progress import ProgressHook
from .tag_logits import POOLINGS, cached_tag_logits, tag_logits

TEMPLATE = "This is a sound of {}."
#: The template of the score stage's explanation texts (:meth:`TagBridge.explanation_evidence_from_logits`):
#: none, so that the description predictor's embedding of each text is the one the tag bridge reads
#: (``bench/score_template.py`` measures the scores both ways on the default run).
EXPLANATION_TEMPLATE = "{}"
DEFAULT_VARIANT = "softmax-rank"
DEFAULT_TAGGER = "yamnet"
#: Patch pooling of the tag bridge (see :mod:`audiodissect.evidence.tag_logits`).
TAB_POOLING = "mean"


@dataclasses.dataclass(frozen=True)
class BridgeVariant:
    """How tag logits and name similarities combine into evidence.

    Attributes
    ----------
    name : str
    scores : {"z", "rank", "prob"}
        Tag scores per clip: logits z-scored across clips, their ranks mapped to
        normal quantiles, or raw sigmoid probabilities.
    select : {"all", "top", "margin"}
        Which tags a concept uses: all of them, its ``k`` most similar, or
        those within ``margin`` of its most similar.
    k : int
    margin : float
    temperature : float or None
        Softmax temperature over the selected tags' similarities; None uses
        the raw similarities as weights (``"spread"``), 0 weighs the selected
        tags equally.
    """

    name: str
    scores: str = "z"
    select: str = "margin"
    k: int = 1
    margin: float = 0.1
    temperature: float | None = 0.05


VARIANTS = {
    v.name: v for v in (
        BridgeVariant("softmax"),
        BridgeVariant("softmax-rank", scores="rank"),
        BridgeVariant("best1", select="top", k=1, temperature=0.0),
        BridgeVariant("best1-rank", scores="rank", select="top", k=1, temperature=0.0),
        BridgeVariant("top3", select="top", k=3, temperature=0.0),
        BridgeVariant("spread", scores="prob", select="all", temperature=None),
    )
}


def get_variant(name: str) -> BridgeVariant:
    """The :class:`BridgeVariant` called `name` (an unknown name lists the closest)."""
    if name not in VARIANTS:
        raise unknown_name_error("tag-bridge variant", name, VARIANTS)
    return VARIANTS[name]


def name_similarity(concepts: Sequence[str], tag_names: Sequence[str], embedder: Any, *,
                    template: str = TEMPLATE, concept_template: str | None = None) -> np.ndarray:
    """Cosine similarity of concept and tag names in `template`, shape (C, T), float64.

    Parameters
    ----------
    concepts : sequence of str, length C
    tag_names : sequence of str, length T
    embedder : object with ``encode(texts) -> (n, d)`` unit-norm rows
    template : str
        With one ``{}`` for the name.
    concept_template : str, optional
        The concepts' template when it is not `template` (``"{}"``: the concepts as they are).
    """
    concept_template = template if concept_template is None else concept_template
    c = np.asarray(embedder.encode([concept_template.format(x) for x in concepts]), dtype=np.float64)
    t = np.asarray(embedder.encode([template.format(x) for x in tag_names]), dtype=np.float64)
    return c @ t.T


def tag_scores(logits: np.ndarray, *, kind: str = "z") -> np.ndarray:
    """Per-clip tag scores from logits (N, T) -> (N, T) float64.

    ``"z"``: each tag standardised over the clips (a tag constant over the set
    scores 0); ``"rank"``: each tag's ranks over the clips mapped to standard
    normal quantiles; ``"prob"``: sigmoid probabilities.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise AudioDissectError(f"tag logits must be (N, T) with N >= 1, got shape {logits.shape}")
    if kind == "prob":
        return 1.0 / (1.0 + np.exp(-logits))
    if kind == "z":
        std = logits.std(axis=0)
        return (logits - logits.mean(axis=0)) / np.where(std > 1e-8, std, np.inf)
    if kind == "rank":
        from scipy.special import ndtri
        from scipy.stats import rankdata

        n = logits.shape[0]
        return ndtri((rankdata(logits, axis=0) - 0.5) / n)
    raise unknown_name_error("tag score kind", kind, ("z", "rank", "prob"))


def concept_tag_weights(similarity: np.ndarray, variant: BridgeVariant) -> np.ndarray:
    """Weights of each concept over the tags, (C, T) -> (C, T) float64.

    Rows sum to 1 except for ``temperature=None``, where the weights are the
    similarities themselves.
    """
    s = np.asarray(similarity, dtype=np.float64)
    if variant.select == "all":
        keep = np.ones_like(s, dtype=bool)
    elif variant.select == "top":
        k = min(max(variant.k, 1), s.shape[1])
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        keep = np.zeros_like(s, dtype=bool)
        np.put_along_axis(keep, order, True, axis=1)
    elif variant.select == "margin":
        keep = s >= s.max(axis=1, keepdims=True) - variant.margin
    else:
        raise unknown_name_error("tag selection", variant.select, ("all", "top", "margin"))
    if variant.temperature is None:
        return np.where(keep, s, 0.0)
    if variant.temperature == 0:
        w = keep.astype(np.float64)
    else:
        logits = np.where(keep, s / variant.temperature, -np.inf)
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


def bridge_evidence(logits: np.ndarray, similarity: np.ndarray, *,
                    variant: BridgeVariant | str = DEFAULT_VARIANT) -> np.ndarray:
    """Clip-concept evidence from tag logits and concept-tag name similarity.

    Parameters
    ----------
    logits : np.ndarray, shape (N, T)
        The tagger's clip logits over the probing set.
    similarity : np.ndarray, shape (C, T)
        From :func:`name_similarity`.
    variant : BridgeVariant or str

    Returns
    -------
    np.ndarray, shape (N, C), float32
    """
    variant = get_variant(variant) if isinstance(variant, str) else variant
    logits = np.asarray(logits)
    similarity = np.asarray(similarity)
    if logits.ndim != 2 or similarity.ndim != 2 or logits.shape[1] != similarity.shape[1]:
        raise AudioDissectError(f"logits {logits.shape} and similarity {similarity.shape} "
                                "must share the tag axis")
    scores = tag_scores(logits, kind=variant.scores)
    return (scores @ concept_tag_weights(similarity, variant).T).astype(np.float32)


class TagBridge:
    """TAB evidence from a tagger's logits and concept-to-tag name similarity.

    Parameters
    ----------
    tagger : Target, optional
        A model with ``class_names``, ``sample_rate`` and ``logits(waveforms)``;
        loaded from `tagger_name` on first use when None.
    tagger_name : str
        Spec of the tagger (``"yamnet"``), used to load it and to detect circularity.
    embedder : str or text embedder
        ``"minilm"`` or an object with ``encode``.
    variant : str
        A key of :data:`VARIANTS`.
    template : str
        Where concept and tag names are embedded for their name similarity
        (with one ``{}`` for the name): the concepts of :meth:`evidence`, as
        the identify stage asks for them, and the tagger's class names.
    explanation_template : str
        Where the score stage's explanation texts are embedded instead
        (:meth:`explanation_evidence_from_logits`, the audio-text predictor);
        the tag names stay in `template`. The default, :data:`EXPLANATION_TEMPLATE`
        (``"{}"``: the texts as they are), is the embedding the description
        predictor computes for the same texts, so each explanation is embedded
        once per run, not twice. On the default run it scores as the templated
        texts did, within the intervals (``bench/score_template.py``;
        figures in docs/measured.md); ``TEMPLATE`` gives the former scores.
    pooling : {"max", "mean", "mean-prob"}
        How the tagger's per-patch logits become clip logits
        (:func:`audiodissect.evidence.tag_logits.pool_patches`).
    cache_dir : path-like, optional
        Where the clip logits of a probing set are kept
        (:func:`~audiodissect.evidence.tag_logits.cached_tag_logits`); the
        captioner reads the same file. :func:`compute_evidence` sets it to its
        own cache folder when it is None.
    batch_size : int
        Clips per tagger forward pass.
    """

    def __init__(self, tagger: Any = None, *, tagger_name: str = DEFAULT_TAGGER, embedder: Any = "minilm",
                 variant: str = DEFAULT_VARIANT, template: str = TEMPLATE,
                 explanation_template: str = EXPLANATION_TEMPLATE, pooling: str = TAB_POOLING,
                 cache_dir: Any = None, batch_size: int = 16, hook: ProgressHook | None = None):
        if pooling not in POOLINGS:
            raise unknown_name_error("patch pooling", pooling, POOLINGS)
        self.variant = get_variant(variant)
        self.pooling = pooling
        self.cache_dir = cache_dir
        self._tagger = tagger
        self.tagger_name = getattr(tagger, "name", None) or tagger_name
        self._embedder = embedder
        self.template = template
        self.explanation_template = explanation_template
        self.batch_size = batch_size
        self.hook = hook
        self.name = f"tag-bridge:{self.tagger_name}"

    @property
    def tagger(self) -> Any:
        if self._tagger is None:
            from ..targets import load_target

            self._tagger = load_target(self.tagger_name)
        return self._tagger

    @property
    def embedder(self) -> Any:
        if isinstance(self._embedder, str):
            from ..text_embedder import load_text_embedder

            self._embedder = load_text_embedder(self._embedder)
        return self._embedder

    @property
    def sample_rate(self) -> int:
        return int(self.tagger.sample_rate)

    def settings(self) -> dict[str, Any]:
        """What the evidence depends on besides the clips and concepts (for cache keys)."""
        return {"backend": "tag-bridge", "tagger": self.tagger_name, "variant": dataclasses.asdict(self.variant),
                "pooling": self.pooling, "template": self.template,
                "embedder": getattr(self._embedder, "name", self._embedder)}

    def tag_logits(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """The tagger's pooled clip logits, (N,) waveforms at :attr:`sample_rate` -> (N, T) float32."""
        return tag_logits(self.tagger, waveforms, pooling=self.pooling, batch_size=self.batch_size, hook=self.hook)

    def probe_logits(self, probe: Any) -> np.ndarray:
        """Pooled clip logits of every clip of a probing set, (N, T) float32, through the shared cache."""
        from ..probes.clip_audio import probe_clips

        return cached_tag_logits(self.tagger, probe_clips(probe, sample_rate=self.sample_rate),
                                 cache_dir=self.cache_dir, tagger_name=self.tagger_name, pooling=self.pooling,
                                 batch_size=self.batch_size, hook=self.hook)

    def evidence_from_logits(self, logits: np.ndarray, concepts: Sequence[str]) -> np.ndarray:
        """Evidence (N, C) float32 from precomputed tag logits (N, T)."""
        return self._evidence(logits, concepts, self.template)

    def explanation_evidence_from_logits(self, logits: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Evidence (N, len(texts)) float32 of explanation texts, from precomputed tag logits (N, T).

        As :meth:`evidence_from_logits`, with the texts in :attr:`explanation_template`
        (as they are, by default) and the tag names in :attr:`template`.
        """
        return self._evidence(logits, texts, self.explanation_template)

    def _evidence(self, logits: np.ndarray, texts: Sequence[str], text_template: str) -> np.ndarray:
        names = self.tagger.class_names
        if not names:
            raise AudioDissectError(f"tagger {self.tagger_name!r} has no class names to bridge concepts to")
        similarity = name_similarity(texts, names, self.embedder, template=self.template,
                                     concept_template=text_template)
        return bridge_evidence(logits, similarity, variant=self.variant)

    def evidence(self, probe_or_waveforms: Any, concepts: Sequence[str], *,
                 sample_rate: int | None = None) -> np.ndarray:
        """Clip-concept evidence, shape (N, C), float32.

        Parameters
        ----------
        probe_or_waveforms : ProbeSet or sequence of np.ndarray (T_i,)
            Waveforms are taken to be at `sample_rate` (default: the tagger's).
        concepts : sequence of str
        sample_rate : int, optional
        """
        if hasattr(probe_or_waveforms, "clips") and hasattr(probe_or_waveforms, "audio"):
            return self.evidence_from_logits(self.probe_logits(probe_or_waveforms), concepts)
        from .waveforms import waveforms_at

        waves = waveforms_at(probe_or_waveforms, self.sample_rate, sample_rate=sample_rate)
        return self.evidence_from_logits(self.tag_logits(waves), concepts)
