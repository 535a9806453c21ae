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

from ..class_names import class_names_lookup, normalize_concept
from ..errors import AudioDissectError
from ..probes.base import HELDOUT, ClipInfo, ProbeSet
from ..record import length_batches
from ..targets.base import Target, move_to, require_logits
from .ablation import ablate


def heldout_targets(clips: Sequence[ClipInfo], class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Held-out rows whose label is a class (see :func:`~audiodissect.class_names.class_index`), and that class.

    Returns
    -------
    rows : np.ndarray, shape (n,), int64
        Positions of the held-out clips with a class label, in clip order.
    classes : np.ndarray, shape (n,), int64
        Index of each clip's label in `class_names`.
    skipped : int
        Held-out clips left out because their label is not a class name.
    """
    lookup = class_names_lookup(class_names)
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


def unmatched_labels(clips: Sequence[ClipInfo], class_names: Sequence[str]) -> list[str]:
    """Held-out labels that name no class (their clips are left out of the evaluation), sorted."""
    lookup = class_names_lookup(class_names)
    return sorted({c.label or "(no label)" for c in clips
                   if c.split == HELDOUT and (c.label is None or normalize_concept(c.label) not in lookup)})


class HeldoutAudio:
    """The audio of held-out clips, read once at the target's rate and kept for repeated passes.

    The model inputs of each batch (``target.preprocess`` of its waveforms) are
    kept too, up to `max_input_bytes` in all, so repeated ablation passes run
    only the model.

    Parameters
    ----------
    probe : ProbeSet
    rows : sequence of int
        Clip positions; every one must be in the held-out split.
    sample_rate : int
    max_input_bytes : int
        Memory for kept model inputs (default 1 GiB); batches beyond it are
        preprocessed on every pass.
    """

    def __init__(self, probe: ProbeSet, rows: Sequence[int], *, sample_rate: int,
                 max_input_bytes: int = 1 << 30):
        rows = [int(r) for r in rows]
        leaks = [probe.clips[r].id for r in rows if probe.clips[r].split != HELDOUT]
        if leaks:
            raise AudioDissectError(f"pruning evaluates on held-out clips only; got probe clips {leaks[:3]}",
                                    hint="pass rows of the 'heldout' split")
        self.rows = np.array(rows, dtype=np.int64)
        self.waves = [probe.audio(r, sample_rate=sample_rate) for r in rows]
        self.max_input_bytes = int(max_input_bytes)
        self._inputs: dict[tuple[int, tuple[int, ...]], Any] = {}
        self._input_bytes = 0

    def __len__(self) -> int:
        return len(self.waves)

    def subset(self, positions: Sequence[int]) -> HeldoutAudio:
        """The clips at `positions` (of these), without reading them again."""
        positions = [int(p) for p in positions]
        out = object.__new__(HeldoutAudio)
        out.rows = self.rows[positions]
        out.waves = [self.waves[p] for p in positions]
        out.max_input_bytes = self.max_input_bytes
        out._inputs, out._input_bytes = {}, 0
        return out

    def inputs(self, target: Target, batch: np.ndarray) -> Any:
        """``target.preprocess`` of the waveforms at positions `batch` (shape (b,)), kept while memory allows."""
        key = (id(target.preprocess), tuple(int(i) for i in batch))
        if key in self._inputs:
            return self._inputs[key]
        inputs = target.preprocess([self.waves[int(i)] for i in batch])
        size = _nbytes(inputs)
        if self._input_bytes + size <= self.max_input_bytes:
            self._inputs[key] = inputs
            self._input_bytes += size
        return inputs


def _nbytes(inputs: Any) -> int:
    """Bytes held by the tensors of a model input (a tensor, or a dict/list/tuple of them)."""
    if isinstance(inputs, torch.Tensor):
        return inputs.element_size() * inputs.nelement()
    if isinstance(inputs, Mapping):
        return sum(_nbytes(v) for v in inputs.values())
    if isinstance(inputs, (list, tuple)):
        return sum(_nbytes(v) for v in inputs)
    return 0


def heldout_logits(target: Target, audio: HeldoutAudio, *, units: Sequence[str] = (),
                   batch_size: int = 32, scale: float = 0.0) -> np.ndarray:
    """Logits of the held-out clips with `units` ablated, or scaled by `scale` (no units: the baseline).

    Parameters
    ----------
    target : Target
    audio : HeldoutAudio
    units : sequence of str
        Unit ids to force to zero (:func:`~audiodissect.prune.ablation.ablate`).
    batch_size : int
    scale : float
        Factor the units' outputs are multiplied by (0: switched off).

    Returns
    -------
    np.ndarray, shape (n, n_classes), float32
        Row i belongs to ``audio.rows[i]``.
    """
    n = len(audio)
    out: np.ndarray | None = None
    target.module.eval()
    with ablate(target.module, units, layouts=getattr(target, "layouts", None), scale=scale), \
            torch.inference_mode():
        for batch in length_batches([len(w) for w in audio.waves], batch_size):
            inputs = move_to(audio.inputs(target, batch), target.device)
            logits = require_logits(target.forward(target.module, inputs), len(batch), where=target.name) \
                .float().cpu().numpy().reshape(len(batch), -1)
            if out is None:
                out = np.zeros((n, logits.shape[1]), dtype=np.float32)
            out[batch] = logits
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def predictions(logits: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
    """Predicted class of each row: arg-max over all classes, or over the classes `among` only.

    Parameters
    ----------
    logits : np.ndarray, shape (n, K)
    among : np.ndarray, shape (m,), optional
        Class indices competing for the prediction (e.g. the classes of the
        held-out labels, for a model with many more classes such as YAMNet).

    Returns
    -------
    np.ndarray, shape (n,), int64
        Class indices into the K columns.
    """
    logits = np.asarray(logits)
    if among is None:
        return np.argmax(logits, axis=1)
    among = np.asarray(among, dtype=np.int64)
    return among[np.argmax(logits[:, among], axis=1)]


def confidence(logits: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Logit of each clip's true class: (n, K), (n,) -> (n,)."""
    return np.asarray(logits)[np.arange(len(classes)), np.asarray(classes)]


def pruning_effect(baseline: np.ndarray, ablated: np.ndarray, classes: np.ndarray,
                   concept_index: int, *, among: np.ndarray | None = None) -> dict[str, float]:
    """dA, dR, selectivity and accuracies of one ablation.

    Parameters
    ----------
    baseline, ablated : np.ndarray, shape (n, K)
        Held-out logits before and after.
    classes : np.ndarray, shape (n,)
        True class of each clip.
    concept_index : int
        The ablated class.
    among : np.ndarray, shape (m,), optional
        Classes competing for the accuracies (:func:`predictions`); default all K.

    Returns
    -------
    dict
        ``dA``, ``dR``, ``selectivity`` (dR - dA), ``acc_c_before``, ``acc_c_after``,
        ``acc_rest_before``, ``acc_rest_after``, ``n_c``, ``n_rest``, and
        ``class_change``: the mean confidence change of each class's clips
        (:func:`class_changes`; keys are class indices as strings, for JSON).
        Means over an empty group are NaN.
    """
    classes = np.asarray(classes)
    change = confidence(ablated, classes) - confidence(baseline, classes)
    is_c = classes == concept_index
    right_before = predictions(baseline, among) == classes
    right_after = predictions(ablated, among) == classes

    def mean(values: np.ndarray, mask: np.ndarray) -> float:
        return float(values[mask].mean()) if mask.any() else float("nan")

    d_a, d_r = mean(change, is_c), mean(change, ~is_c)
    return {
        "dA": d_a, "dR": d_r, "selectivity": d_r - d_a,
        "acc_c_before": mean(right_before, is_c), "acc_c_after": mean(right_after, is_c),
        "acc_rest_before": mean(right_before, ~is_c), "acc_rest_after": mean(right_after, ~is_c),
        "n_c": int(is_c.sum()), "n_rest": int((~is_c).sum()),
        "class_change": class_changes(change, classes),
    }


def class_changes(change: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Mean of `change` over the clips of each class present (paper Fig. 10's per-class drop).

    Parameters
    ----------
    change : np.ndarray, shape (n,)
        Confidence change of each held-out clip.
    classes : np.ndarray, shape (n,)
        True class index of each clip.

    Returns
    -------
    dict of str to float
        ``{str(class index): mean change}`` for the classes with clips, in class order.
    """
    classes = np.asarray(classes, dtype=np.int64)
    present, inverse, counts = np.unique(classes, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=np.asarray(change, dtype=np.float64), minlength=len(present))
    return {str(int(k)): float(v) for k, v in zip(present, sums / np.maximum(counts, 1))}


def evaluate_selection(target: Target, audio: HeldoutAudio, baseline: np.ndarray, classes: np.ndarray,
                       concept_index: int, units: Sequence[str], *, batch_size: int = 32,
                       among: np.ndarray | None = None) -> dict[str, float]:
    """Ablate `units`, run the held-out clips and measure :func:`pruning_effect` (plus ``units_pruned``).

    An empty selection changes nothing: the baseline is reused without a pass.
    """
    ablated = heldout_logits(target, audio, units=units, batch_size=batch_size) if units else baseline
    return {"units_pruned": len(units), **pruning_effect(baseline, ablated, classes, concept_index, among=among)}


# -- the table ------------------------------------------------------------------------

TABLE_COLUMNS = ("strategy", "n_concepts", "n_empty", "units_pruned", "dA", "dR", "selectivity", "vs_random",
                 "beats_random", "acc_c_before", "acc_c_after", "acc_rest_before", "acc_rest_after")
_MEASURES = ("units_pruned", "dA", "dR", "selectivity", "acc_c_before", "acc_c_after", "acc_rest_before",
             "acc_rest_after")


def table_strategy(row: Mapping[str, Any]) -> str:
    """The table row a result belongs to: its strategy, or ``"random~tab"`` for a draw sized like tab's selection."""
    reference = row.get("reference")
    if row["strategy"] == "random" and reference not in (None, "count"):
        return f"random~{reference}"
    return str(row["strategy"])


def pruning_table(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per strategy, averaged over the concepts it chose units for (random draws first over seeds).

    A concept for which a strategy chose no unit measures nothing (its changes
    are zero by construction); it is counted in ``n_empty`` and left out of the
    means, and so are the random draws sized after that selection.
    ``vs_random`` is the mean over concepts of the strategy's selectivity minus
    that of its size-matched random draws (``random~<strategy>``, mean over
    seeds), and ``beats_random`` the number of those concepts where the
    strategy's selectivity is the higher; both None without such draws.

    Parameters
    ----------
    results : sequence of dict
        Rows with ``strategy``, ``concept``, optional ``seed`` and ``reference``, and the
        measures of :func:`evaluate_selection`.

    Returns
    -------
    list of dict
        Keys :data:`TABLE_COLUMNS`, strategies in first-seen order.
    """
    by_strategy: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for row in results:
        by_strategy.setdefault(table_strategy(row), {}).setdefault(row["concept"], []).append(row)
    per_concept_means: dict[str, dict[str, np.ndarray]] = {}
    empty: dict[str, int] = {}
    for strategy, per_concept in by_strategy.items():
        kept = {c: rows for c, rows in per_concept.items() if any(int(r["units_pruned"]) > 0 for r in rows)}
        empty[strategy] = len(per_concept) - len(kept)
        per_concept_means[strategy] = {
            c: np.array([np.mean([float(r[m]) for r in rows]) for m in _MEASURES], dtype=np.float64)
            for c, rows in kept.items()}
    sel = _MEASURES.index("selectivity")
    table = []
    for strategy, means_by_concept in per_concept_means.items():
        per = np.array(list(means_by_concept.values()), dtype=np.float64).reshape(-1, len(_MEASURES))
        with np.errstate(all="ignore"):
            means = np.nanmean(per, axis=0) if len(per) else np.full(len(_MEASURES), np.nan)
        matched = per_concept_means.get(f"random~{strategy}", {})
        gains = [v[sel] - matched[c][sel] for c, v in means_by_concept.items() if c in matched]
        table.append({"strategy": strategy, "n_concepts": len(means_by_concept), "n_empty": empty[strategy],
                      **{m: float(v) for m, v in zip(_MEASURES, means)},
                      "vs_random": float(np.mean(gains)) if gains else None,
                      "beats_random": int(np.sum(np.array(gains) > 0)) if gains else None})
    return [{k: row[k] for k in TABLE_COLUMNS} for row in table]


def format_table(table: Sequence[Mapping[str, Any]]) -> str:
    """The table as aligned text, like the paper's Table 4.

    ``concepts`` counts the concepts a strategy chose units for (``+k empty``
    when it chose none for k more); ``vs random`` is the selectivity gain over
    the size-matched random draws, ``wins`` the concepts where it is positive.
    """
    head = ["strategy", "concepts", "units", "dA", "dR", "dR-dA", "vs random", "wins", "acc c before", "acc c after",
            "acc rest before", "acc rest after"]

    def num(value: Any, spec: str) -> str:
        return "-" if value is None or value != value else format(value, spec)

    lines = [[str(r["strategy"]),
              str(r["n_concepts"]) + (f" (+{r['n_empty']} empty)" if r.get("n_empty") else ""),
              num(r["units_pruned"], ".1f"), num(r["dA"], "+.3f"), num(r["dR"], "+.3f"),
              num(r["selectivity"], "+.3f"), num(r.get("vs_random"), "+.3f"), num(r.get("beats_random"), "d"),
              num(r["acc_c_before"], ".3f"), num(r["acc_c_after"], ".3f"),
              num(r["acc_rest_before"], ".3f"), num(r["acc_rest_after"], ".3f")] for r in table]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, lines)])
