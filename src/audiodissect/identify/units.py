"""Module A: name each unit's concept from a closed set (TAB and DB).

Pure functions turn evidence (clips x concepts) and activations (clips x
units) into per-unit records of the top concepts for every similarity
function; the identify stage (:mod:`audiodissect.identify.stage`) caches them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..arrays import RowSubset, column_blocks
from ..errors import AudioDissectError, unknown_name_error
from ..records import ConceptRanking, ConceptRankingBlock
from ..similarity.registry import DEFAULT_VARIANT
from .naming import COLUMNWISE

METHODS = ("tab", "db")
#: Similarity functions whose concepts compete (a softmax over them) and that score several evidence sources
#: side by side given each one's column count (``groups=``), each source as if alone: the units' top clips are
#: found once for every source.
GROUPED = ("wpmi", "soft_wpmi")


def topk_clip_evidence(evidence: np.ndarray, activations: np.ndarray, *, k: int = 5,
                       block_units: int | None = None, normal_scores: bool = False) -> np.ndarray:
    """Score units by the mean evidence of their k most-activating clips.

    This is the original AND's description-based variant for hidden units:
    a unit's concept is the one its top clips' descriptions favour most.

    Parameters
    ----------
    evidence : np.ndarray, shape (N, C)
    activations : np.ndarray, np.memmap or RowSubset, shape (N, U)
        Read a block of units at a time.
    k : int
    block_units : int, optional
        Units per block (default: about 64 MiB of activations).
    normal_scores : bool, default False
        Average each concept's normal scores over the clips (its ranks mapped
        to standard normal quantiles, :func:`audiodissect.evidence.acoustic.rank_gaussian`)
        instead of its raw evidence: the robust variant. Raw means favour the
        concept with the largest common level on every unit (DB's softmax
        columns give the word the descriptions say most the largest); normal
        scores ask where each concept is higher than usual, whatever its level
        and spread.

    Returns
    -------
    np.ndarray, shape (U, C), float32
    """
    evidence = np.asarray(evidence)
    if normal_scores:
        from ..evidence.acoustic import rank_gaussian

        evidence = rank_gaussian(evidence)
    k = min(k, activations.shape[0])
    out = np.empty((activations.shape[1], evidence.shape[1]), dtype=np.float32)
    for units, block in column_blocks(activations, block_units=block_units):
        top = np.argpartition(-block, k - 1, axis=0)[:k]  # (k, m)
        out[units] = evidence[top].mean(axis=0)           # (m, C)
    return out


def score_units(evidence: np.ndarray, activations: np.ndarray, *, similarity: str,
                scope: str = "all", topk: int = 5, seed: int = 0, variant: str = DEFAULT_VARIANT,
                groups: Sequence[int] | None = None) -> torch.Tensor:
    """Unit-concept scores, shape (U, C), for one similarity function.

    Parameters
    ----------
    evidence : np.ndarray, shape (N, C)
    activations : np.ndarray, np.memmap or RowSubset, shape (N, U)
    similarity : str
        A name in :data:`audiodissect.similarity.FUNCTIONS`.
    scope : {"all", "topk"}
        ``"all"`` compares whole columns; ``"topk"`` scores by the unit's top-k clips
        only (:func:`topk_clip_evidence`; the similarity function is then unused).
    variant : {"robust", "paper"}
        The similarity functions' variant (:data:`audiodissect.similarity.VARIANTS`);
        for ``scope="topk"``, robust averages normal scores instead of raw evidence.
    groups : sequence of int, optional
        For a :data:`GROUPED` similarity: the column counts of several evidence sources side by side.
    """
    from .. import similarity as sim

    if variant not in sim.VARIANTS:
        raise unknown_name_error("similarity variant", str(variant), sim.VARIANTS)
    if scope == "topk":
        return torch.from_numpy(topk_clip_evidence(evidence, activations, k=topk,
                                                   normal_scores=variant == "robust"))
    fn = sim.get(similarity, variant=variant)
    kwargs: dict[str, Any] = {"seed": seed} if similarity == "rank_reorder" else {}
    if groups is not None:
        kwargs["groups"] = list(groups)
    return fn(evidence, activations, **kwargs).float().cpu()


def concept_records(scores: torch.Tensor, concepts: Sequence[str], *, layer: str, method: str,
                    similarity: str | None, top: int = 5) -> list[ConceptRanking]:
    """Per-unit records of the `top` concepts, from scores (U, C): :func:`ranking_block`'s records."""
    return ranking_block(scores, concepts, layer=layer, method=method, similarity=similarity, top=top).records()


def ranking_block(scores: torch.Tensor, concepts: Sequence[str], *, layer: str, method: str,
                  similarity: str | None, top: int = 5) -> ConceptRankingBlock:
    """Every unit's `top` concepts from scores (U, C), as one block (units 0..U-1 of `layer`).

    Concepts are ranked by their scores as written (6 decimals), ties in concept order, so that the last
    bits of a score, which differ from one machine's kernels to another's, do not reorder concepts whose
    written scores tie (with label evidence, every label absent from a unit's top clips scores alike).
    """
    k = min(top, scores.shape[1])
    written = scores.double().numpy().round(6)                             # (U, C)
    order = np.argsort(-written, axis=1, kind="stable")[:, :k]             # (U, k)
    return ConceptRankingBlock(layer=layer, method=method, similarity=similarity,
                               indices=np.arange(scores.shape[0]), concepts=concepts, order=order,
                               scores=np.take_along_axis(written, order, axis=1))


def identify_units(evidence: Mapping[str, np.ndarray], activations: Mapping[str, np.ndarray],
                   concepts: Sequence[str], *, similarities: Sequence[str], top: int = 5,
                   db_scope: str = "all", db_topk: int = 5, output_layer: str | None = None,
                   seed: int = 0, variant: str = DEFAULT_VARIANT,
                   exclude: Mapping[str, Collection[str]] | None = None) -> list[ConceptRanking]:
    """Closed-set concepts of every unit, for every method and similarity function.

    Parameters
    ----------
    evidence : mapping of method name ("tab", "db") to np.ndarray (N, C)
        Rows are probe clips, in the same order as the activation rows.
    activations : mapping of layer name to np.ndarray, np.memmap or RowSubset (N, U)
        Each layer is read once (:func:`~audiodissect.arrays.in_memory`: whole when it fits
        in memory, else a block of units at a time by every function).
    concepts : sequence of str, length C
    similarities : sequence of str
    db_scope : {"all", "topk"}
        For DB on hidden layers: compare over all clips, or (as the original)
        over each unit's top-k clips.
    output_layer : str, optional
        The classifier layer, always compared over all clips (as in the original).
    variant : {"robust", "paper"}
        The similarity functions' variant (:func:`score_units`).
    exclude : mapping of method name to collection of str, optional
        Concepts a method may not choose, e.g. those its evidence says nothing
        about (:func:`audiodissect.evidence.no_evidence`): their columns are
        left out, so no record of that method names them.

    Returns
    -------
    list of ConceptRanking
        One record per (unit, method, similarity): methods in the mapping's order,
        then layers, then similarities, then units.

    Raises
    ------
    AudioDissectError
        When `exclude` leaves a method no concept.
    """
    from ..arrays import in_memory

    sources = method_sources(evidence, concepts, exclude=exclude)
    by_layer = [identify_layer(layer, in_memory(acts), sources, similarities=similarities, top=top,
                               db_scope=db_scope, db_topk=db_topk, output_layer=output_layer, seed=seed,
                               variant=variant)
                for layer, acts in activations.items()]
    return [r for method in sources for blocks in by_layer for block in blocks[method] for r in block.records()]


def method_sources(evidence: Mapping[str, np.ndarray], concepts: Sequence[str], *,
                   exclude: Mapping[str, Collection[str]] | None = None) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per method: (its evidence of the concepts it may choose (N, C_m), their names (C_m,)), made once for
    every layer.

    Raises
    ------
    AudioDissectError
        When `exclude` leaves a method no concept.
    """
    out = {}
    for method, ev in evidence.items():
        left_out = set((exclude or {}).get(method, ()))
        keep = np.array([c not in left_out for c in concepts], dtype=bool)
        if not keep.any():
            raise AudioDissectError(f"method {method!r} has no concept left to choose",
                                    hint="every concept was excluded (no evidence for any?)")
        ev = np.asarray(ev)
        out[method] = (ev if keep.all() else ev[:, keep], [c for c, k in zip(concepts, keep) if k])
    return out


def identify_layer(layer: str, acts, sources: Mapping[str, tuple[np.ndarray, list[str]]], *,
                   similarities: Sequence[str], top: int = 5, db_scope: str = "all", db_topk: int = 5,
                   output_layer: str | None = None, seed: int = 0,
                   variant: str = DEFAULT_VARIANT) -> dict[str, list[ConceptRankingBlock]]:
    """Every method's and similarity's records of one layer's units, from one pass over the layer.

    A :data:`~audiodissect.identify.naming.COLUMNWISE` or :data:`GROUPED` similarity scores every
    method's evidence (of one dtype) side by side in one call, so the activations' side (the units'
    centred columns, top clips or ranks) is computed once for all methods; the others are called once
    per method.

    Parameters
    ----------
    layer : str
    acts : np.ndarray, np.memmap or RowSubset, shape (N, U)
    sources : mapping of method to (evidence of its concepts (N, C_m), their names (C_m,))
        From :func:`method_sources`.
    similarities, top, db_scope, db_topk, output_layer, seed, variant
        As :func:`identify_units`.

    Returns
    -------
    dict of method to list of ConceptRankingBlock
        Per method: one block per similarity, in order (the top-k scope's first), each of every unit.
    """
    if not (isinstance(acts, (np.ndarray, RowSubset)) and acts.dtype == np.float32):
        acts = np.asarray(acts, dtype=np.float32)  # memory maps and row subsets stay lazy
    scopes = {m: db_scope if (m == "db" and layer != output_layer) else "all" for m in sources}
    together = [m for m in sources if scopes[m] == "all"]
    blocks: dict[str, list[ConceptRankingBlock]] = {m: [] for m in sources}
    for method in sources:
        if scopes[method] == "topk":
            ev, kept = sources[method]
            scores = score_units(ev, acts, similarity="topk", scope="topk", topk=db_topk, variant=variant)
            blocks[method].append(ranking_block(scores, kept, layer=layer, method=method,
                                                similarity=f"top{db_topk}", top=top))
    side_by_side = len(together) > 1 and len({sources[m][0].dtype for m in together}) == 1
    for name in similarities:
        if side_by_side and (name in COLUMNWISE or name in GROUPED):
            groups = [sources[m][0].shape[1] for m in together] if name in GROUPED else None
            joint = score_units(np.concatenate([sources[m][0] for m in together], axis=1), acts, similarity=name,
                                seed=seed, variant=variant, groups=groups)
            start = 0
            for method in together:
                ev, kept = sources[method]
                scores = joint[:, start:start + ev.shape[1]].contiguous()
                start += ev.shape[1]
                blocks[method].append(ranking_block(scores, kept, layer=layer, method=method, similarity=name,
                                                    top=top))
            continue
        for method in together:
            ev, kept = sources[method]
            scores = score_units(ev, acts, similarity=name, seed=seed, variant=variant)
            blocks[method].append(ranking_block(scores, kept, layer=layer, method=method, similarity=name,
                                                top=top))
    return blocks
