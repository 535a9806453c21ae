"""LLM backend for any OpenAI-compatible chat server (vLLM, llama.cpp, ollama, OpenAI)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import chat_messages, check_params
from .http_client import ChatClient


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
        Seconds to wait for one answer.
    max_concurrency : int
        Most requests in flight at once.
    retries : int
        Extra tries after timeouts, connection errors, HTTP 5xx/408/429 and
        replies that are not JSON; other 4xx replies fail at once.
    backoff : float
        Pause before the first retry, in seconds; doubles with each retry.
    extra_body : dict, optional
        Extra request fields (e.g. ``{"top_p": 0.9}``).
    """

    def __init__(self, *, base_url: str, model: str, api_key_env: str | None = "OPENAI_API_KEY",
                 timeout: float = 60.0, max_concurrency: int = 8, retries: int = 3,
                 backoff: float = 1.0, extra_body: dict | None = None):
        self.client = ChatClient(base_url=base_url, model=model, api_key_env=api_key_env,
                                 timeout=timeout, max_concurrency=max_concurrency,
                                 retries=retries, backoff=backoff, extra_body=extra_body)
        self.name = f"http:{model}"

    def complete(self, prompts: Sequence[str], **params: Any) -> list[str]:
        """One answer per prompt, each sent as one chat; see :class:`~audiodissect.llm.base.LLM`."""
        p = check_params(params)
        conversations = [chat_messages(prompt, system=p["system"]) for prompt in prompts]
        return self.client.chat(conversations, temperature=p["temperature"],
                                max_tokens=p["max_tokens"], seed=p["seed"])

    def __repr__(self) -> str:
        return f"HttpLLM(base_url={self.client.base_url!r}, model={self.client.model!r})"
