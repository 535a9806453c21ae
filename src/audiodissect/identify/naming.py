"""One answer per unit: its name, or "unexplained", with the evidence for it and how sure it is.

A unit's closed-set concepts come from several evidence sources (TAB, DB,
the probe's labels) and similarity functions; :func:`name_units` turns them
into one :class:`~audiodissect.records.UnitName` per unit by a stated rule:

1. For each evidence source (``method``), score the unit against every
   concept with one similarity function (``identify.name_similarity``; the
   concepts the source has no evidence for are left out) and take the best.
2. Test that best score against a **permutation null**: the same scores with
   the clips' evidence rows shuffled (``identify.permutations`` times, the
   same permutations for every unit), the best over concepts each time. The
   p-value is ``(1 + #{null >= observed}) / (1 + permutations)``; the
   p-values of a layer's units are adjusted by Benjamini-Hochberg (false
   discovery rate ``identify.alpha`` per layer and source).
3. ``z`` is the best score's distance from the null's mean, in units of the
   null's standard deviation: an effect size the p-value (resolved only to
   ``1 / (1 + permutations)``) cannot give. The **margin** says whether the
   best concept beats the runner-up by more than chance: for the robust
   ``cos`` (a Pearson correlation) it is Williams' t statistic for two
   correlations that share the unit (Steiger 1980), which accounts for how
   alike the two concepts' evidence is; for the other functions, the gap
   between the two scores in null standard deviations.
4. Among the sources whose best concept is significant, the one with the
   largest ``z`` names the unit. The name is **confident** when its ``z`` is
   at least ``identify.min_z``, its margin at least ``identify.min_margin``
   and no other significant source contradicts it, by preferring its own
   best concept to the name by at least that margin (a source without
   evidence for the name cannot contradict it); a significant name short of
   any of these is **ambiguous** (a weak effect, a runner-up about as good,
   or sources that disagree: the runner-up is then the contradicting
   source's concept); a unit no source explains significantly is
   **unexplained** (its ``name`` is None).

Permuting clips keeps each column's distribution, so the null answers "could
a unit that has nothing to do with these concepts score this high?" for the
unit's own activation distribution: a sparse unit, whose correlations scatter
widely by chance, needs a larger score than a dense one.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..arrays import block_size, column_blocks
from ..errors import AudioDissectError
from ..records import UnitName, unit_id

if TYPE_CHECKING:  # torch is imported where units are tested, not for the settings a stage's key reads
    import torch

#: Similarity functions whose score of a concept depends on that concept's evidence column alone, so that
#: many evidence matrices (every source, its permuted copies) side by side are scored in one call, the units'
#: side (their centred columns, top clips or ranks) computed once. (A matrix product's rounding may depend on
#: its width: cos and cos3 can differ from one call per matrix in the last bit of float32.)
COLUMNWISE = ("cos", "cos3", "rank_reorder")
#: Unit statuses.
NAMED, AMBIGUOUS, UNEXPLAINED = "named", "ambiguous", "unexplained"


@dataclasses.dataclass(frozen=True)
class NamingSettings:
    """How units are named (see the module docstring).

    Attributes
    ----------
    similarity : str
        One of :data:`COLUMNWISE`, or any similarity function (slower: one pass per permutation).
    variant : {"robust", "paper"}
    permutations : int
        Shuffles of the clips' evidence per layer and source.
    alpha : float
        False discovery rate per layer and source (Benjamini-Hochberg).
    min_z : float
        Best score's distance from the null's mean, in null standard deviations, for a confident name.
    min_margin : float
        The margin over the runner-up (a t statistic for the robust cos) a confident name needs.
    seed : int
    """

    similarity: str = "cos"
    variant: str = "robust"
    permutations: int = 99
    alpha: float = 0.05
    min_z: float = 3.0
    min_margin: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.permutations < 1:
            raise AudioDissectError(f"permutations must be at least 1, got {self.permutations}")
        if not 0 < self.alpha < 1:
            raise AudioDissectError(f"alpha must lie in (0, 1), got {self.alpha}")

    @property
    def robust_cos(self) -> bool:
        """Whether names are scored by the robust cos (a correlation: Williams' t for margins, and the
        shortcuts that compute its scores, or its winners, faster)."""
        return self.similarity == "cos" and self.variant == "robust"


@dataclasses.dataclass(frozen=True)
class SourceTest:
    """One evidence source's best concept for every unit of a layer, tested against the permutation null.

    Attributes
    ----------
    best, runner_up : np.ndarray of int, shape (U,)
        Concept indices (-1 when the source scores no concept).
    score, z, margin, p_value, q_value : np.ndarray of float, shape (U,)
    scores : np.ndarray, shape (U, C)
        Every concept's score (-inf for the concepts the source has no evidence for).
    null_sd : np.ndarray, shape (U,)
        The permutation null's standard deviation (NaN when it is 0).
    pearson : np.ndarray, shape (C, C), or None
        The concepts' correlations, when the scores are correlations (the robust cos).
    clips : int
    """

    best: np.ndarray
    runner_up: np.ndarray
    score: np.ndarray
    z: np.ndarray
    margin: np.ndarray
    p_value: np.ndarray
    q_value: np.ndarray
    scores: np.ndarray
    null_sd: np.ndarray
    pearson: np.ndarray | None
    clips: int

    def prefers(self, better: np.ndarray, worse: np.ndarray) -> np.ndarray:
        """How clearly this source scores concept ``better[u]`` above ``worse[u]`` for each unit u: Williams' t
        for correlations, else the gap in null standard deviations (0: no opinion, when the source has no
        evidence for one of them or either index is -1).

        Parameters
        ----------
        better, worse : np.ndarray of int, shape (U,)

        Returns
        -------
        np.ndarray of float, shape (U,)
        """
        rows = np.arange(len(better))
        known = (better >= 0) & (worse >= 0)
        a = self.scores[rows, np.where(known, better, 0)]
        b = self.scores[rows, np.where(known, worse, 0)]
        ok = known & np.isfinite(a) & np.isfinite(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.pearson is not None:
                t = williams_t(a, b, self.pearson[np.where(known, better, 0), np.where(known, worse, 0)], self.clips)
            else:
                t = (a - b) / self.null_sd
        return np.where(ok, t, 0.0)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), shape of `p` (M,); NaN stays NaN."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


def williams_t(r1: np.ndarray, r2: np.ndarray, r12: np.ndarray, n: int) -> np.ndarray:
    """Williams' t statistic that correlation `r1` exceeds `r2` when both share one variable (Steiger 1980).

    Parameters
    ----------
    r1, r2 : np.ndarray, shape (M,)
        Correlations of a unit with two concepts' evidence.
    r12 : np.ndarray, shape (M,)
        Correlation between the two concepts' evidence.
    n : int
        Clips.

    Returns
    -------
    np.ndarray, shape (M,)
        t with n - 3 degrees of freedom; larger means `r1` is more clearly the larger.
    """
    r1, r2, r12 = (np.asarray(x, dtype=np.float64) for x in (r1, r2, r12))
    det = 1 - r1 ** 2 - r2 ** 2 - r12 ** 2 + 2 * r1 * r2 * r12
    mean = (r1 + r2) / 2
    denominator = 2 * (n - 1) / (n - 3) * det + mean ** 2 * (1 - r12) ** 3
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (r1 - r2) * np.sqrt((n - 1) * (1 + r12) / np.maximum(denominator, 1e-12))
    return np.where(np.isfinite(t), t, np.inf)


class _CorrelationOfUpperHalf:
    """The robust cos, ``(N, C) evidence, (N, U) activations -> (U, C)``, with each evidence matrix's
    normalised columns kept: a permutation of rows keeps a column's mean and norm, so the shuffled
    copies of one matrix are normalised once, not once per call.

    The scores are :func:`~audiodissect.similarity.cos.cos_robust`'s to the bit: products summed in float64
    (:func:`~audiodissect.similarity._inputs.column_products`), rounded to float32. A float32 product's last
    bits depend on how many threads computed it, which a layer named alone or beside others changes.
    """

    def __init__(self) -> None:
        self._cache: dict[int, tuple[np.ndarray, torch.Tensor]] = {}
        self._lock = threading.Lock()  # layers are named on several threads at once

    def columns(self, evidence: np.ndarray) -> torch.Tensor:
        """The unit columns of `evidence` (N, C), normalised in float32 as cos_robust does, held in float64."""
        key = id(evidence)
        with self._lock:
            if key not in self._cache or self._cache[key][0] is not evidence:
                import torch

                from ..similarity._ranks import unit_columns

                if len(self._cache) >= 2:  # a run's joint sources (and a single source's); older ones are done with
                    self._cache.clear()
                columns = unit_columns(torch.from_numpy(np.ascontiguousarray(evidence, dtype=np.float32)))
                self._cache[key] = (evidence, columns.to(torch.float64))
            return self._cache[key][1]

    def __call__(self, evidence: np.ndarray, activations: np.ndarray) -> torch.Tensor:
        import torch

        from ..similarity._inputs import column_products
        from ..similarity._ranks import unit_columns, upper_half

        a = unit_columns(upper_half(torch.from_numpy(np.ascontiguousarray(activations, dtype=np.float32))))
        return column_products(a, self.columns(evidence)).to(torch.float32)


_correlation_of_upper_half = _CorrelationOfUpperHalf()


def null_permutations(n: int, permutations: int, seed: int) -> np.ndarray:
    """The permutation null's row orders: shape (permutations, n), int; the same for every evidence source."""
    rng = np.random.default_rng(seed)
    return np.array([rng.permutation(n) for _ in range(permutations)], dtype=np.int64).reshape(permutations, n)


#: The most bytes the whole null (every source's evidence and shuffled copies, in float32 and normalised in
#: float64) may take to be made once for every layer; a larger one is made a few copies at a time per block
#: of units, each chunk at most :data:`NULL_CHUNK_BYTES`.
NULL_BYTES = 512 << 20
NULL_CHUNK_BYTES = 64 << 20
#: The most bytes of a block of units' scores against the copies scored at once (float64 and float32): it
#: sets the units per block when the caller does not.
NULL_SCORES_BYTES = 256 << 20


@dataclasses.dataclass(frozen=True)
class NamingSources:
    """The evidence sources units are named by, prepared once for every layer (:func:`naming_sources`).

    Attributes
    ----------
    by_method : dict of method to (evidence, keep)
        Evidence (N, C) float32 and the concepts the source may name (C,) bool.
    permutations : np.ndarray, shape (B, N), int
        The null's row orders (:func:`null_permutations`), shared by every source.
    joint : np.ndarray or None, shape (N, sum over sources of C * (B + 1))
        :meth:`copies` of all of them (every source's evidence and shuffled copies side by side), made once
        when they fit :data:`NULL_BYTES`: a :data:`COLUMNWISE` similarity scores them in one call per block
        of units, their columns normalised once. None when larger: they are made
        :meth:`copies_per_chunk` at a time for each block of units.
    """

    by_method: dict[str, tuple[np.ndarray, np.ndarray]]
    permutations: np.ndarray
    joint: np.ndarray | None

    @classmethod
    def of(cls, by_method: Mapping[str, tuple[np.ndarray, np.ndarray]], permutations: np.ndarray, *,
           budget: int | None = None) -> NamingSources:
        """The sources, with :attr:`joint` made when every copy fits `budget` bytes (default :data:`NULL_BYTES`)."""
        sources = cls(dict(by_method), np.asarray(permutations, dtype=np.int64), None)
        budget = NULL_BYTES if budget is None else budget
        if sources.by_method and sources.column_bytes * (len(sources.permutations) + 1) <= budget:
            return dataclasses.replace(sources, joint=sources.copies(0, len(sources.permutations) + 1))
        return sources

    @property
    def width(self) -> int:
        """The columns of one copy of every source (the sum of their concept counts)."""
        return sum(ev.shape[1] for ev, _ in self.by_method.values())

    @property
    def column_bytes(self) -> int:
        """The bytes of one copy of every source's columns: float32 and a float64 normalised copy."""
        return 12 * self.permutations.shape[1] * self.width

    def copies_per_chunk(self, budget: int | None = None) -> int:
        """How many copies (the evidence, or one permutation of it) :meth:`copies` makes at a time to hold at
        most `budget` bytes (default :data:`NULL_CHUNK_BYTES`; at least 1)."""
        return max(1, (NULL_CHUNK_BYTES if budget is None else budget) // max(1, self.column_bytes))

    def copies(self, start: int, stop: int) -> np.ndarray:
        """Copies ``start .. stop - 1`` of every source's evidence (copy 0: as it is; copy ``k``: rows in the
        order of permutation ``k - 1``), per source its copies side by side: shape
        (N, sum over sources of C * (stop - start)), float32."""
        parts = [ev if k == 0 else ev[self.permutations[k - 1]]
                 for ev, _ in self.by_method.values() for k in range(start, stop)]
        return np.concatenate(parts, axis=1) if parts else np.zeros((0, 0), np.float32)


def test_source(evidence: np.ndarray, activations, *, keep: np.ndarray, settings: NamingSettings,
                block_units: int | None = None) -> SourceTest:
    """Test each unit's best concept under one evidence source against the permutation null.

    Parameters
    ----------
    evidence : np.ndarray, shape (N, C)
    activations : np.ndarray, np.memmap or RowSubset, shape (N, U)
        Read a block of units at a time, once.
    keep : np.ndarray of bool, shape (C,)
        The concepts the source has evidence for (the others are never best).
    settings : NamingSettings
    block_units : int, optional
        Units per block.

    Returns
    -------
    SourceTest
    """
    evidence = np.asarray(evidence, dtype=np.float32)
    permutations = null_permutations(evidence.shape[0], settings.permutations, settings.seed)
    return test_sources(NamingSources.of({"source": (evidence, keep)}, permutations), activations,
                        settings=settings, block_units=block_units)["source"]


def test_sources(sources: NamingSources, activations, *, settings: NamingSettings,
                 block_units: int | None = None) -> dict[str, SourceTest]:
    """:func:`test_source` for several sources from one pass over the activations.

    With a :data:`COLUMNWISE` similarity every source's evidence and shuffled copies are scored side by
    side in one call per block of units (or per chunk of copies, when they are too large to hold at once:
    :attr:`NamingSources.joint`), so the units' side of the score (their upper half, centred and
    normalised, for the robust cos) is computed once for all sources. Memory stays bounded by
    :data:`NULL_BYTES`, :data:`NULL_CHUNK_BYTES` and :data:`NULL_SCORES_BYTES` however many clips, concepts
    and permutations there are.

    Parameters
    ----------
    sources : NamingSources
        From :func:`naming_sources`.
    activations : np.ndarray, np.memmap or RowSubset, shape (N, U)
    settings : NamingSettings
    block_units : int, optional
        Units per block (default: as many as fit the activations' block size and :data:`NULL_SCORES_BYTES`).

    Returns
    -------
    dict of method to SourceTest
    """
    import torch

    from .. import similarity as sim

    fn = sim.get(settings.similarity, variant=settings.variant)
    if settings.robust_cos:
        fn = _correlation_of_upper_half  # the same scores; the evidence's normalisation is done once
    for evidence, keep in sources.by_method.values():
        if not keep.any():
            raise AudioDissectError("no concept has evidence to name units by")
    b = len(sources.permutations)
    units = activations.shape[1]
    stats = {method: _Statistics(evidence, keep, units, pearson=settings.robust_cos) for method, (evidence, keep)
             in sources.by_method.items()}
    columnwise = settings.similarity in COLUMNWISE and bool(sources.by_method)
    step = b + 1 if sources.joint is not None else sources.copies_per_chunk()
    if block_units is None and columnwise:  # each block's scores against a chunk of copies stay bounded too
        block_units = min(block_size(activations.shape[0]),
                          max(1, NULL_SCORES_BYTES // (12 * sources.width * min(step, b + 1))))
    for cols, block in column_blocks(activations, block_units=block_units):
        block = np.asarray(block, dtype=np.float32)
        observed, null_best = {}, {method: [] for method in sources.by_method}
        for start in range(0, b + 1, step) if columnwise else ():
            stop = min(start + step, b + 1)
            columns = sources.joint if sources.joint is not None else sources.copies(start, stop)
            scored = fn(columns, block).float()                                     # (m, sum of C * copies)
            offset = 0
            for method, (evidence, _) in sources.by_method.items():
                width = evidence.shape[1] * (stop - start)
                part = scored[:, offset:offset + width].reshape(block.shape[1], stop - start, -1)  # (m, copies, C)
                offset += width
                if start == 0:
                    observed[method], part = part[:, 0], part[:, 1:]
                null_best[method].append(stats[method].best_of(part))
        for method, (evidence, _) in sources.by_method.items() if not columnwise else ():
            observed[method] = fn(evidence, block).float()
            null_best[method] = [stats[method].best_of(
                torch.stack([fn(evidence[rows], block).float() for rows in sources.permutations], dim=1))]
        for method in sources.by_method:
            stats[method].add(cols, observed[method], torch.cat(null_best[method], dim=1))
    return {method: s.result() for method, s in stats.items()}


class _Statistics:
    """One source's test statistics, filled a block of units at a time (:meth:`add`), then :meth:`result`."""

    def __init__(self, evidence: np.ndarray, keep: np.ndarray, units: int, *, pearson: bool):
        import torch

        self.n, c = evidence.shape
        self.keep = keep
        # in permuted blocks the concepts without evidence must not win either
        self.masked = torch.from_numpy(np.where(keep, 0.0, -np.inf).astype(np.float32))
        self.best, self.runner = np.full(units, -1), np.full(units, -1)
        self.score, self.z, self.margin, self.p, self.null_sd = (np.full(units, np.nan) for _ in range(5))
        self.scores = np.full((units, c), -np.inf)
        self.pearson = None  # the concepts' correlations, for Williams' t when the scores are correlations
        if pearson:
            centred = evidence.astype(np.float64) - evidence.mean(axis=0, dtype=np.float64)
            norms = np.linalg.norm(centred, axis=0)
            unit = centred / np.where(norms > 0, norms, 1.0)
            self.pearson = unit.T @ unit

    def best_of(self, null: torch.Tensor) -> torch.Tensor:
        """Each permutation's best score (m, b) of the null's scores (m, b, C), among the concepts kept."""
        return (null + self.masked).amax(dim=2)

    def add(self, cols, observed: torch.Tensor, null_best: torch.Tensor) -> None:
        """The statistics of units `cols` from their scores (m, C) and the null's best (m, B) (:meth:`best_of`)."""
        import torch

        b = null_best.shape[1]
        observed = observed + self.masked
        null_best = null_best.numpy().astype(np.float64)                               # (m, B)
        top2 = torch.topk(observed, k=min(2, int(self.keep.sum())), dim=1)
        values, indices = top2.values.numpy().astype(np.float64), top2.indices.numpy()
        m = values.shape[0]
        mean, sd = null_best.mean(axis=1), null_best.std(axis=1, ddof=1) if b > 1 else np.ones(m)
        sd = np.where(sd > 0, sd, np.nan)
        self.null_sd[cols], self.scores[cols] = sd, observed.numpy()
        self.best[cols], self.score[cols] = indices[:, 0], values[:, 0]
        self.p[cols] = (1.0 + (null_best >= values[:, :1] - 1e-7).sum(axis=1)) / (1.0 + b)
        self.z[cols] = (values[:, 0] - mean) / sd
        if values.shape[1] > 1:
            self.runner[cols] = indices[:, 1]
            if self.pearson is not None:
                self.margin[cols] = williams_t(values[:, 0], values[:, 1],
                                               self.pearson[indices[:, 0], indices[:, 1]], self.n)
            else:
                self.margin[cols] = (values[:, 0] - values[:, 1]) / sd
        else:
            self.margin[cols] = np.inf

    def result(self) -> SourceTest:
        return SourceTest(best=self.best, runner_up=self.runner, score=self.score, z=self.z, margin=self.margin,
                          p_value=self.p, q_value=benjamini_hochberg(self.p), scores=self.scores,
                          null_sd=self.null_sd, pearson=self.pearson, clips=self.n)


def name_units(evidence: Mapping[str, np.ndarray], activations: Mapping[str, np.ndarray],
               concepts: Sequence[str], *, settings: NamingSettings = NamingSettings(),
               exclude: Mapping[str, Sequence[str]] | None = None) -> list[UnitName]:
    """One name (or "unexplained") per unit, by the rule of the module docstring.

    Parameters
    ----------
    evidence : mapping of method to np.ndarray, shape (N, C)
        Probe rows, in the activations' row order.
    activations : mapping of layer to np.ndarray, np.memmap or RowSubset, shape (N, U)
    concepts : sequence of str, length C
    settings : NamingSettings
    exclude : mapping of method to concepts, optional
        Concepts a source has no evidence for (:func:`audiodissect.evidence.no_evidence`).

    Returns
    -------
    list of UnitName
        Layers in the mapping's order, units ascending.

    Notes
    -----
    Layers are named side by side on threads (:func:`audiodissect.threads.thread_map`); each reads its
    activations a block of units at a time.
    """
    from ..threads import thread_map

    sources = naming_sources(evidence, concepts, settings=settings, exclude=exclude)
    layers = thread_map(lambda layer: name_layer(layer, activations[layer], sources, concepts, settings=settings),
                        list(activations))
    return [record for names in layers for record in names]


def naming_sources(evidence: Mapping[str, np.ndarray], concepts: Sequence[str], *,
                   settings: NamingSettings = NamingSettings(),
                   exclude: Mapping[str, Sequence[str]] | None = None) -> NamingSources:
    """The evidence sources with a concept to name, each with its shuffled copies, made once for every layer
    (:func:`name_layer`)."""
    sources = {}
    for method, ev in evidence.items():
        left_out = set((exclude or {}).get(method, ()))
        keep = np.array([concept not in left_out for concept in concepts], dtype=bool)
        if keep.any():
            sources[method] = (np.asarray(ev, dtype=np.float32), keep)
    clips = len(next(iter(sources.values()))[0]) if sources else 0
    return NamingSources.of(sources, null_permutations(clips, settings.permutations, settings.seed))


def name_layer(layer: str, activations, sources: NamingSources, concepts: Sequence[str], *,
               settings: NamingSettings = NamingSettings()) -> list[UnitName]:
    """The names of one layer's units (see :func:`name_units`), from :func:`naming_sources`.

    Parameters
    ----------
    layer : str
    activations : np.ndarray, np.memmap or RowSubset, shape (N, U)
    sources : NamingSources
        From :func:`naming_sources`.
    concepts : sequence of str, length C
    settings : NamingSettings

    Returns
    -------
    list of UnitName
        Units ascending.
    """
    tests = test_sources(sources, activations, settings=settings)
    return _layer_names(layer, activations.shape[1], tests, list(concepts), settings)


def _rounded(values: np.ndarray) -> np.ndarray:
    """`values` (M,) as a record stores them: float64 rounded to 6 decimals, NaN where not finite."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values.round(6), np.nan)


def _finite(values: np.ndarray) -> list[float | None]:
    """:func:`_rounded` `values` (M,) as Python floats, None where not finite."""
    return [None if v != v else v for v in _rounded(values).tolist()]


def _candidates(t: SourceTest, concepts: Sequence[str]) -> list[dict | None]:
    """Per unit, what source test `t` says (None where it scores no concept), as the records store it."""
    names = np.asarray(list(concepts) + [None], dtype=object)  # index -1: no concept
    fields = zip(names[t.best].tolist(), _finite(t.score), _finite(t.z), _finite(t.margin), _finite(t.p_value),
                 _finite(t.q_value), names[t.runner_up].tolist())
    return [None if concept is None else
            {"concept": concept, "score": score, "z": z, "margin": margin, "p_value": p, "q_value": q,
             "runner_up": runner_up}
            for concept, score, z, margin, p, q, runner_up in fields]


def _layer_names(layer: str, units: int, tests: Mapping[str, SourceTest], concepts: Sequence[str],
                 settings: NamingSettings) -> list[UnitName]:
    methods = list(tests)
    said = {method: _candidates(t, concepts) for method, t in tests.items()}
    if not methods:
        return [UnitName(unit=unit_id(layer, u), layer=layer, index=u, similarity=settings.similarity,
                         candidates={}, name=None, status=UNEXPLAINED) for u in range(units)]
    # the rule's decisions, for every unit at once, on the values as the records store them (rounded)
    q = np.stack([_stored(t.q_value, t.best) for t in tests.values()])                  # (M, U)
    z = np.stack([_stored(t.z, t.best) for t in tests.values()])                        # (M, U)
    significant = q <= settings.alpha                                                   # NaN: never
    key = np.where(significant, np.nan_to_num(z, nan=-math.inf), -math.inf)
    chosen = np.where(np.isneginf(key.max(axis=0)), significant.argmax(axis=0), key.argmax(axis=0))  # first best
    best = np.stack([t.best for t in tests.values()])                                   # (M, U)
    name = best[chosen, np.arange(units)]
    rival = [significant[i] & (best[i] != name) & (t.prefers(best[i], name) >= settings.min_margin)
             for i, t in enumerate(tests.values())]
    records = []
    for u in range(units):
        candidates = {method: said[method][u] for method in methods if said[method][u] is not None}
        common = {"unit": unit_id(layer, u), "layer": layer, "index": u, "similarity": settings.similarity,
                  "candidates": candidates}
        if not significant[:, u].any():
            records.append(UnitName(**common, name=None, status=UNEXPLAINED))
            continue
        chosen_record = candidates[methods[chosen[u]]]
        margin = chosen_record["margin"]
        rivals = [candidates[m]["concept"] for i, m in enumerate(methods) if rival[i][u]]
        confident = (chosen_record["z"] is not None and chosen_record["z"] >= settings.min_z and not rivals
                     and (margin is None or margin >= settings.min_margin))
        records.append(UnitName(**common, name=chosen_record["concept"], status=NAMED if confident else AMBIGUOUS,
                                method=methods[chosen[u]], score=chosen_record["score"], z=chosen_record["z"],
                                margin=margin, p_value=chosen_record["p_value"], q_value=chosen_record["q_value"],
                                runner_up=rivals[0] if rivals else chosen_record["runner_up"]))
    return records


def _stored(values: np.ndarray, best: np.ndarray) -> np.ndarray:
    """:func:`_rounded` `values` (U,), NaN also where the source scores no concept (``best`` -1): what a unit's
    candidate record holds, read as numbers."""
    return np.where(best >= 0, _rounded(values), np.nan)


def unexplained_share(names: Sequence[UnitName], *, z: float = 1.96) -> list[dict]:
    """Per layer: units, how many are named confidently, ambiguous and unexplained, and the unexplained share
    with its Wilson score interval.

    Returns
    -------
    list of dict
        ``layer``, ``units``, ``named``, ``ambiguous``, ``unexplained``, ``share_unexplained``,
        ``ci_low``, ``ci_high``, in the layers' order.
    """
    rows: dict[str, dict] = {}
    for r in names:
        row = rows.setdefault(r.layer, {"layer": r.layer, "units": 0, NAMED: 0, AMBIGUOUS: 0, UNEXPLAINED: 0})
        row["units"] += 1
        row[r.status] += 1
    for row in rows.values():
        low, high = wilson_interval(row[UNEXPLAINED], row["units"], z=z)
        row.update(share_unexplained=round(row[UNEXPLAINED] / row["units"], 4), ci_low=round(low, 4),
                   ci_high=round(high, 4))
    return list(rows.values())


def wilson_interval(k: int, n: int, *, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a share `k` / `n` (z = 1.96: 95 %)."""
    share = k / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
