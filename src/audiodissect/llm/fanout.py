"""An LLM backend whose prompts are answered by an executor's workers, a batch of prompts per task.

:class:`FannedOutLLM` stands where a backend stands (under a
:class:`~audiodissect.llm.cached.CachedLLM`, which keeps the answer cache in
the calling process): each call's prompts are cut into batches, and each
batch goes to a worker that built the backend once with a picklable factory
(e.g. ``functools.partial(load_llm, spec, **options)``) and answers it as the
backend would answer it in process. Answers come back in prompt order, a failed
prompt as ``None`` with its reason, exactly as from the backend itself, so
the cache, the failure counts and the records are the same as in process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import AudioDissectError
from ..executor import Executor
from .answers import Answers, Completed
from .base import LLM, check_params

#: Prompts per task by default.
PROMPTS_PER_TASK = 32


class FannedOutLLM:
    """Answers prompts on the workers of `executor`, `batch_size` prompts per task.

    Parameters
    ----------
    build : callable
        Builds the backend, once per worker: picklable and without arguments,
        e.g. ``functools.partial(load_llm, spec, timeout=..., retries=...)``.
    executor : Executor
        Where the batches run (on Ray: one backend per worker, batches handed
        to idle workers; a batch whose worker died is asked again).
    batch_size : int
        Prompts per task.
    name : str, optional
        The backend's ``name`` (it keys the answer cache); by default that of
        the backend built here with `build` (backends load their models
        lazily, so this costs nothing).

    Attributes
    ----------
    fans_out : bool
        True: callers should hand over all their prompts in one call, which
        this backend spreads over the workers itself.
    commit_points : bool
        True: :meth:`complete_iter` marks the end of each batch (its answers
        arrive together), where an answer cache commits them.
    """

    fans_out = True
    commit_points = True

    def __init__(self, build: Callable[[], LLM], *, executor: Executor, batch_size: int = PROMPTS_PER_TASK,
                 name: str | None = None):
        if int(batch_size) != batch_size or batch_size < 1:
            raise AudioDissectError(f"prompts per task must be a whole number of at least 1, got {batch_size!r}")
        self.build = build
        self.executor = executor
        self.batch_size = int(batch_size)
        self.name = name if name is not None else build().name

    def complete_iter(self, prompts: Sequence[str], **params: Any) -> Iterator[Completed]:
        """Answer `prompts` on the workers; yield each answer, in prompt order, as its batch returns.

        Yields
        ------
        Completed
            ``(index, text, None)`` or ``(index, None, reason)`` for each of the prompts, and
            ``(-1, None, "batch end")`` after each batch's answers.
        """
        check_params(params)
        prompts = list(prompts)
        starts = list(range(0, len(prompts), self.batch_size))
        batches = [prompts[start:start + self.batch_size] for start in starts]
        answered = self.executor.map(AnswerBatch(self.name, dict(params)), batches, setup=self.build)
        for start, (texts, errors) in zip(starts, answered):
            for offset, text in enumerate(texts):
                yield Completed(start + offset, text, errors.get(offset))
            yield Completed(-1, None, "batch end")

    def complete(self, prompts: Sequence[str], **params: Any) -> Answers:
        """One answer per prompt, in order (``None`` where it failed); see :class:`~audiodissect.llm.base.LLM`."""
        return Answers.from_completed(len(prompts), self.complete_iter(prompts, **params))

    def __repr__(self) -> str:
        return f"FannedOutLLM({self.name!r}, executor={self.executor.describe()!r})"


@dataclasses.dataclass(frozen=True)
class AnswerBatch:
    """A worker's task: one batch of prompts asked of its backend with fixed generation parameters.

    Called as ``answer(backend, prompts)``; returns ``(texts, errors)``: one
    answer per prompt (None where it failed) and the failure reasons by
    position. A streaming backend (HTTP) is asked through ``complete_iter``,
    with its own concurrency; any other through ``complete``. Asking again
    (a retried batch) changes nothing, so it is idempotent.

    Parameters
    ----------
    name : str
        The backend name the caller expects; a worker whose backend has
        another name refuses the batch (its answers would be cached under
        the wrong name).
    params : dict
        Generation parameters (``system``, ``temperature``, ``max_tokens``, ``seed``).
    """

    name: str
    params: dict[str, Any]

    def __call__(self, backend: Any, prompts: list[str]) -> tuple[list[str | None], dict[int, str]]:
        if backend.name != self.name:
            raise AudioDissectError(f"a worker built the LLM {backend.name!r}, not {self.name!r}",
                                    hint="give every worker the same LLM factory")
        texts: list[str | None] = [None] * len(prompts)
        errors: dict[int, str] = {}
        if hasattr(backend, "complete_iter"):
            for item in backend.complete_iter(prompts, **self.params):
                texts[item.index] = item.text
                if item.error is not None:
                    errors[item.index] = item.error
            return texts, errors
        replies = backend.complete(prompts, **self.params)
        if len(replies) != len(prompts):
            raise AudioDissectError(f"{backend.name} returned {len(replies)} answers for {len(prompts)} prompts")
        reasons = getattr(replies, "errors", {})
        for i, reply in enumerate(replies):
            texts[i] = None if reply is None else str(reply)
            if i in reasons:
                errors[i] = reasons[i]
        return texts, errors
