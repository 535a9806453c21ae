"""Sending many prompts to an LLM: identical prompts asked once, in batches, with progress."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import AudioDissectError
from ..progress import ProgressHook, default_hook


def complete_unique(llm, prompts: Sequence[str], *, params: dict[str, Any] | None = None,
                    batch_size: int = 32, hook: ProgressHook | None = None, stage: str = "llm",
                    artefact: str | None = None) -> list[str]:
    """One answer per prompt; each distinct prompt is sent once.

    Parameters
    ----------
    llm : object with ``complete(prompts, **params) -> list[str]``
    prompts : sequence of str, length M
    params : dict, optional
        Generation parameters (``system``, ``temperature``, ``max_tokens``, ``seed``).
    batch_size : int
        Distinct prompts per ``complete`` call; all of them in one call when
        `llm` fans out (its ``fans_out`` is true: it spreads them over workers itself).
    hook : progress hook, optional
        Told the number of distinct prompts answered after each batch.
    stage, artefact : str
        Names reported to `hook`.

    Returns
    -------
    list of str, length M
    """
    if batch_size < 1:
        raise AudioDissectError(f"batch_size must be at least 1, got {batch_size}")
    unique = list(dict.fromkeys(prompts))
    hook = hook or default_hook()
    hook(stage, artefact, completed=0, total=len(unique))
    answers: dict[str, str] = {}
    step = max(len(unique), 1) if getattr(llm, "fans_out", False) else batch_size
    for start in range(0, len(unique), step):
        batch = unique[start:start + step]
        replies = llm.complete(batch, **(params or {}))
        if len(replies) != len(batch):
            raise AudioDissectError(f"the LLM {getattr(llm, 'name', '')!r} returned {len(replies)} answers "
                                    f"for {len(batch)} prompts")
        answers.update(zip(batch, ("" if r is None else str(r) for r in replies)))
        hook(stage, artefact, completed=len(answers), total=len(unique))
    return [answers[p] for p in prompts]
