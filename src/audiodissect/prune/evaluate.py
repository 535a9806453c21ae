"""How much a pruned model forgets: confidence changes on held-out clips (paper Table 4).

"Confidence" is the logit of a clip's true class. For an ablated concept c
(a class name) and the clips of the held-out split:

- dA: mean change of confidence over c's clips;
- dR: mean change of confidence over every other class's clips;
- selectivity = dR - dA: positive when the model forgets c more than the rest.

Held-out clips only: the probing clips described the units, so measuring on
them would reward the selection for having seen its own evaluation data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import AudioDissectError
from ..probes.base import HELDOUT, ClipInfo, ProbeSet
from ..record import length_batches
from ..targets.base import Target, move_to
from .ablation import ablate
from .matching import normalize_concept


def class_index(concept: str, class_names: Sequence[str]) -> int:
    """Position of `concept` among `class_names` (compared normalised); an error lists the closest."""
    names = [normalize_concept(c) for c in class_names]
    wanted = normalize_concept(concept)
    if wanted not in names:
        from ..errors import unknown_name_error

        raise unknown_name_error("class (pruning evaluates class concepts)", concept, list(class_names))
    return names.index(wanted)


def heldout_targets(clips: Sequence[ClipInfo], class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Held-out rows whose label is a class, and that class.

    Returns
    -------
    rows : np.ndarray, shape (n,), int64
        Positions of the held-out clips with a class label, in clip order.
    classes : np.ndarray, shape (n,), int64
        Index of each clip's label in `class_names`.
    skipped : int
        Held-out clips left out because their label is not a class name.
    """
    lookup = {normalize_concept(c): i for i, c in enumerate(class_names)}
    rows, classes, skipped = [], [], 0
    for i, clip in enumerate(clips):
        if clip.split != HELDOUT:
            continue
        k = lookup.get(normalize_concept(clip.label)) if clip.label is not None else None
        if k is None:
            skipped += 1
            continue
        rows.append(i)
        classes.append(k)
    return np.array(rows, dtype=np.int64), np.array(classes, dtype=np.int64), skipped


class HeldoutAudio:
    """The audio of held-out clips, read once at the target's rate and kept for repeated passes.

    Parameters
    ----------
    probe : ProbeSet
    rows : sequence of int
        Clip positions; every one must be in the held-out split.
    sample_rate : int
    """

    def __init__(self, probe: ProbeSet, rows: Sequence[int], *, sample_rate: int):
        rows = [int(r) for r in rows]
        leaks = [probe.clips[r].id for r in rows if probe.clips[r].split != HELDOUT]
        if leaks:
            raise AudioDissectError(f"pruning evaluates on held-out clips only; got probe clips {leaks[:3]}",
                                    hint="pass rows of the 'heldout' split")
        self.rows = np.array(rows, dtype=np.int64)
        self.waves = [probe.audio(r, sample_rate=sample_rate) for r in rows]

    def __len__(self) -> int:
        return len(self.waves)


def heldout_logits(target: Target, audio: HeldoutAudio, *, units: Sequence[str] = (),
                   batch_size: int = 32) -> np.ndarray:
    """Logits of the held-out clips with `units` ablated (none: the baseline).

    Parameters
    ----------
    target : Target
    audio : HeldoutAudio
    units : sequence of str
        Unit ids to force to zero (:func:`~audiodissect.prune.ablation.ablate`).
    batch_size : int

    Returns
    -------
    np.ndarray, shape (n, n_classes), float32
        Row i belongs to ``audio.rows[i]``.
    """
    n = len(audio)
    out: np.ndarray | None = None
    target.module.eval()
    with ablate(target.module, units), torch.inference_mode():
        for batch in length_batches([len(w) for w in audio.waves], batch_size):
            inputs = move_to(target.preprocess([audio.waves[int(i)] for i in batch]), target.device)
            logits = target.forward(target.module, inputs).float().cpu().numpy().reshape(len(batch), -1)
            if out is None:
                out = np.zeros((n, logits.shape[1]), dtype=np.float32)
            out[batch] = logits
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def confidence(logits: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Logit of each clip's true class: (n, K), (n,) -> (n,)."""
    return np.asarray(logits)[np.arange(len(classes)), np.asarray(classes)]


def pruning_effect(baseline: np.ndarray, ablated: np.ndarray, classes: np.ndarray,
                   concept_index: int) -> dict[str, float]:
    """dA, dR, selectivity and accuracies of one ablation.

    Parameters
    ----------
    baseline, ablated : np.ndarray, shape (n, K)
        Held-out logits before and after.
    classes : np.ndarray, shape (n,)
        True class of each clip.
    concept_index : int
        The ablated class.

    Returns
    -------
    dict
        ``dA``, ``dR``, ``selectivity`` (dR - dA), ``acc_c_before``, ``acc_c_after``,
        ``acc_rest_before``, ``acc_rest_after``, ``n_c``, ``n_rest``. Means over an
        empty group are NaN.
    """
    classes = np.asarray(classes)
    change = confidence(ablated, classes) - confidence(baseline, classes)
    is_c = classes == concept_index
    right_before = np.argmax(baseline, axis=1) == classes
    right_after = np.argmax(ablated, axis=1) == classes

    def mean(values: np.ndarray, mask: np.ndarray) -> float:
        return float(values[mask].mean()) if mask.any() else float("nan")

    d_a, d_r = mean(change, is_c), mean(change, ~is_c)
    return {
        "dA": d_a, "dR": d_r, "selectivity": d_r - d_a,
        "acc_c_before": mean(right_before, is_c), "acc_c_after": mean(right_after, is_c),
        "acc_rest_before": mean(right_before, ~is_c), "acc_rest_after": mean(right_after, ~is_c),
        "n_c": int(is_c.sum()), "n_rest": int((~is_c).sum()),
    }


def evaluate_selection(target: Target, audio: HeldoutAudio, baseline: np.ndarray, classes: np.ndarray,
                       concept_index: int, units: Sequence[str], *, batch_size: int = 32) -> dict[str, float]:
    """Ablate `units`, run the held-out clips and measure :func:`pruning_effect` (plus ``units_pruned``)."""
    ablated = heldout_logits(target, audio, units=units, batch_size=batch_size)
    return {"units_pruned": len(units), **pruning_effect(baseline, ablated, classes, concept_index)}


# -- the table ------------------------------------------------------------------------

TABLE_COLUMNS = ("strategy", "n_concepts", "units_pruned", "dA", "dR", "selectivity",
                 "acc_c_before", "acc_c_after", "acc_rest_before", "acc_rest_after")
_MEASURES = TABLE_COLUMNS[2:]


def pruning_table(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per strategy, averaged over concepts (random draws first averaged over seeds).

    Parameters
    ----------
    results : sequence of dict
        Rows with ``strategy``, ``concept``, optional ``seed`` and the measures of
        :func:`evaluate_selection`.

    Returns
    -------
    list of dict
        Keys :data:`TABLE_COLUMNS`, strategies in first-seen order.
    """
    by_strategy: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for row in results:
        by_strategy.setdefault(row["strategy"], {}).setdefault(row["concept"], []).append(row)
    table = []
    for strategy, per_concept in by_strategy.items():
        per = np.array([[np.mean([float(r[m]) for r in rows]) for m in _MEASURES]
                        for rows in per_concept.values()], dtype=np.float64)
        with np.errstate(all="ignore"):
            means = np.nanmean(per, axis=0) if per.size else np.full(len(_MEASURES), np.nan)
        table.append({"strategy": strategy, "n_concepts": len(per_concept),
                      **{m: float(v) for m, v in zip(_MEASURES, means)}})
    return table


def format_table(table: Sequence[Mapping[str, Any]]) -> str:
    """The table as aligned text, like the paper's Table 4."""
    head = ["strategy", "concepts", "units", "dA", "dR", "dR-dA", "acc c before", "acc c after",
            "acc rest before", "acc rest after"]
    lines = [[str(r["strategy"]), str(r["n_concepts"]), f"{r['units_pruned']:.1f}",
              f"{r['dA']:+.3f}", f"{r['dR']:+.3f}", f"{r['selectivity']:+.3f}",
              f"{r['acc_c_before']:.3f}", f"{r['acc_c_after']:.3f}",
              f"{r['acc_rest_before']:.3f}", f"{r['acc_rest_after']:.3f}"] for r in table]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, lines)])
