"""Uninterpretable units (paper Fig. 6): do a unit's top clips tell one story?

Every sentence of every clip description (boiler-plate sentences left out,
as in the original code) is embedded and the sentences are clustered with
k-means (k = 11 in the paper). A unit is *uninterpretable at
K'* when no cluster holds at least K' of its top-K clips (K = 5). Which
clusters hold a clip is decided by one of two rules (:data:`RULES`):

- ``"any"`` (the paper's rule, the default): a clip is in *every* cluster
  that one of its description's sentences falls in, so a clip with sentences
  in three clusters counts in all three;
- ``"majority"``: a clip is in one cluster only, the one most of its
  sentences fall in (ties go to the cluster of its earliest sentence among
  the tied ones).

A clip without a description is in no cluster and never counts. The ``any``
rule can only make groups larger, so it never finds more uninterpretable
units than the majority rule; :func:`layer_interpretability` reports both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import AudioDissectError

DEFAULT_K = 11
DEFAULT_KPRIMES = (3, 4, 5)
DEFAULT_TOP = 5
#: Rules that put a clip in clusters; the first is the paper's and the default.
RULES = ("any", "majority")
DEFAULT_RULE = "any"


def description_sentences(descriptions: Mapping[str, str], clip_ids: Sequence[str], *,
                          drop_boilerplate: bool = True) -> tuple[list[str], np.ndarray]:
    """Split clip descriptions into sentences.

    As in the original code, sentences that talk about the task rather than
    the sound ("Sure, here is a description.", :data:`~audiodissect.summarize.
    sentences.BOILERPLATE_PHRASES`) are left out of the clustering.

    Parameters
    ----------
    descriptions : mapping of str to str
        ``{clip_id: description}``; clips not in `clip_ids` are ignored.
    clip_ids : sequence of str, shape (N,)
        Clip order; positions index the result.
    drop_boilerplate : bool
        Leave out boiler-plate sentences (default, as the original); False keeps every sentence.

    Returns
    -------
    sentences : list of str, length S
    owners : np.ndarray, shape (S,), int64
        Position in `clip_ids` of each sentence's clip.
    """
    from ..sentences import boilerplate_phrase, split_sentences

    sentences: list[str] = []
    owners: list[int] = []
    for pos, cid in enumerate(clip_ids):
        text = descriptions.get(cid)
        if not text:
            continue
        parts = [s for s in split_sentences(str(text))
                 if s.strip() and not (drop_boilerplate and boilerplate_phrase(s))]
        sentences.extend(parts)
        owners.extend([pos] * len(parts))
    return sentences, np.asarray(owners, dtype=np.int64)


def cluster_sentences(embeddings: np.ndarray, *, k: int = DEFAULT_K, seed: int = 0) -> np.ndarray:
    """K-means cluster labels of sentence embeddings.

    Parameters
    ----------
    embeddings : np.ndarray, shape (S, d)
    k : int
        Number of clusters; lowered to the number of distinct embeddings when fewer exist.
    seed : int

    Returns
    -------
    np.ndarray, shape (S,), int64
        Cluster of each sentence, in ``[0, min(k, distinct rows))``.
    """
    from sklearn.cluster import KMeans

    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise AudioDissectError("no description sentences to cluster",
                                hint="run `audiodissect describe` first")
    if k < 1:
        raise AudioDissectError(f"k must be at least 1, got {k}")
    n_clusters = min(int(k), np.unique(x, axis=0).shape[0])
    model = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    return model.fit_predict(x).astype(np.int64)


def _check_labels(labels: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=np.int64)
    owners = np.asarray(owners, dtype=np.int64)
    if labels.shape != owners.shape or labels.ndim != 1:
        raise AudioDissectError(f"labels {labels.shape} and owners {owners.shape} must be matching 1-d arrays")
    return labels, owners


def _cluster_count(labels: np.ndarray, n_clusters: int | None) -> int:
    k = int(labels.max()) + 1 if labels.size else 0
    if n_clusters is None:
        return k
    if n_clusters < k:
        raise AudioDissectError(f"n_clusters={n_clusters} but a sentence is in cluster {k - 1}")
    return int(n_clusters)


def clip_clusters(labels: np.ndarray, owners: np.ndarray, n_clips: int) -> np.ndarray:
    """Majority cluster of each clip's sentences.

    Parameters
    ----------
    labels : np.ndarray, shape (S,), int
        Cluster of each sentence.
    owners : np.ndarray, shape (S,), int
        Clip position of each sentence, in ``[0, n_clips)``.
    n_clips : int

    Returns
    -------
    np.ndarray, shape (n_clips,), int64
        The cluster most of the clip's sentences belong to; ties go to the
        cluster of the earliest tied sentence; -1 for clips without sentences.
    """
    labels = np.asarray(labels, dtype=np.int64)
    owners = np.asarray(owners, dtype=np.int64)
    if labels.shape != owners.shape:
        raise AudioDissectError(f"labels {labels.shape} and owners {owners.shape} must match")
    out = np.full(n_clips, -1, dtype=np.int64)
    if labels.size == 0:
        return out
    k = int(labels.max()) + 1
    counts = np.zeros((n_clips, k), dtype=np.int64)
    np.add.at(counts, (owners, labels), 1)
    first = np.full((n_clips, k), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, (owners, labels), np.arange(labels.size))
    tied = counts == counts.max(axis=1, keepdims=True)
    choice = np.argmin(np.where(tied, first, np.iinfo(np.int64).max), axis=1)
    has = counts.sum(axis=1) > 0
    out[has] = choice[has]
    return out


def largest_shared_group(top_clusters: np.ndarray) -> np.ndarray:
    """Size of the largest group of a unit's top clips that share a cluster.

    Parameters
    ----------
    top_clusters : np.ndarray, shape (U, K), int
        Cluster of each unit's top-K clips; -1 (no description) never shares.

    Returns
    -------
    np.ndarray, shape (U,), int64
    """
    top = np.asarray(top_clusters, dtype=np.int64)
    if top.ndim != 2:
        raise AudioDissectError(f"top_clusters must be (units, K), got shape {top.shape}")
    if top.size == 0 or top.max(initial=-1) < 0:
        return np.zeros(top.shape[0], dtype=np.int64)
    k = int(top.max()) + 1
    counts = (top[:, :, None] == np.arange(k)[None, None, :]).sum(axis=1)  # (U, k)
    return counts.max(axis=1).astype(np.int64)


def uninterpretable(top_clusters: np.ndarray, kprimes: Sequence[int] = DEFAULT_KPRIMES) -> np.ndarray:
    """Which units are uninterpretable at each K'.

    Parameters
    ----------
    top_clusters : np.ndarray, shape (U, K), int
    kprimes : sequence of int, shape (P,)

    Returns
    -------
    np.ndarray, shape (U, P), bool
        True where fewer than K' of the unit's top clips share a cluster.
    """
    largest = largest_shared_group(top_clusters)
    return largest[:, None] < np.asarray(list(kprimes), dtype=np.int64)[None, :]


def clip_cluster_sets(labels: np.ndarray, owners: np.ndarray, n_clips: int, *,
                      n_clusters: int | None = None) -> np.ndarray:
    """Every cluster that one of each clip's sentences falls in (the paper's rule).

    Parameters
    ----------
    labels : np.ndarray, shape (S,), int
        Cluster of each sentence.
    owners : np.ndarray, shape (S,), int
        Clip position of each sentence, in ``[0, n_clips)``.
    n_clips : int
    n_clusters : int, optional
        Number of clusters (default ``labels.max() + 1``).

    Returns
    -------
    np.ndarray, shape (n_clips, n_clusters), bool
        True where the clip has a sentence in the cluster; all False for
        clips without sentences.
    """
    labels, owners = _check_labels(labels, owners)
    k = _cluster_count(labels, n_clusters)
    member = np.zeros((n_clips, k), dtype=bool)
    member[owners, labels] = True
    return member


def clip_memberships(labels: np.ndarray, owners: np.ndarray, n_clips: int, *,
                     n_clusters: int | None = None) -> dict[str, np.ndarray]:
    """The clusters each clip is in, under each rule of :data:`RULES`.

    Parameters
    ----------
    labels, owners : np.ndarray, shape (S,), int
        Cluster and clip position of each sentence.
    n_clips : int
    n_clusters : int, optional
        Number of clusters (default ``labels.max() + 1``).

    Returns
    -------
    dict of str to np.ndarray, each shape (n_clips, n_clusters), bool
        ``"any"``: :func:`clip_cluster_sets`; ``"majority"``: one True per
        described clip, at :func:`clip_clusters`.
    """
    labels, owners = _check_labels(labels, owners)
    k = _cluster_count(labels, n_clusters)
    majority = clip_clusters(labels, owners, n_clips)
    one_hot = np.zeros((n_clips, k), dtype=bool)
    has = majority >= 0
    one_hot[np.flatnonzero(has), majority[has]] = True
    return {"any": clip_cluster_sets(labels, owners, n_clips, n_clusters=k), "majority": one_hot}


def largest_group(membership: np.ndarray, top_clip_rows: np.ndarray) -> np.ndarray:
    """Most of a unit's top clips that one cluster holds.

    Parameters
    ----------
    membership : np.ndarray, shape (N, k), bool
        Clusters each clip is in (:func:`clip_memberships`).
    top_clip_rows : np.ndarray, shape (U, K), int
        Rows of `membership` of each unit's top clips (distinct per unit).

    Returns
    -------
    np.ndarray, shape (U,), int64
        ``max over clusters of the number of the unit's top clips in it``.
    """
    member = np.asarray(membership, dtype=bool)
    rows = np.asarray(top_clip_rows, dtype=np.int64)
    if member.ndim != 2 or rows.ndim != 2:
        raise AudioDissectError(f"membership must be (clips, clusters) and top_clip_rows (units, K), "
                                f"got shapes {member.shape} and {rows.shape}")
    if rows.size == 0 or member.shape[1] == 0:
        return np.zeros(rows.shape[0], dtype=np.int64)
    counts = member[rows].sum(axis=1, dtype=np.int64)  # (U, k)
    return counts.max(axis=1)


def layer_interpretability(memberships: Mapping[str, np.ndarray], top_clip_rows: np.ndarray, *,
                           kprimes: Sequence[int] = DEFAULT_KPRIMES, rule: str = DEFAULT_RULE
                           ) -> dict[str, Any]:
    """Uninterpretable units of one layer under every rule, with `rule`'s as the headline.

    Parameters
    ----------
    memberships : mapping of str to np.ndarray, each shape (N, k), bool
        :func:`clip_memberships`; one entry per rule in :data:`RULES`.
    top_clip_rows : np.ndarray, shape (U, K), int
        Rows (clip positions) of each unit's top-K clips.
    kprimes : sequence of int, length P
        Thresholds K'.
    rule : {"any", "majority"}
        The rule of the unsuffixed fields.

    Returns
    -------
    dict
        ``"units"`` (U); ``"largest"``: rule -> np.ndarray (U,) int64, the
        largest group of top clips one cluster holds; ``"flags"``: rule ->
        np.ndarray (U, P) bool, True where fewer than K' share a cluster;
        ``"shares"``: rule -> {K': share of uninterpretable units (0 when
        U = 0)}; and ``"rule"``. See :func:`layer_row` and :func:`unit_rows`
        for the rows written to disk.
    """
    if rule not in RULES:
        from ..errors import unknown_name_error

        raise unknown_name_error("uninterpretable-unit rule", rule, RULES)
    missing = [r for r in RULES if r not in memberships]
    if missing:
        raise AudioDissectError(f"memberships lack the rules {missing}", hint="build them with clip_memberships()")
    kp = np.asarray([int(x) for x in kprimes], dtype=np.int64)
    rows = np.asarray(top_clip_rows, dtype=np.int64)
    largest = {r: largest_group(memberships[r], rows) for r in RULES}
    flags = {r: largest[r][:, None] < kp[None, :] for r in RULES}
    shares = {r: {int(x): float(flags[r][:, j].mean()) if rows.shape[0] else 0.0 for j, x in enumerate(kp)}
              for r in RULES}
    return {"units": int(rows.shape[0]), "rule": rule, "largest": largest, "flags": flags, "shares": shares}


def layer_row(result: Mapping[str, Any], *, layer: str, depth: int) -> dict[str, Any]:
    """One row of ``uninterpretable.csv`` from a :func:`layer_interpretability` result.

    Returns
    -------
    dict
        ``layer``, ``depth``, ``units``, ``rule``, ``share_k{K'}`` (the
        headline rule's share) and ``share_k{K'}_{rule}`` for every rule.
    """
    rule = result["rule"]
    row: dict[str, Any] = {"layer": layer, "depth": int(depth), "units": result["units"], "rule": rule}
    row.update({f"share_k{kp}": share for kp, share in result["shares"][rule].items()})
    for r in RULES:
        row.update({f"share_k{kp}_{r}": share for kp, share in result["shares"][r].items()})
    return row


def layer_columns(kprimes: Sequence[int]) -> list[str]:
    """The columns of :func:`layer_row`, in order, for these K'."""
    kps = [int(x) for x in kprimes]
    return (["layer", "depth", "units", "rule"] + [f"share_k{kp}" for kp in kps]
            + [f"share_k{kp}_{r}" for r in RULES for kp in kps])


def unit_rows(result: Mapping[str, Any], memberships: Mapping[str, np.ndarray], top_clip_rows: np.ndarray, *,
              layer: str, unit_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of ``uninterpretable_units.jsonl`` for one layer.

    Parameters
    ----------
    result : dict
        :func:`layer_interpretability` of the layer.
    memberships : mapping of str to np.ndarray, each shape (N, k), bool
    top_clip_rows : np.ndarray, shape (U, K), int
    layer : str
    unit_ids : sequence of str, length U
        ``"<layer>#<index>"`` of each unit.

    Returns
    -------
    list of dict, length U
        ``unit``, ``layer``, ``index``, ``rule``, ``largest_group`` (the
        headline rule's), ``largest_group_{rule}`` for every rule,
        ``top_clusters`` (majority cluster of each top clip, -1: none) and
        ``top_cluster_sets`` (every cluster of each top clip, ascending).
    """
    rows = np.asarray(top_clip_rows, dtype=np.int64)
    majority = memberships["majority"]
    top_major = np.where(majority.any(axis=1), majority.argmax(axis=1), -1)[rows]  # (U, K)
    sets = memberships["any"][rows]  # (U, K, k)
    rule = result["rule"]
    out = []
    for u, uid in enumerate(unit_ids):
        row = {"unit": uid, "layer": layer, "index": u, "rule": rule,
               "largest_group": int(result["largest"][rule][u])}
        row.update({f"largest_group_{r}": int(result["largest"][r][u]) for r in RULES})
        row["top_clusters"] = top_major[u].tolist()
        row["top_cluster_sets"] = [np.flatnonzero(s).tolist() for s in sets[u]]
        out.append(row)
    return out


def top_rows(activations: np.ndarray, top: int = DEFAULT_TOP) -> np.ndarray:
    """Rows of each unit's `top` highest activations, best first (ties: the lower row first).

    Parameters
    ----------
    activations : np.ndarray, np.memmap or RowSubset, shape (N, U)
        Read a block of units at a time
        (:func:`~audiodissect.summarize.topk.top_bottom_clips`), so a memory
        map is never held whole.
    top : int

    Returns
    -------
    np.ndarray, shape (U, min(top, N)), int64
    """
    from ..summarize.topk import top_bottom_clips

    n, u = int(activations.shape[0]), int(activations.shape[1])
    top = min(int(top), n)
    if top == 0:
        return np.zeros((u, 0), dtype=np.int64)
    return top_bottom_clips(activations, k=top)[0]


def cluster_examples(sentences: Sequence[str], labels: np.ndarray, *, per_cluster: int = 3) -> list[dict[str, Any]]:
    """Size and the first few distinct sentences of every cluster, for the report."""
    labels = np.asarray(labels)
    out = []
    for c in range(int(labels.max()) + 1 if labels.size else 0):
        members = [sentences[i] for i in np.flatnonzero(labels == c)]
        out.append({"cluster": c, "sentences": len(members),
                    "examples": list(dict.fromkeys(members))[:per_cluster]})
    return out
