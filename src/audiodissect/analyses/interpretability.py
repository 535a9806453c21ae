"""Uninterpretable units (paper Fig. 6): do a unit's top clips tell one story?

Every sentence of every clip description is embedded and the sentences are
clustered with k-means (k = 11 in the paper). Each clip gets the cluster that
most of its sentences fall in (ties go to the cluster of its earliest
sentence among the tied ones); a clip without a description gets no cluster.
A unit is *uninterpretable at K'* when fewer than K' of its top-K clips
(K = 5) share one cluster; clips without a cluster never count as sharing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import AudioDissectError

DEFAULT_K = 11
DEFAULT_KPRIMES = (3, 4, 5)
DEFAULT_TOP = 5


def description_sentences(descriptions: Mapping[str, str], clip_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Split clip descriptions into sentences.

    Parameters
    ----------
    descriptions : mapping of str to str
        ``{clip_id: description}``; clips not in `clip_ids` are ignored.
    clip_ids : sequence of str, shape (N,)
        Clip order; positions index the result.

    Returns
    -------
    sentences : list of str, length S
    owners : np.ndarray, shape (S,), int64
        Position in `clip_ids` of each sentence's clip.
    """
    from ..summarize.sentences import split_sentences

    sentences: list[str] = []
    owners: list[int] = []
    for pos, cid in enumerate(clip_ids):
        text = descriptions.get(cid)
        if not text:
            continue
        parts = [s for s in split_sentences(str(text)) if s.strip()]
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


def top_rows(activations: np.ndarray, top: int = DEFAULT_TOP) -> np.ndarray:
    """Rows of each unit's `top` highest activations, best first.

    Parameters
    ----------
    activations : np.ndarray, shape (N, U)
    top : int

    Returns
    -------
    np.ndarray, shape (U, min(top, N)), int64
    """
    a = np.asarray(activations, dtype=np.float32)
    n = a.shape[0]
    top = min(int(top), n)
    if top == 0:
        return np.zeros((a.shape[1], 0), dtype=np.int64)
    part = np.argpartition(-a, top - 1, axis=0)[:top] if top < n else np.tile(np.arange(n)[:, None], (1, a.shape[1]))
    vals = np.take_along_axis(a, part, axis=0)
    order = np.argsort(-vals, axis=0, kind="stable")
    return np.take_along_axis(part, order, axis=0).T.astype(np.int64)


def cluster_examples(sentences: Sequence[str], labels: np.ndarray, *, per_cluster: int = 3) -> list[dict[str, Any]]:
    """Size and the first few distinct sentences of every cluster, for the report."""
    labels = np.asarray(labels)
    out = []
    for c in range(int(labels.max()) + 1 if labels.size else 0):
        members = [sentences[i] for i in np.flatnonzero(labels == c)]
        out.append({"cluster": c, "sentences": len(members),
                    "examples": list(dict.fromkeys(members))[:per_cluster]})
    return out
