"""A small OpenAI-compatible chat client: deadlines, retries, answer checks, bounded concurrency.

Standard library only. Shared by the HTTP LLM backend and the HTTP audio
captioner. It speaks the ``/chat/completions`` protocol served by vLLM,
llama.cpp's ``llama-server``, ollama (``/v1``), SGLang, TGI and OpenAI.

What happens to one request (:meth:`ChatClient.ask`):

- it gets ``timeout`` seconds in all: every try (connect, send, the complete
  answer, enforced even when a server trickles bytes), every retry and every
  wait between tries;
- a deadline hit fails at once (trying again would multiply a long wait):
  :class:`~audiodissect.errors.AudioDissectError` naming the setting to raise;
- refused or dropped connections and HTTP 5xx / 408 / 429 are tried again
  up to ``retries`` times, with jittered exponential backoff, waiting as long
  as a ``Retry-After`` header asks on 429 and 503 unless that wait would
  pass the deadline (then it fails at once, saying so); when they persist,
  an AudioDissectError says status, attempts and elapsed time;
- an answer that is empty, ``null``, not JSON or without choices is tried
  again too, and if it stays unusable the item fails alone
  (:class:`AnswerFailure`), so a batch of requests still finishes;
- other 4xx replies (bad key, wrong URL, bad request) fail at once.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import AudioDissectError
from .answers import Answers, Completed
from .bounded import check_concurrency, iter_bounded, map_bounded  # noqa: F401  (map_bounded re-exported)
from .http_transport import Aborter, Cancelled, DeadlineExceeded, TransportError, is_loopback_host, post
from .retry import backoff_delay, jittered_delay, retry_after_seconds, should_retry_status  # noqa: F401

log = logging.getLogger("audiodissect")

#: Default deadline of one request, in seconds: room for a 7B-70B model on a
#: busy server to write a few hundred tokens (at 5 tokens/s, 512 tokens take
#: about 100 s), yet a dead or hung server is noticed within two minutes.
DEFAULT_TIMEOUT_S = 120.0

#: Default number of requests in flight for HTTP backends (vLLM and llama.cpp batch them).
DEFAULT_CONCURRENCY = 4

#: Default number of extra tries after a retryable failure.
DEFAULT_RETRIES = 3


class AnswerFailure(AudioDissectError):
    """One request kept getting an unusable answer (empty, null, not JSON, no choices)."""


class InvalidAnswer(ValueError):
    """A reply that carries no usable answer text."""


class _Retry(Exception):
    """A failed try that another try may cure."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 bad_answer: bool = False):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.bad_answer = bad_answer


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


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict)).strip()
    return str(content).strip()


def message_text(reply: Any, *, url: str = "the server") -> str:
    """The text of the first choice of a chat-completions reply, stripped (``""`` for null content).

    Raises
    ------
    AudioDissectError
        When the reply is an error or has no choices.
    """
    if isinstance(reply, dict) and "error" in reply and "choices" not in reply:
        raise AudioDissectError(f"{url} answered with an error: {_error_message(json.dumps(reply).encode())}")
    choices = reply.get("choices") if isinstance(reply, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise AudioDissectError(f"the reply from {url} has no choices: {str(reply)[:200]}",
                                hint="is this an OpenAI-compatible /chat/completions endpoint?")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise AudioDissectError(f"the first choice from {url} has no message: {str(choices[0])[:200]}")
    return _content_text(message.get("content"))


def answer_text(body: bytes) -> str:
    """The answer in a raw chat-completions response body, which must be usable.

    Raises
    ------
    InvalidAnswer
        When the body is not JSON, is an error object, has no choices or no
        message, or the content is null, empty or only white space.
    """
    try:
        reply = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidAnswer(f"the reply is not JSON: {body[:80]!r}") from None
    if isinstance(reply, dict) and "error" in reply and "choices" not in reply:
        raise InvalidAnswer(f"the reply is an error: {_error_message(body)}")
    choices = reply.get("choices") if isinstance(reply, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise InvalidAnswer(f"the reply has no choices: {str(reply)[:120]}")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise InvalidAnswer(f"the first choice has no message: {str(choices[0])[:120]}")
    content = message.get("content")
    text = _content_text(content)
    if not text:
        what = "null" if content is None else "empty"
        more = (" (finish_reason 'length': max_tokens ran out, e.g. while a reasoning model was thinking)"
                if choices[0].get("finish_reason") == "length" else "")
        raise InvalidAnswer(f"the answer content is {what}{more}")
    return text


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
        token when set); local servers usually need none. A key about to go
        over plain ``http://`` to a host that is not loopback is logged as a
        warning, once per client.
    timeout : float
        Deadline of one request in seconds: every try (connect, send and the
        whole answer), its retries and the waits between them; see
        :data:`DEFAULT_TIMEOUT_S`.
    concurrency : int
        Most requests in flight at once.
    retries : int
        Extra tries after a connection error, HTTP 5xx/408/429 or an unusable answer.
    backoff : float
        Ceiling of the first pause between tries, in seconds; doubles with each
        retry (the pause is drawn from the upper half of the ceiling).
    extra_body : dict, optional
        Extra fields merged into every request (server-specific options).
    max_concurrency : int, optional
        Older name of `concurrency`; wins when given.
    settings : dict, optional
        How the caller's user sets ``timeout``, ``concurrency`` and ``retries``
        (API and command-line names), quoted in error hints.
    sleep : callable, optional
        Waits between tries (for tests); by default a wait that Ctrl-C and
        cancellation cut short.
    """

    def __init__(self, *, base_url: str, model: str, api_key_env: str | None = "OPENAI_API_KEY",
                 timeout: float = DEFAULT_TIMEOUT_S, concurrency: int = DEFAULT_CONCURRENCY,
                 retries: int = DEFAULT_RETRIES, backoff: float = 1.0, extra_body: dict | None = None,
                 max_concurrency: int | None = None, settings: dict[str, str] | None = None,
                 sleep: Callable[[float], None] | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise AudioDissectError(f"base_url must start with http:// or https://, got {base_url!r}")
        if not timeout or timeout <= 0:
            raise AudioDissectError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if int(retries) != retries or retries < 0:
            raise AudioDissectError(f"retries must be a whole number >= 0, got {retries!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.concurrency = check_concurrency(max_concurrency if max_concurrency is not None else concurrency)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.extra_body = dict(extra_body or {})
        self.settings = {"timeout": "timeout=", "concurrency": "concurrency=", "retries": "retries=",
                         **(settings or {})}
        self._sleep = sleep
        self._rng = random.Random()
        self._warned = False
        self._warn_lock = threading.Lock()

    @property
    def max_concurrency(self) -> int:
        """Older name of :attr:`concurrency`."""
        return self.concurrency

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            parts = urllib.parse.urlsplit(self.base_url)
            plain = parts.scheme == "http" and not is_loopback_host(parts.hostname or "")
            with self._warn_lock:
                first, self._warned = plain and not self._warned, self._warned or plain
            if first:
                log.warning("the API key in $%s is sent over plain http:// to %s, readable by anyone on the "
                            "network path; use https://, or unset %s if the server needs no key",
                            self.api_key_env, parts.hostname, self.api_key_env)
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def payload(self, messages: list[dict], *, temperature: float | None = None,
                max_tokens: int | None = None, seed: int | None = None) -> dict:
        """The request body for one conversation (fields left as None are omitted)."""
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        for key, value in (("temperature", temperature), ("max_tokens", max_tokens), ("seed", seed)):
            if value is not None:
                body[key] = value
        body.update(self.extra_body)
        return body

    def _try_once(self, body: bytes, headers: dict[str, str], aborter: Aborter | None, *, timeout: float) -> str:
        url = self.url
        try:
            reply = post(url, body, headers, timeout=timeout, aborter=aborter)
        except (DeadlineExceeded, Cancelled):
            raise
        except TransportError as exc:
            raise _Retry(f"cannot reach {url}: {exc}") from exc
        if reply.status >= 400:
            detail = _error_message(reply.body)
            if should_retry_status(reply.status):
                wait = (retry_after_seconds(reply.headers.get("retry-after"))
                        if reply.status in (429, 503) else None)
                raise _Retry(f"HTTP {reply.status} from {url}: {detail}", status=reply.status, retry_after=wait)
            if reply.status in (401, 403):
                raise AudioDissectError(
                    f"the server at {url} refused the request (HTTP {reply.status}: {detail})",
                    hint=f"set the API key in the environment variable named by api_key_env "
                         f"(now {self.api_key_env!r}; OPENAI_API_KEY by default)")
            if reply.status == 404:
                raise AudioDissectError(f"no chat endpoint at {url} (HTTP 404: {detail})",
                                        hint="base_url usually ends in /v1, e.g. http://127.0.0.1:8000/v1; "
                                             "also check the model name")
            raise AudioDissectError(f"the server at {url} rejected the request (HTTP {reply.status}: {detail})")
        try:
            return answer_text(reply.body)
        except InvalidAnswer as exc:
            raise _Retry(str(exc), status=reply.status, bad_answer=True) from None

    def _wait(self, seconds: float, aborter: Aborter | None) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif aborter is not None:
            if aborter.event.wait(seconds):
                raise Cancelled("cancelled")
        else:
            time.sleep(seconds)

    def ask(self, messages: list[dict], *, aborter: Aborter | None = None, **params: Any) -> str:
        """Send one conversation; return the first choice's text (never empty).

        Parameters
        ----------
        messages : list of dict
            The chat (``{"role": ..., "content": ...}``).
        aborter : Aborter, optional
            Cuts the request and its retries short when triggered.
        **params
            ``temperature``, ``max_tokens``, ``seed``.

        Raises
        ------
        AnswerFailure
            When every try got an unusable answer.
        AudioDissectError
            When the deadline passed, the server refused the request, or
            retryable failures persisted.
        """
        body = json.dumps(self.payload(messages, **params)).encode("utf-8")
        headers = self._headers()
        start = time.monotonic()
        deadline = start + self.timeout  # bounds every try and every wait between tries
        attempts = 0
        last: _Retry | None = None
        for attempt in range(self.retries + 1):
            attempts = attempt + 1
            try:
                return self._try_once(body, headers, aborter, timeout=max(deadline - time.monotonic(), 1e-3))
            except DeadlineExceeded as exc:
                raise self._deadline_error(exc, attempts, time.monotonic() - start) from None
            except _Retry as exc:
                last = exc
                if attempt < self.retries:
                    wait = exc.retry_after if exc.retry_after is not None else jittered_delay(
                        attempt, backoff=self.backoff, rng=self._rng)
                    if time.monotonic() + wait >= deadline:
                        raise self._wait_past_deadline(exc, wait, attempts, time.monotonic() - start) from None
                    self._wait(wait, aborter)
        assert last is not None
        elapsed = time.monotonic() - start
        if last.bad_answer:
            raise AnswerFailure(f"{last} ({attempts} attempts in {elapsed:.1f} s)")
        raise self._gave_up(last, attempts, elapsed)

    def _deadline_error(self, exc: DeadlineExceeded, attempts: int, elapsed: float) -> AudioDissectError:
        return AudioDissectError(
            f"{self.url} gave no complete answer within the {self.timeout:g} s deadline "
            f"(attempt {attempts}, {exc.phase}, {exc.received} bytes received, {elapsed:.1f} s in all)",
            hint=f"a slow model or a long answer needs a longer deadline: set {self.settings['timeout']}; "
                 f"a server that never answers is down or overloaded (check its log)")

    def _wait_past_deadline(self, last: _Retry, wait: float, attempts: int, elapsed: float) -> AudioDissectError:
        asked = "the server asks to wait" if last.retry_after is not None else "the next try would come after"
        return AudioDissectError(
            f"{last}; {asked} {wait:.3g} s before trying again, past the {self.timeout:g} s deadline of this "
            f"request (attempt {attempts}, {elapsed:.1f} s in all)",
            hint=f"the deadline covers retries and their waits: set {self.settings['timeout']} to wait longer, "
                 f"or lower {self.settings['concurrency']} if the server is limiting the rate")

    def _gave_up(self, last: _Retry, attempts: int, elapsed: float) -> AudioDissectError:
        message = f"request failed {attempts} times in {elapsed:.1f} s; last: {last}"
        if last.status == 429:
            hint = (f"the server is limiting the request rate: lower {self.settings['concurrency']} "
                    f"or raise {self.settings['retries']}")
        elif last.status is not None:
            hint = f"the server keeps failing (check its log); {self.settings['retries']} sets how often to try"
        else:
            hint = "is the server running and the base_url right?"
        return AudioDissectError(message, hint=hint)

    def chat_one(self, messages: list[dict], **params: Any) -> str:
        """Send one conversation; return the first choice's text (see :meth:`ask`)."""
        return self.ask(messages, **params)

    def chat_iter(self, conversations: Sequence[list[dict]] | Sequence[Any], *,
                  build: Callable[[Any], list[dict]] | None = None, **params: Any) -> Iterator[Completed]:
        """Send many conversations, :attr:`concurrency` at a time; yield each as it finishes.

        Parameters
        ----------
        conversations : sequence, length M
            Chats, or items that `build` turns into chats (in the worker, when sent).
        build : callable, optional
            ``item -> messages``.
        **params
            ``temperature``, ``max_tokens``, ``seed``.

        Yields
        ------
        Completed
            ``(index, text, None)``, or ``(index, None, reason)`` for an item
            whose answers stayed unusable.

        Raises
        ------
        AudioDissectError
            As :meth:`ask`, after the requests in flight have finished (and
            been yielded); closing the generator or Ctrl-C cuts them short.
        """
        aborter = Aborter()

        def one(index: int, item: Any) -> Completed:
            messages = build(item) if build is not None else item
            try:
                return Completed(index, self.ask(messages, aborter=aborter, **params))
            except AnswerFailure as exc:
                return Completed(index, None, exc.message)

        yield from iter_bounded(one, conversations, concurrency=self.concurrency, on_stop=aborter.abort)

    def chat(self, conversations: Sequence[list[dict]], **params: Any) -> Answers:
        """One answer per conversation, in order; ``None`` (with the reason in ``.errors``) where it failed."""
        return Answers.from_completed(len(conversations), self.chat_iter(conversations, **params))
