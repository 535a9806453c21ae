"""LLM backend for any OpenAI-compatible chat server (vLLM, llama.cpp, ollama, OpenAI)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

from .answers import Answers, Completed
from .base import chat_messages, check_params
from .http_client import DEFAULT_CONCURRENCY, DEFAULT_RETRIES, DEFAULT_TIMEOUT_S, ChatClient

#: The base URL used by :func:`http_llm` when none is given and $OPENAI_BASE_URL is unset.
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"

_MODEL_AT_URL = re.compile(r"^(?P<model>.+?)@(?P<url>https?://\S+)$")

#: How users set the HTTP LLM's options, quoted in error hints.
LLM_SETTINGS = {
    "timeout": "timeout= (load_llm, HttpLLM), --llm-timeout on the command line or summarize.timeout in a config",
    "concurrency": "concurrency= (load_llm, HttpLLM) or summarize.concurrency in a config",
    "retries": "retries= (load_llm, HttpLLM) or summarize.retries in a config",
}


class HttpLLM:
    """Chat completions over HTTP: ``POST {base_url}/chat/completions``.

    Parameters
    ----------
    base_url : str
        The API root, e.g. ``http://127.0.0.1:8000/v1`` for ``vllm serve``,
        ``http://127.0.0.1:8080/v1`` for ``llama-server``,
        ``http://127.0.0.1:11434/v1`` for ollama, ``https://api.openai.com/v1``.
    model : str
        The model name the server expects.
    api_key_env : str or None
        Environment variable holding the API key, sent as a bearer token when set.
    timeout : float
        Deadline of one request (connect, send, whole answer; its retries and
        the waits between them included), in seconds; 120 by default
        (see :data:`~audiodissect.llm.http_client.DEFAULT_TIMEOUT_S`).
    concurrency : int
        Most requests in flight at once (4 by default), so that the server can batch them.
    retries : int
        Extra tries after connection errors, HTTP 5xx/408/429 and unusable
        answers (empty, null, not JSON); other 4xx replies and deadline hits
        fail at once.
    backoff : float
        Ceiling of the pause before the first retry, in seconds; doubles with each retry.
    extra_body : dict, optional
        Extra request fields (e.g. ``{"top_p": 0.9}``).
    max_concurrency : int, optional
        Older name of `concurrency`.

    Notes
    -----
    :meth:`complete` returns :class:`~audiodissect.llm.answers.Answers`: a
    list with one ``str`` per prompt, or ``None`` where the answers stayed
    unusable after the retries (the reason in ``.errors``).
    """

    def __init__(self, *, base_url: str, model: str, api_key_env: str | None = "OPENAI_API_KEY",
                 timeout: float = DEFAULT_TIMEOUT_S, concurrency: int = DEFAULT_CONCURRENCY,
                 retries: int = DEFAULT_RETRIES, backoff: float = 1.0, extra_body: dict | None = None,
                 max_concurrency: int | None = None):
        self.client = ChatClient(base_url=base_url, model=model, api_key_env=api_key_env, timeout=timeout,
                                 concurrency=concurrency, max_concurrency=max_concurrency, retries=retries,
                                 backoff=backoff, extra_body=extra_body, settings=LLM_SETTINGS)
        self.name = f"http:{model}"

    @property
    def concurrency(self) -> int:
        """Most requests in flight at once."""
        return self.client.concurrency

    def complete_iter(self, prompts: Sequence[str], **params: Any) -> Iterator[Completed]:
        """Send each prompt as one chat, :attr:`concurrency` at a time; yield each answer as it arrives.

        Yields
        ------
        Completed
            ``(index, text, None)`` or ``(index, None, reason)``, in the order answers arrive.
        """
        p = check_params(params)
        conversations = [chat_messages(prompt, system=p["system"]) for prompt in prompts]
        return self.client.chat_iter(conversations, temperature=p["temperature"],
                                     max_tokens=p["max_tokens"], seed=p["seed"])

    def complete(self, prompts: Sequence[str], **params: Any) -> Answers:
        """One answer per prompt, in order (``None`` where it failed); see :class:`~audiodissect.llm.base.LLM`."""
        return Answers.from_completed(len(prompts), self.complete_iter(prompts, **params))

    def __repr__(self) -> str:
        return f"HttpLLM(base_url={self.client.base_url!r}, model={self.client.model!r})"


def http_llm(target: str, **options: Any) -> HttpLLM:
    """An :class:`HttpLLM` for ``"<model>@<base_url>"`` or ``"<model>"``.

    Parameters
    ----------
    target : str
        ``"<model>@<base_url>"``, e.g. ``Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1``
        (the model name may contain ``:``; the URL starts at the first ``@``
        followed by ``http://`` or ``https://``), or ``"<model>"`` alone, served at
        ``$OPENAI_BASE_URL``, else :data:`DEFAULT_BASE_URL`.
    **options
        Keyword arguments of :class:`HttpLLM`.
    """
    model, base_url = http_target(target)
    return HttpLLM(base_url=base_url, model=model, **options)


def http_target(target: str) -> tuple[str, str]:
    """(model, base URL) of ``"<model>@<base_url>"`` or ``"<model>"`` (see :func:`http_llm`)."""
    match = _MODEL_AT_URL.match(target)
    if match:
        return match.group("model"), match.group("url")
    return target, os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
