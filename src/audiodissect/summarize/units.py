"""The summarise stage: per-unit summaries, calibration, open-set concepts and ICL concepts.

:func:`summarize_units` takes the probe activations of some layers and the
probe clips' descriptions, and returns one plain-data record per unit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from importlib import resources

import numpy as np

from ..cache import hash_key
from ..errors import AudioDissectError, unknown_name_error
from ..records import UnitSummary, unit_id
from ..progress import ProgressHook, default_hook
from .acoustic_filter import FILTERS, LEXICON_RESOURCE, make_acoustic_filter
from .calibration import CalibrationSettings, calibrate_summaries
from .icl import ICLSettings, choose_concepts
from .open_concepts import OpenConceptSettings, extract_open_concepts
from .summaries import SummarySettings, summarize_clip_sets
from .topk import top_bottom_clips

ICL_SUMMARIES = ("calibrated", "high")
#: Version of the stage's records for the same inputs, part of the cache key:
#: raised whenever the records change without any input changing (the
#: extractive backend's wording, the open-concept rules, the ICL statuses), so
#: a run summarised by older code is summarised again.
RECORDS_VERSION = 3


@dataclasses.dataclass(frozen=True)
class SummarizeSettings:
    """Settings of the whole summarise stage.

    Parameters
    ----------
    summary : SummarySettings
        K and the generation parameters of the summaries.
    calibration : CalibrationSettings
    open_concepts : OpenConceptSettings
    acoustic_filter : str
        ``"lexicon"`` (offline, embedding similarity to the packaged lexicon)
        or ``"llm"`` (one yes/no question per distinct adjective).
    icl : ICLSettings
    icl_summary : str
        The summary the LLM reads for ICL: ``"calibrated"`` (the method; a
        unit whose calibrated summary came out empty falls back to S_high) or
        ``"high"``.
    spacy_model : str or None
        spaCy pipeline name; default the best installed English one.
    """

    summary: SummarySettings = SummarySettings()
    calibration: CalibrationSettings = CalibrationSettings()
    open_concepts: OpenConceptSettings = OpenConceptSettings()
    acoustic_filter: str = "lexicon"
    icl: ICLSettings = ICLSettings()
    icl_summary: str = "calibrated"
    spacy_model: str | None = None

    def __post_init__(self) -> None:
        if self.acoustic_filter not in FILTERS:
            raise unknown_name_error("acoustic filter", self.acoustic_filter, FILTERS)
        if self.icl_summary not in ICL_SUMMARIES:
            raise unknown_name_error("ICL summary", self.icl_summary, ICL_SUMMARIES)


def make_summarize_settings(*, k: int = 5, threshold: float = CalibrationSettings().threshold,
                            adjective_filter: str = "lexicon", temperature: float = 0.0,
                            max_tokens: int = 256, seed: int | None = 0, icl_k: int = 5,
                            icl_min_cosine: float = ICLSettings().min_cosine,
                            icl_summary: str = "calibrated", icl_shots: int = 0, batch_size: int = 32,
                            spacy_model: str | None = None, calibration: str = "sentence",
                            contrastive: bool = False) -> SummarizeSettings:
    """A :class:`SummarizeSettings` from the flat options a command line or config file gives.

    ``temperature``, ``seed`` and ``batch_size`` apply to the summaries and to
    ICL; ICL answers get at most ``max(64, max_tokens // 4)`` tokens.
    """
    return SummarizeSettings(
        summary=SummarySettings(k=k, temperature=temperature, max_tokens=max_tokens, seed=seed,
                                batch_size=batch_size, contrastive=contrastive),
        calibration=CalibrationSettings(threshold=threshold, mode=calibration),
        acoustic_filter=adjective_filter,
        icl=ICLSettings(k=icl_k, shots=icl_shots, min_cosine=icl_min_cosine, temperature=temperature,
                        max_tokens=max(64, max_tokens // 4), seed=seed, batch_size=batch_size),
        icl_summary=icl_summary,
        spacy_model=spacy_model,
    )


def summarize_cache_key(activations_by_layer: Mapping[str, np.ndarray], descriptions: Sequence[str], *,
                        llm_name: str, embedder_name: str, concepts: Sequence[str] | None = None,
                        settings: SummarizeSettings = SummarizeSettings(),
                        units: Mapping[str, Sequence[int]] | None = None) -> str:
    """The cache key of one :func:`summarize_units` call: a digest of everything its records depend on.

    Only each unit's top and bottom clips matter, not the activation values,
    so the key hashes those; the lexicon file, the prompt templates
    (:func:`prompt_templates`) and :data:`RECORDS_VERSION` are part of it too,
    so a changed prompt is asked again and records of older code are not reused.
    """
    order = []
    for layer, acts in activations_by_layer.items():
        acts = np.asarray(acts)
        cols = acts if units is None or layer not in units else acts[:, np.asarray(units[layer], dtype=np.int64)]
        top, bottom = top_bottom_clips(cols, k=min(settings.summary.k, acts.shape[0]))
        order.append([layer, None if units is None or layer not in units else list(map(int, units[layer])),
                      top, bottom])
    lexicon = resources.files("audiodissect").joinpath("data", LEXICON_RESOURCE).read_text(encoding="utf-8")
    return hash_key("summarize", RECORDS_VERSION, order, list(descriptions), llm_name, embedder_name,
                    None if concepts is None else list(concepts), settings, lexicon, prompt_templates())


def prompt_templates() -> list[str]:
    """Every prompt the stage asks, built on placeholder inputs: a digest of the prompts' wording."""
    from .prompts import adjective_check_prompt, concept_choice_prompt, summary_prompt

    return [summary_prompt(["{description}"]), concept_choice_prompt("{summary}", ["{concept}"], k=1),
            concept_choice_prompt("{summary}", ["{concept}"], k=2), adjective_check_prompt("{word}"),
            concept_choice_prompt("{summary}", ["{concept}", "{concept}"], k=1, shots=2)]


def summarize_units(activations_by_layer: Mapping[str, np.ndarray], descriptions: Sequence[str], *,
                    llm, embedder, concepts: Sequence[str] | None = None,
                    settings: SummarizeSettings = SummarizeSettings(),
                    units: Mapping[str, Sequence[int]] | None = None,
                    hook: ProgressHook | None = None, nlp=None, acoustic_filter=None,
                    clip_ids: Sequence[str] | None = None) -> list[UnitSummary]:
    """Summarise, calibrate and name every unit of the given layers.

    Parameters
    ----------
    activations_by_layer : mapping of str to ndarray, each shape (N, U_layer)
        Probe activations per layer (module path).
    descriptions : sequence of str, length N
        One description per probe clip, in the rows' order.
    llm : object with ``complete(prompts, **params) -> list[str]`` and ``name``
        Wrap it in a cache (``CachedLLM``) to reuse answers across runs.
    embedder : object with ``encode(texts) -> (n, d)`` unit-norm rows
    concepts : sequence of str, optional
        The closed concept set for ICL; None skips ICL.
    settings : SummarizeSettings
    units : mapping of str to sequence of int, optional
        Only these unit indices per layer (a shard of the work); layers not
        named are done in full.
    hook : progress hook, optional
    nlp : spaCy Language, optional
        Default: ``settings.spacy_model``, loaded only for summaries whose tagged
        words the user cache's :class:`~audiodissect.summarize.tagging.TagStore`
        does not hold.
    acoustic_filter : object with ``judge(words) -> list[bool]``, optional
        Default: built from ``settings.acoustic_filter``.
    clip_ids : sequence of str, length N, optional
        The clips' ids in the rows' order: the records' ``top_clips`` and
        ``bottom_clips`` then hold these ids instead of row indices.

    Returns
    -------
    list of UnitSummary
        One record per unit, layers in the mapping's order, units
        ascending: ``unit`` (``"<layer>#<index>"``), ``layer``, ``index``,
        ``top_clips`` and ``bottom_clips`` (row indices into the probe rows,
        or their `clip_ids`, best first), ``s_high``, ``s_low``, ``calibrated_summary``,
        ``kept_sentences``, ``removed_sentences`` (with reasons),
        ``adjectives``, ``acoustic_adjectives``, ``nouns``, ``verbs``,
        ``prepositions``, ``summary_length``, and with `concepts` the ICL
        fields (``icl_top1``, ``icl_top1_cosine``, ``icl_status``, ``icl_answer``,
        ``icl_parsed``, ``icl_topk``, ``icl_answer_topk``, ``icl_parsed_topk``,
        ``icl_status_topk``, ``icl_summary_source``; see
        :func:`~audiodissect.summarize.icl.choose_concepts`).
    """
    hook = hook or default_hook()
    n = len(descriptions)
    if clip_ids is not None and len(clip_ids) != n:
        raise AudioDissectError(f"{len(clip_ids)} clip ids for {n} descriptions")
    ids, tops, bottoms = [], [], []
    for layer, acts in activations_by_layer.items():
        acts = np.asarray(acts)
        if acts.ndim != 2 or acts.shape[0] != n:
            raise AudioDissectError(f"activations of layer {layer!r} have shape {acts.shape}; "
                                    f"expected ({n}, units) for {n} descriptions")
        index = np.arange(acts.shape[1])
        if units is not None and layer in units:
            index = np.asarray(units[layer], dtype=np.int64).reshape(-1)
            if index.size and (index.min() < 0 or index.max() >= acts.shape[1]):
                raise AudioDissectError(f"unit index out of range for layer {layer!r} "
                                        f"with {acts.shape[1]} units")
        top, bottom = top_bottom_clips(acts[:, index], k=settings.summary.k)
        ids += [(layer, int(i)) for i in index]
        tops.append(top)
        bottoms.append(bottom)
    if not ids:
        return []
    top, bottom = np.concatenate(tops), np.concatenate(bottoms)

    s_high, s_low = summarize_clip_sets(top, bottom, descriptions, llm=llm, settings=settings.summary, hook=hook)

    m = len(ids)
    hook("calibration", None, completed=0, total=m)
    calibrated = calibrate_summaries(s_high, s_low, embedder=embedder, settings=settings.calibration)
    hook("calibration", None, completed=m, total=m)

    hook("open concepts", None, completed=0, total=m)
    summaries = [c["summary"] for c in calibrated]
    opens = extract_open_concepts(summaries, nlp=nlp, spacy_model=settings.spacy_model,
                                  settings=settings.open_concepts)
    if acoustic_filter is None:
        acoustic_filter = make_acoustic_filter(settings.acoustic_filter, embedder=embedder, llm=llm)
    adjectives = list(dict.fromkeys(a for o in opens for a in o["adjectives"]))
    acoustic = {a for a, ok in zip(adjectives, acoustic_filter.judge(adjectives)) if ok}
    hook("open concepts", None, completed=m, total=m)

    def name(rows: np.ndarray) -> list:
        return rows.tolist() if clip_ids is None else [clip_ids[r] for r in rows.tolist()]

    records = []
    for (layer, i), t, b, hi, lo, cal, op in zip(ids, top, bottom, s_high, s_low, calibrated, opens):
        records.append({
            "unit": unit_id(layer, i), "layer": layer, "index": i,
            "top_clips": name(t), "bottom_clips": name(b),
            "s_high": hi, "s_low": lo,
            "calibrated_summary": cal["summary"], "kept_sentences": cal["kept"],
            "removed_sentences": cal["removed"],
            "adjectives": op["adjectives"],
            "acoustic_adjectives": [a for a in op["adjectives"] if a in acoustic],
            "nouns": op["nouns"], "verbs": op["verbs"], "prepositions": op["prepositions"],
            "summary_length": op["length"],
        })

    if concepts is not None:
        use_high = [settings.icl_summary == "high" or not r["calibrated_summary"] for r in records]
        texts = [r["s_high"] if h else r["calibrated_summary"] for r, h in zip(records, use_high)]
        choices = choose_concepts(texts, concepts, llm=llm, embedder=embedder, settings=settings.icl, hook=hook)
        for r, h, choice in zip(records, use_high, choices):
            r.update(choice)
            r["icl_summary_source"] = "high" if h else "calibrated"
    return [UnitSummary.from_json(r) for r in records]
