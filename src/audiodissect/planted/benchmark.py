"""The planted-unit benchmark: known concepts on a hidden layer, recovered by each method.

The benchmark layer of a target with class names holds

* one :class:`~audiodissect.planted.detectors.ClassCopy` unit per class (concept:
  the class name), the main set;
* five acoustic detectors whose concepts are the descriptor words the offline
  captioner writes (:mod:`audiodissect.descriptors`), so description evidence
  can express them: ``"low-pitched"`` (periodic, f0 40-220 Hz),
  ``"high-pitched"`` (f0 880-4000 Hz), ``"noisy"`` (spectral flatness),
  ``"bright"`` (power share above 2 kHz), ``"dull"`` (power share below 500 Hz).

These detectors are defined independently of the acoustic evidence
(:mod:`audiodissect.evidence.acoustic`, whose docstring sets both side by
side): autocorrelation pitch on 1024-sample frames instead of YIN, band power
shares instead of the spectral centroid, mean instead of median flatness, so
that recovering them with that evidence measures something.

The concept set is the class names followed by :data:`ACOUSTIC_CONCEPTS`
(:func:`benchmark_concepts`). A unit is recovered at top-1 when the
identified concept is its own, at top-5 when its own is among the five best.

Measured on the default soundbank (1,598 probe clips, 17 labels) and the
demo CNN, with the published similarity functions (``bench/results/collapse.md``
compares them with the robust ones on the current soundbank) and the
offline evidence (tag bridge over YAMNet; descriptions from the
tags+descriptors captioner, MiniLM), ``audiodissect evaluate planted
--out runs/evidence_planted2``: the 17 class-copy units are recovered 94.1 %
top-1 by TAB with cos3, WPMI and soft-WPMI (16 of 17; the miss is "bass
guitar", named "synthesizer" or "noisy", as on the last layer) and 82.4 % by
DB with cos. The acoustic detectors are hard: in this probing set "noisy"
coincides with the drum kit and "dull"/"low-pitched" with the bass
instruments, and neither evidence expresses the words well (top-1 over the
five acoustic units: DB 40 % with cos, TAB 0 %: the words have no close
YAMNet tag). ``class_top1`` is the headline number; ``acoustic_top1`` shows
what the evidence cannot yet name.

Harder units (``extras`` of :func:`benchmark_setup`, :mod:`audiodissect.planted.hard`):

* ``"bands"``: three pitch bands, Gaussian tuning curves on log f0 centred
  at 110, 440 and 1760 Hz (half an octave wide), named by their register
  (low-, mid-, high-pitched): not monotonic in pitch;
* ``"registers"``: the mid register detector the acoustic set lacks
  (periodic with f0 in 220-880 Hz, "mid-pitched");
* ``"speech"``: a speech detector from the waveform ("speech");
* ``"labels"``: one unit per chosen probe label (by default the first two in
  sorted order) that is 1 on that label's clips and 0 elsewhere, named by a
  code name no tagger or captioner knows ("group 1", "group 2"); only label
  evidence renamed the same way (:attr:`BenchmarkSetup.label_names`, given to
  :class:`~audiodissect.evidence.WithLabels` as ``rename``) can name them;
* ``"cohorts"``: two units tied to hidden random cohorts of clips ("cohort a",
  "cohort b", a tenth of the clips each), like a speaker's clips: nothing in
  the audio sets them apart, so only labels that record the cohorts
  (:attr:`BenchmarkSetup.cohorts`) can name them, and without such labels a
  trustworthy namer leaves them unexplained.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import AudioDissectError, unknown_name_error
from .detectors import BandEnergy, ClassCopy, Detector, Noisiness, PitchRange
from .hard import SpeechDetector, band_detectors, cohort_detectors, label_detectors, label_names

ACOUSTIC_CONCEPTS = ("low-pitched", "high-pitched", "noisy", "bright", "dull")
TABLE_COLUMNS = ("method", "similarity", "units", "top1", "top5", "class_top1", "acoustic_top1")
#: The harder planted units :func:`benchmark_setup` can add, in table order.
EXTRAS = ("bands", "registers", "speech", "labels", "cohorts")
#: Top-1 columns of the extra groups, after :data:`TABLE_COLUMNS`.
GROUP_COLUMNS = {"band": "band_top1", "speech": "speech_top1", "label": "label_top1", "cohort": "cohort_top1"}


def acoustic_detectors() -> list[Detector]:
    """The five acoustic detectors, in :data:`ACOUSTIC_CONCEPTS` order."""
    return [PitchRange(40.0, 220.0, "low-pitched"), PitchRange(880.0, 4000.0, "high-pitched"),
            Noisiness("noisy"), BandEnergy(2000.0, 8000.0, "bright"), BandEnergy(0.0, 500.0, "dull")]


def default_detectors(class_names: Sequence[str] | None, *, acoustic: bool = True) -> list[Detector]:
    """The benchmark's planted units: one class copy per class, then the acoustic detectors."""
    detectors: list[Detector] = [ClassCopy(i, name) for i, name in enumerate(class_names or [])]
    if acoustic:
        detectors += acoustic_detectors()
    if not detectors:
        raise AudioDissectError("nothing to plant: the model has no class names and acoustic detectors are off")
    return detectors


def benchmark_concepts(class_names: Sequence[str] | None, *, acoustic: bool = True) -> list[str]:
    """The benchmark's concept set: the class names, then :data:`ACOUSTIC_CONCEPTS` (no repeats)."""
    names = list(class_names or []) + (list(ACOUSTIC_CONCEPTS) if acoustic else [])
    return list(dict.fromkeys(names))


@dataclasses.dataclass(frozen=True)
class BenchmarkSetup:
    """The planted units of a benchmark run and what naming them needs.

    Attributes
    ----------
    detectors : list of Detector
        Unit i of the planted layer is ``detectors[i]``: class copies first.
    concepts : list of str
        The concept set: the class names, the acoustic words, then the extra
        units' concepts (no repeats).
    label_names : dict of str to str
        ``{probe label: code name}`` of the label units (empty without
        ``"labels"``): give it to :class:`~audiodissect.evidence.WithLabels`
        (or :class:`~audiodissect.evidence.LabelEvidence`) as ``rename``.
    cohorts : dict of str to str
        ``{clip id: cohort}`` of the cohort units' clips (empty without ``"cohorts"``).
    """

    detectors: list[Detector]
    concepts: list[str]
    label_names: dict[str, str]
    cohorts: dict[str, str] = dataclasses.field(default_factory=dict)


def benchmark_setup(class_names: Sequence[str] | None, *, acoustic: bool = True, extras: Sequence[str] = (),
                    probe: Any = None, sample_rate: int | None = None,
                    labels: Sequence[str] | None = None) -> BenchmarkSetup:
    """The planted units and the concept set of a benchmark run, with the harder units of `extras`.

    Parameters
    ----------
    class_names : sequence of str or None
        The wrapped model's classes (one class copy each).
    acoustic : bool
        Add the five acoustic detectors.
    extras : sequence of str
        Any of :data:`EXTRAS` (see the module docstring).
    probe : ProbeSet, optional
        Needed for ``"labels"`` and ``"cohorts"``: their units fire on its clips.
    sample_rate : int, optional
        The planted layer's rate (the target's); needed for ``"labels"`` and ``"cohorts"``.
    labels : sequence of str, optional
        The probe labels that get a unit (default: the first two in sorted order).

    Returns
    -------
    BenchmarkSetup
    """
    unknown = [e for e in extras if e not in EXTRAS]
    if unknown:
        raise unknown_name_error("planted extra", unknown[0], EXTRAS)
    detectors = default_detectors(class_names, acoustic=acoustic) if (class_names or acoustic) else []
    names: dict[str, str] = {}
    cohorts: dict[str, str] = {}
    for extra in EXTRAS:
        if extra not in extras:
            continue
        if extra in ("labels", "cohorts") and (probe is None or sample_rate is None):
            raise AudioDissectError(f"{extra} units need the probing set and the target's sample rate")
        if extra == "bands":
            detectors += band_detectors()
        elif extra == "registers":
            detectors.append(PitchRange(220.0, 880.0, "mid-pitched"))
        elif extra == "speech":
            detectors.append(SpeechDetector("speech"))
        elif extra == "labels":
            names = label_names(list(labels) if labels is not None else probe.labels[:2])
            detectors += label_detectors(probe, names, sample_rate=sample_rate)
        else:
            found, cohorts = cohort_detectors(probe, sample_rate=sample_rate)
            detectors += found
    if not detectors:
        raise AudioDissectError("nothing to plant: no class names, no acoustic detectors, no extras")
    concepts = list(dict.fromkeys(benchmark_concepts(class_names, acoustic=acoustic) + [d.concept for d in detectors]))
    return BenchmarkSetup(detectors=detectors, concepts=concepts, label_names=names, cohorts=cohorts)


def recovery(scores: np.ndarray, truth: np.ndarray, *, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Whether each unit's true concept is the best one, and among the `k` best.

    Parameters
    ----------
    scores : np.ndarray, shape (U, C)
        Unit-concept scores (higher = better).
    truth : np.ndarray, shape (U,), int
        Index of each unit's true concept.
    k : int

    Returns
    -------
    top1 : np.ndarray, shape (U,), bool
    topk : np.ndarray, shape (U,), bool
        Ties count against the unit: its concept must beat every other strictly
        to be top-1, and fewer than `k` concepts may score at least as high.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    own = scores[np.arange(len(truth)), truth][:, None]          # (U, 1)
    others = np.ones_like(scores, dtype=bool)
    others[np.arange(len(truth)), truth] = False
    at_least = ((scores >= own) & others).sum(axis=1)            # concepts tying or beating it
    return at_least == 0, at_least < k


def recovery_rows(scores: Mapping[tuple[str, str], np.ndarray], truth: np.ndarray, *,
                  n_classes: int, groups: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Top-1 / top-5 recovery (percent) per (method, similarity).

    Parameters
    ----------
    scores : mapping of (method, similarity) to np.ndarray, shape (U, C)
    truth : np.ndarray, shape (U,), int
    n_classes : int
        The first `n_classes` units are class copies, the rest acoustic detectors
        (when `groups` is None).
    groups : sequence of str, length U, optional
        Each unit's :attr:`Detector.group`; with it, ``class_top1`` and
        ``acoustic_top1`` cover the units of those groups, and each other
        group present gets its column of :data:`GROUP_COLUMNS`.

    Returns
    -------
    list of dict
        Rows with :data:`TABLE_COLUMNS` (and the group columns); a group
        without units gives None.
    """
    if groups is None:
        groups = ["class"] * n_classes + ["acoustic"] * (len(truth) - n_classes)
    groups = np.asarray(list(groups))
    if groups.shape != (len(truth),):
        raise AudioDissectError(f"{groups.size} unit groups for {len(truth)} planted units")
    extra = [g for g in GROUP_COLUMNS if (groups == g).any()]
    rows = []
    for (method, similarity), s in scores.items():
        top1, top5 = recovery(s, truth)
        row = {"method": method, "similarity": similarity, "units": int(len(truth)),
               "top1": _pct(top1), "top5": _pct(top5), "class_top1": _pct(top1[groups == "class"]),
               "acoustic_top1": _pct(top1[groups == "acoustic"])}
        row.update({GROUP_COLUMNS[g]: _pct(top1[groups == g]) for g in extra})
        rows.append(row)
    return rows


def table_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """:data:`TABLE_COLUMNS` and the group columns the rows have, in order."""
    present = {key for r in rows for key in r}
    return list(TABLE_COLUMNS) + [c for c in GROUP_COLUMNS.values() if c in present]


def _pct(flags: np.ndarray) -> float | None:
    return round(100.0 * float(np.mean(flags)), 1) if len(flags) else None


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of :func:`recovery_rows`."""
    columns = table_columns(rows)
    titles = {"band_top1": "bands top-1 %", "speech_top1": "speech top-1 %", "label_top1": "labels top-1 %"}
    header = ("method", "similarity", "units", "top-1 %", "top-5 %", "classes top-1 %", "acoustic top-1 %",
              *(titles[c] for c in columns[len(TABLE_COLUMNS):]))

    def cell(v: Any) -> str:
        return "-" if v is None else str(v)

    body = [tuple(cell(r.get(c)) for c in columns) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    return "\n".join(lines) + "\n"
