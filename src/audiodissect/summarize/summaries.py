"""Summaries of what a unit's top clips, and separately its bottom clips, have in common.

For each unit the descriptions of its K most activating probe clips go into
one :func:`~audiodissect.summarize.prompts.summary_prompt` (S_high) and those of
its K least activating clips into another (S_low). By default the
descriptions are listed in clip order rather than rank order: a summary is
about what the clips share, so their order carries nothing, and units with
the same clip set (common in wide layers) then share one prompt, asked once.

Contrastive summaries (``contrastive=True``) ask instead what the top clips
share and the bottom clips lack
(:func:`~audiodissect.summarize.prompts.contrastive_summary_prompt`, both sets'
descriptions in one prompt, with the terms common in the whole probing set
and their shares, so that of the differences the rare ones come first), and
S_low the reverse: what the bottom clips share and the top clips lack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..errors import AudioDissectError
from ..progress import ProgressHook
from .batching import complete_unique


@dataclasses.dataclass(frozen=True)
class SummarySettings:
    """Settings of the summary step.

    Parameters
    ----------
    k : int
        Top and bottom clips per unit (the method: 5).
    temperature : float
        The paper sampled at 1.0; the default 0.0 makes summaries repeatable,
        which is what lets units with the same clips share one answer.
    contrastive : bool
        Summaries of what one clip set has and the other lacks (see the module docstring).
    max_tokens : int
    seed : int or None
    system : str or None
        An optional system prompt.
    batch_size : int
        Prompts per LLM call.
    share_sets : bool
        List each clip set's descriptions in clip order, so that units with
        the same set share a prompt (default); False lists them by rank.
    """

    k: int = 5
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int | None = 0
    system: str | None = None
    batch_size: int = 32
    share_sets: bool = True
    contrastive: bool = False

    def __post_init__(self) -> None:
        if self.k < 1:
            raise AudioDissectError(f"summary k must be at least 1, got {self.k}")

    @property
    def params(self) -> dict:
        return {"system": self.system, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "seed": self.seed}


def summary_prompts(top: np.ndarray, bottom: np.ndarray, descriptions: Sequence[str], *,
                    share_sets: bool = True, contrastive: bool = False) -> tuple[list[str], list[str]]:
    """The S_high and S_low prompts of every unit.

    Parameters
    ----------
    top, bottom : ndarray of int, shape (U, K)
        Indices into `descriptions` of each unit's top and bottom clips.
    descriptions : sequence of str, length N
        One description per probe clip.
    share_sets : bool
        List the descriptions in clip order (True) or in the rows' order.
    contrastive : bool
        Contrastive prompts: S_high's lists the top clips against the bottom
        ones, S_low's the bottom clips against the top ones, and both the
        probing set's base rate (:func:`~audiodissect.summarize.extractive.common_terms`
        of `descriptions`).

    Returns
    -------
    high_prompts, low_prompts : list of str, length U each
    """
    from .extractive import common_terms
    from .prompts import bullets, contrastive_prompt_of_bullets, summary_prompt_of_bullets

    top, bottom = np.asarray(top), np.asarray(bottom)
    if top.ndim != 2 or bottom.shape != top.shape:
        raise AudioDissectError(f"top and bottom must be (units, K) arrays of one shape, "
                                f"got {top.shape} and {bottom.shape}")
    n = len(descriptions)
    if top.size and (min(top.min(), bottom.min()) < 0 or max(top.max(), bottom.max()) >= n):
        raise AudioDissectError(f"clip indices out of range for {n} descriptions")
    cache: dict[tuple[tuple[int, ...], ...], str] = {}
    common = common_terms(descriptions) if contrastive else {}
    top_sets, bottom_sets = ([tuple(row) for row in (np.sort(a, axis=1) if share_sets else a).tolist()]
                             for a in (top, bottom))

    lines = bullets(descriptions)  # each description's line made once, not once per prompt that lists it

    def prompt(*sets: tuple[int, ...]) -> str:
        if sets not in cache:
            listed = [[lines[i] for i in s] for s in sets]
            cache[sets] = (contrastive_prompt_of_bullets(*listed, common) if contrastive
                           else summary_prompt_of_bullets(listed[0]))
        return cache[sets]

    if contrastive:
        return ([prompt(t, b) for t, b in zip(top_sets, bottom_sets)],
                [prompt(b, t) for t, b in zip(top_sets, bottom_sets)])
    return [prompt(t) for t in top_sets], [prompt(b) for b in bottom_sets]


def summarize_clip_sets(top: np.ndarray, bottom: np.ndarray, descriptions: Sequence[str], *, llm,
                        settings: SummarySettings = SummarySettings(),
                        hook: ProgressHook | None = None) -> tuple[list[str], list[str]]:
    """S_high and S_low of every unit (each distinct prompt asked once).

    Parameters
    ----------
    top, bottom : ndarray of int, shape (U, K)
    descriptions : sequence of str, length N
    llm : object with ``complete(prompts, **params) -> list[str]``
    settings : SummarySettings
    hook : progress hook, optional

    Returns
    -------
    high, low : list of str, length U each
    """
    high_prompts, low_prompts = summary_prompts(top, bottom, descriptions, share_sets=settings.share_sets,
                                                contrastive=settings.contrastive)
    answers = complete_unique(llm, high_prompts + low_prompts, params=settings.params,
                              batch_size=settings.batch_size, hook=hook, stage="summaries")
    u = len(high_prompts)
    return [a.strip() for a in answers[:u]], [a.strip() for a in answers[u:]]
