"""A small OpenAI-compatible chat client: retries, backoff, timeouts, bounded concurrency.

Standard library only (``urllib`` and a thread pool). Shared by the HTTP LLM
backend and the HTTP audio captioner. It speaks the ``/chat/completions``
protocol served by vLLM, llama.cpp's ``llama-server``, ollama (``/v1``),
SGLang, TGI and OpenAI.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..errors import AudioDissectError

T = TypeVar("T")
R = TypeVar("R")

#: HTTP status codes worth another try: request timeout, rate limit and server errors.
RETRY_STATUS = frozenset({408, 429})

#: The longest pause between two tries, in seconds.
MAX_BACKOFF_S = 30.0


class _Retryable(Exception):
    """A failure that another try may cure (timeout, 5xx, dropped connection, bad JSON)."""


def backoff_delay(attempt: int, *, backoff: float) -> float:
    """Seconds to wait before retry number `attempt` (0-based): ``backoff * 2**attempt``, capped."""
    return min(backoff * (2.0 ** attempt), MAX_BACKOFF_S)


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message", err))[:300]
        return str(err)[:300]
    return str(data)[:300]


def _post_once(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read() if exc.fp is not None else b""
        detail = _error_message(raw)
        if exc.code >= 500 or exc.code in RETRY_STATUS:
            raise _Retryable(f"HTTP {exc.code} from {url}: {detail}") from exc
        if exc.code in (401, 403):
            raise AudioDissectError(
                f"the server at {url} refused the request (HTTP {exc.code}: {detail})",
                hint="set the API key in the environment variable named by api_key_env "
                     "(OPENAI_API_KEY by default)") from exc
        if exc.code == 404:
            raise AudioDissectError(
                f"no chat endpoint at {url} (HTTP 404: {detail})",
                hint="base_url usually ends in /v1, e.g. http://127.0.0.1:8000/v1; "
                     "also check the model name") from exc
        raise AudioDissectError(f"the server at {url} rejected the request (HTTP {exc.code}: {detail})") from exc
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError,
            http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Retryable(f"cannot reach {url}: {reason!r}") from exc
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Retryable(f"malformed JSON from {url}: {raw[:120]!r}") from exc


def post_json(url: str, payload: dict, *, headers: dict[str, str] | None = None, timeout: float = 60.0,
              retries: int = 3, backoff: float = 1.0,
              sleep: Callable[[float], None] = time.sleep) -> Any:
    """POST `payload` as JSON and return the decoded JSON reply.

    Timeouts, dropped connections, HTTP 5xx / 408 / 429 and replies that are
    not JSON are tried again, up to `retries` more times, waiting
    ``backoff * 2**attempt`` seconds in between. Other 4xx replies fail at once.

    Raises
    ------
    AudioDissectError
        When the server refuses the request, or still fails after the retries.
    """
    body = json.dumps(payload).encode("utf-8")
    all_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    all_headers.update(headers or {})
    last: _Retryable | None = None
    for attempt in range(retries + 1):
        try:
            return _post_once(url, body, all_headers, timeout)
        except _Retryable as exc:
            last = exc
            if attempt < retries:
                sleep(backoff_delay(attempt, backoff=backoff))
    raise AudioDissectError(f"request failed after {retries + 1} tries: {last}",
                            hint="is the server running and the base_url right? "
                                 "a slow model may need a longer timeout")


def map_bounded(fn: Callable[[T], R], items: Sequence[T], *, max_concurrency: int) -> list[R]:
    """``[fn(x) for x in items]`` with at most `max_concurrency` calls running at once, in order."""
    if max_concurrency < 1:
        raise AudioDissectError(f"max_concurrency must be at least 1, got {max_concurrency}")
    items = list(items)
    if len(items) <= 1 or max_concurrency == 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(max_concurrency, len(items))) as pool:
        return list(pool.map(fn, items))


class ChatClient:
    """Sends chat requests to ``{base_url}/chat/completions``.

    Parameters
    ----------
    base_url : str
        The API root, e.g. ``http://127.0.0.1:8000/v1`` (vLLM),
        ``http://127.0.0.1:11434/v1`` (ollama) or ``https://api.openai.com/v1``.
    model : str
        The model name the server expects.
    api_key_env : str or None
        Name of the environment variable holding the API key (sent as a bearer
        token when set); local servers usually need none.
    timeout : float
        Seconds to wait for one reply.
    max_concurrency : int
        Most requests in flight at once.
    retries : int
        Extra tries after a timeout, connection error, 5xx or malformed reply.
    backoff : float
        Base pause in seconds; doubles with each retry.
    extra_body : dict, optional
        Extra fields merged into every request (server-specific options).
    """

    def __init__(self, *, base_url: str, model: str, api_key_env: str | None = "OPENAI_API_KEY",
                 timeout: float = 60.0, max_concurrency: int = 8, retries: int = 3,
                 backoff: float = 1.0, extra_body: dict | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise AudioDissectError(f"base_url must start with http:// or https://, got {base_url!r}")
        if max_concurrency < 1:
            raise AudioDissectError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.backoff = backoff
        self.extra_body = dict(extra_body or {})

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    def payload(self, messages: list[dict], *, temperature: float | None = None,
                max_tokens: int | None = None, seed: int | None = None) -> dict:
        """The request body for one conversation (fields left as None are omitted)."""
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        for key, value in (("temperature", temperature), ("max_tokens", max_tokens), ("seed", seed)):
            if value is not None:
                body[key] = value
        body.update(self.extra_body)
        return body

    def chat_one(self, messages: list[dict], **params) -> str:
        """Send one conversation; return the first choice's message text."""
        reply = post_json(self.url, self.payload(messages, **params), headers=self._headers(),
                          timeout=self.timeout, retries=self.retries, backoff=self.backoff)
        return message_text(reply, url=self.url)

    def chat(self, conversations: Sequence[list[dict]], **params) -> list[str]:
        """Send many conversations with bounded concurrency; one text per conversation, in order."""
        return map_bounded(lambda messages: self.chat_one(messages, **params), conversations,
                           max_concurrency=self.max_concurrency)


def message_text(reply: Any, *, url: str = "the server") -> str:
    """The text of the first choice of a chat-completions reply, stripped of outer white space."""
    if isinstance(reply, dict) and "error" in reply and "choices" not in reply:
        raise AudioDissectError(f"{url} answered with an error: {_error_message(json.dumps(reply).encode())}")
    choices = reply.get("choices") if isinstance(reply, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise AudioDissectError(f"the reply from {url} has no choices: {str(reply)[:200]}",
                                hint="is this an OpenAI-compatible /chat/completions endpoint?")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise AudioDissectError(f"the first choice from {url} has no message: {str(choices[0])[:200]}")
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict)).strip()
    return str(content).strip()
