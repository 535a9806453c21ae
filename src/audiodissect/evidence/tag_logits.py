"""A tagger's clip logits, pooled over its patches and computed once per run.

Two offline stages read a sound tagger (YAMNet by default): the tag bridge
(TAB evidence) and the tags+descriptors captioner (the clip descriptions of
DB). :func:`cached_tag_logits` runs the tagger once over the probing set and
keeps every pooling of its per-patch logits in the run's cache directory as
``tag-logits-<key>-<pooling>.npy``, keyed by the tagger, the sample rate and
the clip ids; the second stage reads its file instead of running the tagger
again.

Pooling over patches. YAMNet scores a clip as overlapping 0.96 s patches; the
target's own ``forward`` averages the per-patch *logits*. On rendered audio,
patches of digital silence (between notes, after a phrase) fall outside what
the network saw in training and get extreme logits (per-patch logits over the
soundbank run from -690 to +54 while 99.9 % stay below +2). Within one clip
they swamp the mean: an espeak speech clip reads "Silence" +21.0, "Speech"
-5.4. So the two consumers pool differently, each as measured best
(``bench/results/tag_bridge.md``):

- the **captioner** compares tags *within a clip* (which tags stand out), and
  uses ``"max"``: a tag is as present as in its most tag-like patch
  (multiple-instance pooling), which a silent patch cannot pull down;
- the **tag bridge** compares each tag *across clips* (rank-Gaussianised
  per tag), where a distortion shared by the clips cancels, and keeps
  ``"mean"``, the target's own clip logits, which was the steadier of the
  two across similarity functions on the last layer and the planted units.

``"mean-prob"`` (YAMNet's published clip score: the mean of per-patch
probabilities, returned as its log-odds) is kept for comparison.

Per-patch logits are read from the tagger's ``classifier`` module when its
output is (B, P, T) (YAMNet's is); a tagger without one is scored by its
clip logits (one "patch" per clip, so every pooling gives the same matrix).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import hash_key, load_npy, save_npy
from ..errors import AudioDissectError, unknown_name_error
from ..progress import ProgressHook, track

log = logging.getLogger(__name__)

POOLINGS = ("max", "mean", "mean-prob")
DEFAULT_POOLING = "max"
CACHE_VERSION = 1


def pool_patches(patch_logits: np.ndarray, *, pooling: str = DEFAULT_POOLING) -> np.ndarray:
    """Clip logits from per-patch logits, (B, P, T) -> (B, T) float32.

    Parameters
    ----------
    patch_logits : np.ndarray, shape (B, P, T)
    pooling : {"max", "mean", "mean-prob"}
        ``"max"``: the largest logit over the patches; ``"mean"``: the mean
        logit; ``"mean-prob"``: log-odds of the mean sigmoid probability
        (probabilities clipped to [1e-7, 1 - 1e-7]).
    """
    x = np.asarray(patch_logits, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] == 0:
        raise AudioDissectError(f"patch logits must be (B, P, T) with P >= 1, got shape {x.shape}")
    if pooling == "max":
        out = x.max(axis=1)
    elif pooling == "mean":
        out = x.mean(axis=1)
    elif pooling == "mean-prob":
        p = np.clip((0.5 * (1.0 + np.tanh(0.5 * x))).mean(axis=1), 1e-7, 1 - 1e-7)
        out = np.log(p) - np.log1p(-p)
    else:
        raise unknown_name_error("patch pooling", pooling, POOLINGS)
    return out.astype(np.float32)


def patch_logits(tagger: Any, waveforms: Sequence[np.ndarray]) -> np.ndarray:
    """Per-patch logits of one batch of equal-length waveforms, shape (B, P, T) float32.

    Read from the output of ``tagger.module.classifier`` when that output is
    (B, P, T); otherwise the clip logits ``tagger.logits`` as (B, 1, T).

    Parameters
    ----------
    tagger : Target or object with ``logits(waveforms) -> (B, T)``
    waveforms : sequence of np.ndarray, each (T_i,) at ``tagger.sample_rate``
    """
    classifier = getattr(getattr(tagger, "module", None), "classifier", None)
    if classifier is None or not hasattr(classifier, "register_forward_hook"):
        return _as_numpy(tagger.logits(list(waveforms)))[:, None, :]
    captured: list[Any] = []
    handle = classifier.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        clip = _as_numpy(tagger.logits(list(waveforms)))
    finally:
        handle.remove()
    if not captured:
        raise AudioDissectError(f"the classifier of tagger {getattr(tagger, 'name', tagger)!r} never ran")
    out = _as_numpy(captured[-1])
    if out.ndim == 3 and out.shape[0] == clip.shape[0] and out.shape[2] == clip.shape[1]:
        return out
    return clip[:, None, :]


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def pooled_tag_logits(tagger: Any, waveforms: Sequence[np.ndarray], *, poolings: Sequence[str] = POOLINGS,
                      batch_size: int = 16, hook: ProgressHook | None = None) -> dict[str, np.ndarray]:
    """Clip logits of many waveforms under several poolings from one tagger pass.

    Waveforms are batched by length, so that no clip is padded to another's
    length (padding would add silent patches).

    Parameters
    ----------
    tagger : Target
    waveforms : sequence of np.ndarray, each (T_i,) at ``tagger.sample_rate``
    poolings : sequence of {"max", "mean", "mean-prob"}
        See :func:`pool_patches`.
    batch_size : int
    hook : progress hook, optional

    Returns
    -------
    dict of pooling to np.ndarray, shape (N, T), float32, rows in input order
    """
    for pooling in poolings:
        if pooling not in POOLINGS:
            raise unknown_name_error("patch pooling", pooling, POOLINGS)
    if batch_size < 1:
        raise AudioDissectError(f"batch_size must be at least 1, got {batch_size}")
    clips = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waveforms]
    if not clips:
        raise AudioDissectError("no waveforms to tag")
    groups: dict[int, list[int]] = {}
    for i, clip in enumerate(clips):
        groups.setdefault(clip.size, []).append(i)
    batches = [members[i:i + batch_size] for _, members in sorted(groups.items())
               for i in range(0, len(members), batch_size)]
    out: dict[str, np.ndarray] = {}
    for batch in track(batches, "tags", hook=hook, artefact=getattr(tagger, "name", None)):
        patches = patch_logits(tagger, [clips[i] for i in batch])
        for pooling in poolings:
            if pooling not in out:
                out[pooling] = np.zeros((len(clips), patches.shape[2]), dtype=np.float32)
            out[pooling][batch] = pool_patches(patches, pooling=pooling)
    return out


def tag_logits(tagger: Any, waveforms: Sequence[np.ndarray], *, pooling: str = DEFAULT_POOLING,
               batch_size: int = 16, hook: ProgressHook | None = None) -> np.ndarray:
    """Clip logits of many waveforms under one pooling, shape (N, T) float32 (see :func:`pooled_tag_logits`)."""
    return pooled_tag_logits(tagger, waveforms, poolings=(pooling,), batch_size=batch_size, hook=hook)[pooling]


def tag_logits_key(tagger_name: str, clip_ids: Sequence[str], *, sample_rate: int) -> str:
    """The cache key of a run's tag logits: tagger, rate and the clip ids in order."""
    return hash_key("tag-logits", CACHE_VERSION, str(tagger_name), int(sample_rate), [str(c) for c in clip_ids])


def cached_tag_logits(tagger: Any, clips: Sequence[Any], *, cache_dir: str | os.PathLike | None,
                      tagger_name: str | None = None, pooling: str = DEFAULT_POOLING, batch_size: int = 16,
                      hook: ProgressHook | None = None) -> np.ndarray:
    """Pooled tag logits of `clips`, shape (N, T) float32, kept as ``tag-logits-<key>-<pooling>.npy``.

    On a miss the tagger runs once and every pooling of :data:`POOLINGS` is
    saved, so a later call with another pooling (the captioner's max after the
    tag bridge's mean, or the reverse) reads its file too.

    Parameters
    ----------
    tagger : Target
    clips : sequence of clips
        Objects with ``id`` and ``audio`` (mono, at ``tagger.sample_rate``);
        audio is read only when the matrix is not cached.
    cache_dir : path-like or None
        Normally the run's ``cache`` folder; None disables the files.
    tagger_name : str, optional
        Names the tagger in the key (default: ``tagger.name``).
    pooling : {"max", "mean", "mean-prob"}
    batch_size, hook
        As for :func:`pooled_tag_logits`.
    """
    if pooling not in POOLINGS:
        raise unknown_name_error("patch pooling", pooling, POOLINGS)
    ids = [str(c.id) for c in clips]
    if len(set(ids)) != len(ids):
        raise AudioDissectError("clip ids must be unique to cache tag logits")
    name = tagger_name or getattr(tagger, "name", None)
    if not name:
        raise AudioDissectError("the tagger needs a name to key its cached logits")
    if cache_dir is None:
        return tag_logits(tagger, [c.audio for c in clips], pooling=pooling, batch_size=batch_size, hook=hook)
    key = tag_logits_key(name, ids, sample_rate=int(tagger.sample_rate))
    paths = {p: Path(cache_dir) / f"tag-logits-{key}-{p}.npy" for p in POOLINGS}
    if paths[pooling].exists():
        cached = load_npy(paths[pooling])
        if cached.ndim == 2 and cached.shape[0] == len(ids):
            log.info("tag logits: cached %s", paths[pooling].name)
            return cached
        log.warning("tag-logit cache %s has shape %s for %d clips; recomputing", paths[pooling], cached.shape,
                    len(ids))
    pooled = pooled_tag_logits(tagger, [c.audio for c in clips], batch_size=batch_size, hook=hook)
    for p, matrix in pooled.items():
        save_npy(paths[p], matrix)
    return pooled[pooling]
