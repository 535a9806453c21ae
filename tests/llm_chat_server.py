"""A real OpenAI-style chat server on 127.0.0.1 for the HTTP client tests.

Each request is answered by ``behaviour(n, body, headers)`` where ``n`` counts
requests from 0; it returns ``(status, reply, delay_s)`` or ``(status, reply,
delay_s, extra_headers)``: a dict reply is sent as JSON, bytes as they are, a
:class:`Trickle` a byte at a time and a :class:`Cut` as a truncated body on a
closed connection. The server records the requests and the most requests it
ever had in flight at once. Delays end early when the server shuts down.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Trickle:
    """A body sent one byte every `every` seconds (with its full Content-Length)."""

    def __init__(self, data: bytes, every: float):
        self.data, self.every = data, every


class Cut:
    """A body announced in full but cut after `keep` bytes, then the connection is closed."""

    def __init__(self, data: bytes, keep: int):
        self.data, self.keep = data, keep


def chat_reply(text: str) -> dict:
    return {"id": "x", "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}]}


class ChatServer:
    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.stopped = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with server._lock:
                    n = len(server.requests)
                    body = json.loads(raw)
                    server.requests.append(body)
                    server.paths.append(self.path)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, reply, delay, *extra = server.behaviour(n, body, dict(self.headers))
                    if delay:
                        server.stopped.wait(delay)
                    raw_reply = reply.data if isinstance(reply, (Trickle, Cut)) else reply
                    data = raw_reply if isinstance(raw_reply, bytes) else json.dumps(raw_reply).encode()
                finally:
                    # counted out before replying: once the client has its answer it may send
                    # the next request, which must not overlap this one in the count
                    with server._lock:
                        server.in_flight -= 1
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (extra[0] if extra else {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    if isinstance(reply, Trickle):
                        for i in range(len(data)):
                            self.wfile.write(data[i:i + 1])
                            self.wfile.flush()
                            if server.stopped.wait(reply.every):
                                break
                    elif isinstance(reply, Cut):
                        self.wfile.write(data[:reply.keep])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                    else:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass  # the client gave up (timeout)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "ChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()
