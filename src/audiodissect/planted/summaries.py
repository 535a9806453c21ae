"""Do the summaries of planted units say their known concept? Raw, and calibrated by each rule.

For every planted unit, S_high and S_low are written from the descriptions
of its top and bottom probe clips (:func:`~audiodissect.summarize.summaries.summarize_clip_sets`,
plain or contrastive), S_high is calibrated by the paper's sentence rule and
by the content rule (:func:`~audiodissect.summarize.calibration.calibrate_summaries`),
and each text is checked for the unit's known concept: a class name as whole
words, an acoustic word by its name or an alias, not negated
(:meth:`audiodissect.evidence.acoustic.Vocabulary.mentioned`). Calibration
that deletes the point of a summary shows as a lower share than S_high's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..evidence.acoustic import Vocabulary, load_vocabulary, normalize_word, text_words
from ..rundir import PLANTED_SUMMARIES
from ..summarize.calibration import CalibrationSettings, calibrate_summaries
from ..summarize.summaries import SummarySettings, summarize_clip_sets
from ..summarize.topk import top_bottom_clips

#: The texts checked for each unit, in table order.
KINDS = ("summary", "calibrated_sentence", "calibrated_content")
SUMMARY_COLUMNS = ("kind", "units", "all", "classes", "acoustic")


def names_concept(text: str, concept: str, vocabulary: Vocabulary) -> bool:
    """Whether `text` says `concept`: an acoustic word by name or alias (not negated), else whole words.

    "Deep and dull." names "low-pitched" when the vocabulary gives "deep" as
    its alias; "Not high-pitched." does not name "high-pitched"; "bass
    guitar" is named by "... feature bass guitar and synthesizer" but not by
    "bass".
    """
    word = vocabulary.lookup(concept)
    if word is not None:
        return any(w.word == word.word for w in vocabulary.mentioned(text))
    words = text_words(text)
    key = normalize_word(concept).split()
    return any(words[i:i + len(key)] == key for i in range(len(words) - len(key) + 1))


def planted_summaries(activations: np.ndarray, descriptions: Sequence[str], *, llm, embedder,
                      contrastive: bool = True, k: int = 5, threshold: float = CalibrationSettings().threshold
                      ) -> list[dict[str, Any]]:
    """S_high, S_low and S_high calibrated by each rule, for every planted unit.

    Parameters
    ----------
    activations : np.ndarray, shape (N, U)
        The planted layer on the probe clips.
    descriptions : sequence of str, length N
        The probe clips' descriptions, in the rows' order.
    llm : object with ``complete(prompts, **params)`` and ``name``
    embedder : TextEmbedder
        For the sentence rule.
    contrastive : bool
        Contrastive summaries (the default run's) or summaries of the top clips alone.
    k : int
        Top and bottom clips per unit.
    threshold : float
        The sentence rule's cosine threshold.

    Returns
    -------
    list of dict, length U
        ``index``, ``summary`` (S_high), ``low`` (S_low), ``calibrated_sentence`` and ``calibrated_content``.
    """
    top, bottom = top_bottom_clips(np.asarray(activations), k=min(k, len(descriptions)))
    high, low = summarize_clip_sets(top, bottom, descriptions, llm=llm,
                                    settings=SummarySettings(k=k, contrastive=contrastive))
    records = [{"index": i, "summary": h, "low": lo} for i, (h, lo) in enumerate(zip(high, low))]
    for mode in ("sentence", "content"):
        calibrated = calibrate_summaries(high, low, embedder=embedder,
                                         settings=CalibrationSettings(threshold=threshold, mode=mode))
        for record, c in zip(records, calibrated):
            record[f"calibrated_{mode}"] = c["summary"]
    return records


def summary_recall(records: Sequence[Mapping[str, Any]], truth: Sequence[str], *, n_classes: int,
                   vocabulary: Vocabulary | None = None) -> list[dict[str, Any]]:
    """Share of planted units (percent) whose summary of each kind says the unit's concept.

    Parameters
    ----------
    records : sequence of dict
        :func:`planted_summaries` records.
    truth : sequence of str, length U
        Each planted unit's concept; the first `n_classes` are class copies.
    n_classes : int
    vocabulary : Vocabulary, optional
        Default: the package's acoustic vocabulary.

    Returns
    -------
    list of dict
        One row per kind of :data:`KINDS`, with :data:`SUMMARY_COLUMNS`
        (``classes`` and ``acoustic`` are None for a group without units).
    """
    vocabulary = vocabulary or load_vocabulary()
    rows = []
    for kind in KINDS:
        hits = np.array([names_concept(r[kind], truth[r["index"]], vocabulary) for r in records], dtype=bool)
        is_class = np.array([r["index"] < n_classes for r in records], dtype=bool)
        rows.append({"kind": kind, "units": len(records), "all": _percent(hits),
                     "classes": _percent(hits[is_class]), "acoustic": _percent(hits[~is_class])})
    return rows


def _percent(hits: np.ndarray) -> float | None:
    return round(100 * float(hits.mean()), 1) if len(hits) else None


def format_summary_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of :func:`summary_recall` rows."""
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    header = f"{'summary':<20} {'units':>5} {'names concept %':>16} {'classes %':>10} {'acoustic %':>11}"
    lines = [header, "-" * len(header)]
    lines += [f"{r['kind']:<20} {r['units']:>5} {cell(r['all']):>16} {cell(r['classes']):>10} "
              f"{cell(r['acoustic']):>11}" for r in rows]
    return "\n".join(lines)


def write_planted_summaries(run: Any, records: Sequence[Mapping[str, Any]], truth: Sequence[str],
                            rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``planted/summary_texts.jsonl`` (each unit's texts and concept) and ``planted/summaries.csv``."""
    import csv
    import io

    from ..cache import atomic_path, write_jsonl
    from ..rundir import PLANTED_SUMMARY_TEXTS, unit_id
    from .model import PLANTED_LAYER

    write_jsonl(run.file(PLANTED_SUMMARY_TEXTS), [{"unit": unit_id(PLANTED_LAYER, r["index"]),
                                                   "truth": truth[r["index"]], **r} for r in records])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SUMMARY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(run.file(PLANTED_SUMMARIES)) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
