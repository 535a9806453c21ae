"""One HTTP POST with a deadline on the whole exchange (standard library only).

A socket timeout bounds each read, not the request: a server that sends a
byte now and then keeps such a request alive for ever. Here a watchdog timer
shuts the socket down when the deadline passes, whatever stage the exchange
is in (connecting, sending, waiting for headers, reading the body), so a
request never outlives its deadline by more than a moment. An
:class:`Aborter` shuts down every request of a group at once (used when one
request of a concurrent batch fails for good, or on Ctrl-C).

Proxies named by the usual environment variables (``http_proxy``,
``https_proxy``, ``no_proxy``) are used as urllib would, except for loopback
hosts, which are always reached directly.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import NamedTuple

#: The largest response body accepted, in bytes (a chat answer is a few kB).
MAX_RESPONSE_BYTES = 32 * 1024 * 1024

_CHUNK = 64 * 1024


class Reply(NamedTuple):
    """A complete HTTP response: status code, headers and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """The exchange failed before a complete response arrived (refused, reset, closed mid-response)."""


class DeadlineExceeded(TransportError):
    """The deadline passed before the response was complete.

    Attributes
    ----------
    phase : str
        What the request was doing: ``"connecting"``, ``"waiting for the answer"``
        or ``"reading the answer"``.
    received : int
        Bytes of the body read before the deadline.
    """

    def __init__(self, message: str, *, phase: str, received: int = 0):
        super().__init__(message)
        self.phase = phase
        self.received = received


class Cancelled(TransportError):
    """The request's :class:`Aborter` was triggered."""


def _shutdown(sock: socket.socket | None) -> None:
    # the plain socket's shutdown, also for TLS sockets: wakes up a thread blocked reading it
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class Aborter:
    """Shuts down every request registered with it, now and later (thread-safe)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()

    def abort(self) -> None:
        """Stop all requests in flight and refuse new ones."""
        with self._lock:
            self.event.set()
            socks = list(self._socks)
        for sock in socks:
            _shutdown(sock)

    def _register(self, sock: socket.socket) -> None:
        with self._lock:
            if self.event.is_set():
                raise Cancelled("cancelled")
            self._socks.add(sock)

    def _forget(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._socks.discard(sock)  # type: ignore[arg-type]


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _proxy_for(parts: urllib.parse.SplitResult) -> urllib.parse.SplitResult | None:
    host = parts.hostname or ""
    if is_loopback_host(host):
        return None
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")


def _proxy_headers(proxy: urllib.parse.SplitResult) -> dict[str, str]:
    if not proxy.username:
        return {}
    user = urllib.parse.unquote(proxy.username)
    password = urllib.parse.unquote(proxy.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Proxy-Authorization": f"Basic {token}"}


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str, dict[str, str]]:
    """The connection to open, the request target and extra headers (for a proxy)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"not an http(s) URL: {url!r}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    proxy = _proxy_for(parts)
    cls: type[http.client.HTTPConnection] = (http.client.HTTPSConnection if parts.scheme == "https"
                                             else http.client.HTTPConnection)
    if proxy is None:
        return cls(parts.hostname, parts.port, timeout=timeout), target, {}
    extra = _proxy_headers(proxy)
    if parts.scheme == "https":  # a CONNECT tunnel through the proxy
        conn = cls(proxy.hostname, proxy.port or 8080, timeout=timeout)
        conn.set_tunnel(parts.hostname, parts.port or 443, headers=extra)
        return conn, target, {}
    conn = http.client.HTTPConnection(proxy.hostname, proxy.port or 8080, timeout=timeout)
    return conn, url, extra


def _describe(exc: BaseException) -> str:
    if isinstance(exc, http.client.IncompleteRead):
        return f"the connection closed mid-response ({len(exc.partial)} bytes received)"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float,
         aborter: Aborter | None = None, max_bytes: int = MAX_RESPONSE_BYTES) -> Reply:
    """POST `body` to `url` and return the complete response, all within `timeout` seconds.

    Parameters
    ----------
    url : str
        An ``http://`` or ``https://`` URL.
    body : bytes
    headers : mapping of str to str
    timeout : float
        The deadline for the whole exchange (connect, send, headers and body), in seconds.
    aborter : Aborter, optional
        Cancels this request when triggered.
    max_bytes : int
        Longest body accepted; a longer one is an error.

    Returns
    -------
    Reply
        Any status code (4xx and 5xx included); the caller judges it.

    Raises
    ------
    DeadlineExceeded
        When the deadline passes first.
    Cancelled
        When `aborter` was triggered.
    TransportError
        When the connection fails, closes early, or the body is too long.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    conn, target, extra = _connection(url, timeout)
    expired = threading.Event()
    phase = "connecting"
    received = 0
    sock: socket.socket | None = None  # kept: http.client drops conn.sock once a closing response starts

    def expire() -> None:
        expired.set()
        _shutdown(sock if sock is not None else conn.sock)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    start = time.monotonic()
    timer.start()
    try:
        conn.connect()
        sock = conn.sock
        if expired.is_set():
            raise TimeoutError("deadline")
        if aborter is not None:
            aborter._register(sock)
        phase = "waiting for the answer"
        conn.request("POST", target, body=body, headers={**dict(headers), **extra})
        response = conn.getresponse()
        phase = "reading the answer"
        chunks: list[bytes] = []
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            received += len(chunk)
            if received > max_bytes:
                raise TransportError(f"the response is longer than {max_bytes} bytes")
            chunks.append(chunk)
        if expired.is_set():  # the watchdog cut the stream short: a body that ends early is no answer
            raise TimeoutError("deadline")
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, b"".join(chunks))
    except Cancelled:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        elapsed = time.monotonic() - start
        if expired.is_set() or elapsed >= timeout:
            raise DeadlineExceeded(f"no complete answer within the {timeout:g} s deadline ({phase}; "
                                   f"{received} bytes of the body received)",
                                   phase=phase, received=received) from exc
        if aborter is not None and aborter.cancelled:
            raise Cancelled("cancelled") from exc
        raise TransportError(_describe(exc)) from exc
    finally:
        timer.cancel()
        if aborter is not None:
            aborter._forget(sock)
        conn.close()
        if sock is not None:
            sock.close()
