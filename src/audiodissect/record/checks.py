"""Checks of a recording that name a user's likely mistake: outputs that are not class logits, class names in the
wrong order, and why no recorded layer is the output layer.

Each check returns :class:`Finding` records (a message and a hint); the record
stage logs them as warnings, keeps them in its manifest section
(``output_checks``, ``output_layer_note``) and prints them after its line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..class_names import class_names_lookup, normalize_concept
from ..probes.base import HELDOUT, ClipInfo

#: Fewest labelled clips (of at least two classes) the class-order check needs.
MIN_CLIPS = 6
#: The class-order check speaks when so few correct answers would come by chance with at most this
#: probability (a one-sided binomial test against chance accuracy).
ALPHA = 0.01


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing a check found: ``code`` (``probabilities``, ``sigmoid``, ``unit_norm``, ``no_class_names``,
    ``below_chance``), what it means and what to do."""

    code: str
    message: str
    hint: str

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def check_outputs(logits: np.ndarray, class_names: Sequence[str] | None) -> list[Finding]:
    """Whether the recorded "logits" look like something else: probabilities, sigmoid outputs, unit-length
    embeddings, or an output without class names.

    Parameters
    ----------
    logits : np.ndarray, shape (N, K)
    class_names : sequence of str or None
    """
    values = np.asarray(logits, dtype=np.float64)
    n, k = values.shape
    if n == 0 or k == 0:
        return []
    found = []
    finite = values[np.isfinite(values).all(axis=1)]
    if len(finite) and k >= 2 and finite.size >= 10:
        low, high = float(finite.min()), float(finite.max())
        sums, norms = finite.sum(axis=1), np.linalg.norm(finite, axis=1)
        if low >= 0.0 and np.abs(sums - 1.0).max() < 1e-3:
            found.append(Finding("probabilities", f"the model's outputs ({n} x {k}) look like probabilities, not "
                                 "logits: every row is non-negative and sums to 1 (a softmax)",
                                 "have forward return the values before the softmax: pruning measures the change of "
                                 "the true-class logit, which a softmax squashes, and the output layer is matched by "
                                 "its logits"))
        elif low >= 0.0 and high <= 1.0:
            found.append(Finding("sigmoid", f"the model's outputs ({n} x {k}) all lie in [0, 1], like sigmoid "
                                 "probabilities rather than logits",
                                 "have forward return the values before the sigmoid (pruning measures logit "
                                 "changes)"))
        elif k >= 8 and np.abs(norms - 1.0).max() < 1e-3:
            found.append(Finding("unit_norm", f"every output row ({n} x {k}) has length 1, like a normalised "
                                 "embedding, not class logits",
                                 "if the model is an embedding model, its output is not per-class: leave "
                                 "class_names out and skip the stages that need classes (last-layer, prune), or "
                                 "dissect a classifier head on top of it"))
    if not class_names:
        found.append(Finding("no_class_names", f"the forward's output ({n} x {k}) is stored as the model's logits, "
                             "but the model has no class names: if the output is an embedding rather than class "
                             "logits, the stages that need classes (last-layer accuracy, pruning) cannot use it",
                             "pass class_names= in logit order for a classifier; for an embedding model, nothing "
                             "to do (or have forward return None to record no logits)"))
    return found


def check_class_order(logits: np.ndarray, clips: Sequence[ClipInfo], class_names: Sequence[str] | None
                      ) -> Finding | None:
    """Whether the model's accuracy on the labelled clips is below chance: a sign that the class names are not in
    the model's logit order (a flipped binary classifier) or the labels mean something else.

    Accuracy is the arg-max among the classes the clips' labels name (as the pruning table counts it), on the
    held-out clips when there are at least :data:`MIN_CLIPS` of them, else on every labelled clip. Chance is one
    over the number of those classes; the check speaks only when chance alone would give so few correct answers
    with probability :data:`ALPHA` or less (so an untrained model's near-chance accuracy passes).

    Parameters
    ----------
    logits : np.ndarray, shape (N, K)
    clips : sequence of ClipInfo, length N
    class_names : sequence of str, length K, or None
    """
    if not class_names or logits.ndim != 2 or logits.shape[1] != len(class_names) or not len(clips):
        return None
    lookup = class_names_lookup(class_names)
    rows = [(i, lookup.get(normalize_concept(c.label))) for i, c in enumerate(clips) if c.label is not None]
    rows = [(i, k) for i, k in rows if k is not None]
    held = [(i, k) for i, k in rows if clips[i].split == HELDOUT]
    used, where = (held, "held-out") if len(held) >= MIN_CLIPS else (rows, "labelled")
    classes = sorted({k for _, k in used})
    if len(used) < MIN_CLIPS or len(classes) < 2:
        return None
    index = np.array([i for i, _ in used])
    truth = np.array([k for _, k in used])
    scores = np.asarray(logits, dtype=np.float64)[index][:, classes]
    predicted = np.array(classes)[np.argmax(scores, axis=1)]
    correct = int((predicted == truth).sum())
    accuracy = correct / len(used)
    chance = 1.0 / len(classes)
    if accuracy >= chance:
        return None
    from scipy.stats import binom  # here: importing scipy.stats costs a model at or above chance a second

    if float(binom.cdf(correct, len(used), chance)) > ALPHA:
        return None  # below chance by as much as chance alone often gives
    swaps = []
    for k in classes:  # which class each label's clips are predicted as, most often
        mine = predicted[truth == k]
        if len(mine):
            values, counts = np.unique(mine, return_counts=True)
            top = int(values[np.argmax(counts)])
            if top != k:
                swaps.append(f"{class_names[k]!r} clips mostly as {class_names[top]!r}")
    shown = "; ".join(swaps[:4]) + (" ..." if len(swaps) > 4 else "")
    return Finding("below_chance", f"the model's accuracy on the {len(used)} {where} clips is {accuracy:.3f}, below "
                   f"chance ({chance:.3f} for {len(classes)} classes)" + (f": it predicts {shown}" if shown else ""),
                   "check that class_names are in the model's logit order (logit i is class_names[i]: e.g. the "
                   "order of its id2label, label_dict or training label encoder), and that the probing set's "
                   "labels mean the same classes; pruning and the last-layer table read the classes in that order "
                   "(a model that was never trained can fall below chance too)")


def no_output_layer_reason(arrays: dict[str, np.ndarray], logits: np.ndarray, module: Any, *, pool: str) -> str:
    """Why no recorded layer's pooled activations equal the logits (N, K): the layers of K units and how far they
    are from the logits, or the modules that could be the output layer when none of K units was recorded."""
    n, k = logits.shape
    if k == 0:
        return "the forward returned no clip logits, so no layer can be the output layer"
    same = [(name, float(np.nanmax(np.abs(array - logits)))) for name, array in arrays.items()
            if array.shape == logits.shape]
    if same:
        shown = ", ".join(f"{name!r} (differs by up to {gap:.3g})" for name, gap in same[:3])
        return (f"no recorded layer's pooled activations equal the logits ({n} x {k}): {shown}; the forward "
                "changes the values after that layer (e.g. a softmax or a scale), or pools its frames otherwise than "
                f"the recording's pool {pool!r}; name it with output_layer= (--output-layer) if it is the classifier")
    heads = [name for name, m in module.named_modules()
             if name and (getattr(m, "out_features", None) == k or getattr(m, "out_channels", None) == k)]
    candidates = f": e.g. {', '.join(map(repr, heads[-3:]))}" if heads else ""
    return (f"no recorded layer has {k} units, the width of the logits ({n} x {k}): record the layer that computes "
            f"them{candidates}, or name it with output_layer= (--output-layer)")
