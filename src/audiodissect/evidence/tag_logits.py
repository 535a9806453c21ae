"""A tagger's clip logits, pooled over its patches and computed once per run.

Two offline stages read a sound tagger (YAMNet by default): the tag bridge
(TAB evidence) and the tags+descriptors captioner (the clip descriptions of
DB). Both want the same (N clips x T tags) matrix, so it is computed by
:func:`cached_tag_logits` and kept in the run's cache directory as
``tag-logits-<key>.npy``, keyed by the tagger, the pooling, the sample rate
and the clip ids; the second stage reads the file instead of running the
tagger again.

Pooling over patches. YAMNet scores a clip as overlapping 0.96 s patches; the
target's own ``forward`` averages the per-patch *logits*. On rendered audio
that is a poor clip-level tag score: patches of digital silence (between
notes, after a phrase) fall outside what the network saw in training and get
extreme logits (measured on the soundbank: -418 to +27 where a sounding patch
stays within about -20 to +10), which swamp the mean. Espeak speech, for one,
comes out as "Silence" (mean logit +27) with "Speech" at -8.6. The tag
bridge therefore pools the per-patch logits with ``"max"``: a tag is as
present in a clip as in its most tag-like patch (multiple-instance pooling,
the usual clip-level reading of a sound-event detector), which a silent patch
cannot pull down. ``"mean"`` (the target's own mean of logits) and
``"mean-prob"`` (YAMNet's published clip score: the mean of per-patch
probabilities, returned as its log-odds) are kept for comparison;
``bench/tag_bridge.py`` measures all three.

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


def tag_logits(tagger: Any, waveforms: Sequence[np.ndarray], *, pooling: str = DEFAULT_POOLING,
               batch_size: int = 16, hook: ProgressHook | None = None) -> np.ndarray:
    """Pooled clip logits of many waveforms, shape (N, T) float32, in input order.

    Waveforms are batched by length, so that no clip is padded to another's
    length (padding would add silent patches).

    Parameters
    ----------
    tagger : Target
    waveforms : sequence of np.ndarray, each (T_i,) at ``tagger.sample_rate``
    pooling : {"max", "mean", "mean-prob"}
        See :func:`pool_patches`.
    batch_size : int
    hook : progress hook, optional
    """
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
    out: np.ndarray | None = None
    for batch in track(batches, "tags", hook=hook, artefact=getattr(tagger, "name", None)):
        pooled = pool_patches(patch_logits(tagger, [clips[i] for i in batch]), pooling=pooling)
        if out is None:
            out = np.zeros((len(clips), pooled.shape[1]), dtype=np.float32)
        out[batch] = pooled
    assert out is not None
    return out


def tag_logits_key(tagger_name: str, clip_ids: Sequence[str], *, pooling: str, sample_rate: int) -> str:
    """The cache key of a tag-logits matrix: tagger, pooling, rate and the clip ids in order."""
    return hash_key("tag-logits", CACHE_VERSION, str(tagger_name), pooling, int(sample_rate),
                    [str(c) for c in clip_ids])


def cached_tag_logits(tagger: Any, clips: Sequence[Any], *, cache_dir: str | os.PathLike | None,
                      tagger_name: str | None = None, pooling: str = DEFAULT_POOLING, batch_size: int = 16,
                      hook: ProgressHook | None = None) -> np.ndarray:
    """Pooled tag logits of `clips`, shape (N, T) float32, kept as ``tag-logits-<key>.npy``.

    Parameters
    ----------
    tagger : Target
    clips : sequence of clips
        Objects with ``id`` and ``audio`` (mono, at ``tagger.sample_rate``);
        audio is read only when the matrix is not cached.
    cache_dir : path-like or None
        Normally the run's ``cache`` folder; None disables the file.
    tagger_name : str, optional
        Names the tagger in the key (default: ``tagger.name``).
    pooling, batch_size, hook
        As for :func:`tag_logits`.
    """
    ids = [str(c.id) for c in clips]
    if len(set(ids)) != len(ids):
        raise AudioDissectError("clip ids must be unique to cache tag logits")
    name = tagger_name or getattr(tagger, "name", None)
    if not name:
        raise AudioDissectError("the tagger needs a name to key its cached logits")
    path = None
    if cache_dir is not None:
        key = tag_logits_key(name, ids, pooling=pooling, sample_rate=int(tagger.sample_rate))
        path = Path(cache_dir) / f"tag-logits-{key}.npy"
        if path.exists():
            cached = load_npy(path)
            if cached.ndim == 2 and cached.shape[0] == len(ids):
                log.info("tag logits: cached %s", path.name)
                return cached
            log.warning("tag-logit cache %s has shape %s for %d clips; recomputing", path, cached.shape, len(ids))
    result = tag_logits(tagger, [c.audio for c in clips], pooling=pooling, batch_size=batch_size, hook=hook)
    if path is not None:
        save_npy(path, result)
    return result
