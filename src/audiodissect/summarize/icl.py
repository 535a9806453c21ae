"""Module A by in-context learning: an LLM picks a unit's concept from its summary.

The LLM reads the concept list and the unit's (calibrated) summary
(:func:`~audiodissect.summarize.prompts.concept_choice_prompt`) and names one
concept, or `k` concepts best first. Its free answers are read with
:func:`~audiodissect.summarize.prompts.parse_concepts` and each is mapped to the
nearest concept: an exact match (ignoring case and surrounding space) wins,
otherwise the largest cosine between the sentence embeddings of
"This is an audio about {answer}" and "This is an audio about {concept}".
An answer with no readable concept, or whose best cosine is below
``min_cosine``, leaves the unit without one (None), and the raw answer is
kept.

On ``min_cosine``. The method maps every answer to its nearest concept.
With all-MiniLM-L6-v2 and the 50 ESC-50 class names, refusals ("I cannot
tell", "I don't know", "None of the concepts fit") still reach cosines of
0.60-0.68 with some concept, and off-list answers ("music", "noise",
"brass trumpet sound") 0.67-0.73; paraphrases of a listed class ("canine
barking", "heavy rainfall", "somebody knocking", "ticking") reach 0.79-0.93.
The default 0.75 keeps the paraphrases and turns the others into None; set
it to -1 to map every answer, as the method does.

Copied lists. A small model (SmolLM2-135M) often answers by repeating the
first candidates of the prompt's list in their order. An answer whose names
are exactly the first n >= 3 concepts of the list, in order (case and
surrounding space ignored; :func:`is_copied_list`), gets the status
``"copied_list"`` instead of ``"matched"``: its concepts say nothing about
the unit. The mapped concepts are still recorded.

Zero-shot or two-shot. By default the prompt holds no worked example
(``ICLSettings.shots = 0``). The paper's ICL shows two worked examples first
and gives the LLM the raw summary of the top clips (S_high): set
``shots=2`` here and ``icl_summary="high"`` in
:class:`~audiodissect.summarize.units.SummarizeSettings` for that procedure.
The examples are built from the concept list
(:mod:`audiodissect.summarize.icl_examples`); a weak model may answer an
example's concept whatever the summary, so compare the answers' spread
with the zero-shot run's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..errors import AudioDissectError
from ..progress import ProgressHook
from .batching import complete_unique

#: The sentence answers and concepts are embedded in before matching.
MATCH_TEMPLATE = "This is an audio about {}"
#: Least cosine between an answer and its nearest concept for a match.
DEFAULT_MIN_COSINE = 0.75
#: Fewest names of an answer that, being the start of the candidate list, make it a copied list.
COPIED_LIST_MIN = 3


@dataclasses.dataclass(frozen=True)
class ICLSettings:
    """Settings of in-context concept choice.

    Parameters
    ----------
    k : int
        Concepts asked for in the second question (0: ask only for one).
    shots : int
        Worked examples before the unit's summary: 0 (zero-shot, the default)
        up to :data:`~audiodissect.summarize.icl_examples.MAX_SHOTS`; the paper uses 2.
    template : str
        Sentence with ``{}`` used to match answers to concepts.
    min_cosine : float
        Least cosine of a match (see the module docstring); -1 maps every answer.
    temperature, max_tokens, seed
        Generation parameters.
    batch_size : int
        Prompts per LLM call.
    """

    k: int = 5
    shots: int = 0
    template: str = MATCH_TEMPLATE
    min_cosine: float = DEFAULT_MIN_COSINE
    temperature: float = 0.0
    max_tokens: int = 64
    seed: int | None = 0
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.k < 0:
            raise AudioDissectError(f"ICL k must be >= 0, got {self.k}")
        from .icl_examples import MAX_SHOTS

        if isinstance(self.shots, bool) or not isinstance(self.shots, int) or not 0 <= self.shots <= MAX_SHOTS:
            raise AudioDissectError(f"ICL shots must be an integer in 0..{MAX_SHOTS}, got {self.shots!r}",
                                    hint="0 asks zero-shot; 2 shows the paper's two worked examples")
        if "{}" not in self.template:
            raise AudioDissectError(f"the ICL template needs a '{{}}', got {self.template!r}")


def map_to_concepts(answers: Sequence[str], concepts: Sequence[str], *, embedder,
                    template: str = MATCH_TEMPLATE, min_cosine: float = -1.0
                    ) -> tuple[list[str | None], np.ndarray]:
    """The nearest concept of each free answer.

    Parameters
    ----------
    answers : sequence of str, length A
    concepts : sequence of str, length C
    embedder : object with ``encode(texts) -> (n, d)`` unit-norm rows
    template : str
    min_cosine : float
        Answers whose nearest concept is less similar than this get None
        (exact matches always count).

    Returns
    -------
    matched : list of str or None, length A
    cosine : ndarray of float, shape (A,)
        Cosine of each answer with its nearest concept (1.0 for an exact match).
    """
    concepts = list(concepts)
    if not concepts:
        raise AudioDissectError("cannot map answers to an empty concept list")
    if not answers:
        return [], np.zeros(0, dtype=np.float64)
    exact = {c.strip().lower(): i for i, c in reversed(list(enumerate(concepts)))}
    a = embedder.encode([template.format(x) for x in answers]).astype(np.float64)
    c = embedder.encode([template.format(x) for x in concepts]).astype(np.float64)
    sims = a @ c.T  # (A, C)
    best = sims.argmax(axis=1)
    cosine = sims[np.arange(len(answers)), best]
    for i, answer in enumerate(answers):
        j = exact.get(str(answer).strip().lower())
        if j is not None:
            best[i], cosine[i] = j, 1.0
    return [concepts[j] if c >= min_cosine else None for j, c in zip(best, cosine)], cosine


def is_copied_list(names: Sequence[str], concepts: Sequence[str], *, min_length: int = COPIED_LIST_MIN) -> bool:
    """Whether `names` are exactly the first ``len(names)`` `concepts`, in order, and at least `min_length`.

    Parameters
    ----------
    names : sequence of str
        The names read from one answer, in the answer's order.
    concepts : sequence of str
        The candidate list in the prompt's order.
    min_length : int

    Returns
    -------
    bool
        Case and surrounding white space are ignored.
    """
    if len(names) < min_length or len(names) > len(concepts):
        return False
    return all(str(a).strip().lower() == str(c).strip().lower() for a, c in zip(names, concepts))


def _status(answer: str, names: Sequence[str], mapped: Sequence[str | None], copied: bool) -> str:
    from .prompts import says_none

    if not names:
        return "none" if says_none(answer) else "unparsed"
    if copied:
        return "copied_list"
    return "matched" if any(m is not None for m in mapped) else "unmatched"


def choose_concepts(summaries: Sequence[str], concepts: Sequence[str], *, llm, embedder,
                    settings: ICLSettings = ICLSettings(), hook: ProgressHook | None = None) -> list[dict]:
    """Ask the LLM for each summary's concept (and top `k`) and map the answers to `concepts`.

    Parameters
    ----------
    summaries : sequence of str, length M
    concepts : sequence of str
    llm : object with ``complete(prompts, **params) -> list[str]``
    embedder : object with ``encode(texts) -> (n, d)`` unit-norm rows
    settings : ICLSettings
    hook : progress hook, optional

    Returns
    -------
    list of dict, length M
        ``icl_top1`` (concept or None), ``icl_top1_cosine`` (float or None),
        ``icl_status`` (``"matched"``; ``"unmatched"``: a name was read but no
        concept is near it; ``"none"``: the answer declines ("none", "None of
        the above"); ``"unparsed"``: no name could be read;
        ``"copied_list"``: the answer lists the first 3 or more candidates in
        the prompt's order, see the module docstring), ``icl_answer`` (raw
        answer), ``icl_parsed`` (names read from it), and when ``settings.k``
        > 0: ``icl_topk`` (up to k distinct concepts, best first),
        ``icl_answer_topk``, ``icl_parsed_topk`` and ``icl_status_topk`` (the
        same statuses for the top-k answer; "matched" when any name maps).
    """
    from .prompts import concept_choice_prompt, parse_concepts

    concepts = list(concepts)
    params = {"temperature": settings.temperature, "max_tokens": settings.max_tokens, "seed": settings.seed}
    ks = sorted({1, settings.k} - {0})
    raw: dict[int, list[str]] = {}
    for k in ks:  # units share summaries and answers: each distinct one is worded and read once
        worded = {text: concept_choice_prompt(text, concepts, k=k, shots=settings.shots)
                  for text in dict.fromkeys(summaries)}
        raw[k] = complete_unique(llm, [worded[text] for text in summaries], params=params,
                                 batch_size=settings.batch_size, hook=hook, stage="icl", artefact=f"top{k}")
    # every name an answer lists, however many were asked for, to tell a copied candidate list
    listed = {k: {answer: parse_concepts(answer, len(concepts)) for answer in dict.fromkeys(raw[k])} for k in ks}
    copies = {k: {answer: is_copied_list(names, concepts) for answer, names in listed[k].items()} for k in ks}
    parsed = {k: [listed[k][answer][:k] for answer in raw[k]] for k in ks}
    copied = {k: [copies[k][answer] for answer in raw[k]] for k in ks}
    names = list(dict.fromkeys(name for k in ks for items in parsed[k] for name in items))
    matched, cosine = map_to_concepts(names, concepts, embedder=embedder, template=settings.template,
                                      min_cosine=settings.min_cosine)
    lookup = {name: (m, float(c)) for name, m, c in zip(names, matched, cosine)}
    records = []
    for i in range(len(summaries)):
        first = parsed[1][i]
        top1 = lookup[first[0]] if first else (None, None)
        status = _status(raw[1][i], first, [top1[0]], copied[1][i])
        record = {"icl_top1": top1[0], "icl_top1_cosine": None if top1[1] is None else round(top1[1], 4),
                  "icl_status": status, "icl_answer": raw[1][i], "icl_parsed": first}
        if settings.k > 0:
            mapped = [lookup[name][0] for name in parsed[settings.k][i]]
            record["icl_topk"] = list(dict.fromkeys(m for m in mapped if m is not None))
            record["icl_answer_topk"] = raw[settings.k][i]
            record["icl_parsed_topk"] = parsed[settings.k][i]
            record["icl_status_topk"] = _status(raw[settings.k][i], parsed[settings.k][i], mapped,
                                                copied[settings.k][i])
        records.append(record)
    return records


def chosen_concepts(record: dict) -> list[str]:
    """The concepts a unit's ICL answers chose: the top-1 answer's, then the top-k answer's others.

    An answer with the status ``"copied_list"`` chose nothing and adds none.

    Parameters
    ----------
    record : dict
        A record of :func:`choose_concepts` (or a summarize record holding its fields).
    """
    top1 = record.get("icl_top1") if record.get("icl_status") != "copied_list" else None
    topk = (record.get("icl_topk") or []) if record.get("icl_status_topk") != "copied_list" else []
    return list(dict.fromkeys(c for c in [top1, *topk] if c))

