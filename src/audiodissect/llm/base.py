"""The LLM protocol every text-generation backend follows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import AudioDissectError

#: The generation parameters every backend accepts in :meth:`LLM.complete`.
PARAMS = ("system", "temperature", "max_tokens", "seed")


@runtime_checkable
class LLM(Protocol):
    """A text generator.

    ``name`` identifies the backend and model (``"http:<model>"``,
    ``"llamacpp:<gguf file name>"``, ``"transformers:<model>"``,
    ``"extractive"``); it is part of the LLM cache's keys.

    ``complete(prompts, **params)`` sends each prompt as one user message of a
    chat and returns one answer per prompt, in order; a backend that can fail
    per prompt (HTTP) returns :class:`~audiodissect.llm.answers.Answers`,
    with ``None`` where a prompt got no usable answer. ``params``:
    ``system`` (a system prompt, or None), ``temperature``, ``max_tokens``,
    ``seed``.
    """

    name: str

    def complete(self, prompts: Sequence[str], **params: Any) -> list[str | None]: ...


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """Validate the generation parameters; return them with every key of :data:`PARAMS` present."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise AudioDissectError(f"unknown LLM parameter(s) {', '.join(unknown)}",
                                hint="valid: " + ", ".join(PARAMS))
    out = {key: params.get(key) for key in PARAMS}
    if out["max_tokens"] is not None and int(out["max_tokens"]) < 1:
        raise AudioDissectError(f"max_tokens must be at least 1, got {out['max_tokens']}")
    if out["temperature"] is not None and float(out["temperature"]) < 0:
        raise AudioDissectError(f"temperature must be >= 0, got {out['temperature']}")
    return out


def chat_messages(prompt: str, *, system: str | None = None) -> list[dict[str, str]]:
    """The chat for one prompt: an optional system message, then the prompt as the user message."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return messages
