"""A local OpenAI-compatible HTTP server for the subprocess tests: ``/v1/chat/completions`` only.

The example under test must not import chatspan, so its model is reached over real HTTP on
127.0.0.1, like any OpenAI-compatible server. Replies come from the demo's scripted conversation
(``scripted_reply``), as JSON or as server-sent events when the request asks to stream. Every
request body is kept, so a test can compare the number of chat spans with the number of calls.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chatspan.exporters.demo_script import scripted_reply
from chatspan.exporters.scripted_backend import sse

__all__ = ["FakeOpenAI", "serve"]

Script = Callable[[dict[str, Any]], dict[str, Any] | list[dict[str, Any]]]


class FakeOpenAI:
    """What the server received; ``base_url`` is what ``OPENAI_BASE_URL`` should be."""

    def __init__(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)


def _handler(state: FakeOpenAI, script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, b'{"error": {"message": "not here"}}', "application/json")
                return
            state.record(body)
            reply = script(body)
            if isinstance(reply, list):
                payload = b"".join(sse(part) for part in [*reply, None])
                self._send(200, payload, "text/event-stream")
            else:
                self._send(200, json.dumps(reply).encode(), "application/json")

        def _send(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def serve(script: Script = scripted_reply) -> Iterator[FakeOpenAI]:
    """Serve ``script`` on a free port of 127.0.0.1 for the duration of the ``with`` block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)  # bound: port known
    state = FakeOpenAI(server.server_address[1])
    server.RequestHandlerClass = _handler(state, script)
    thread = threading.Thread(target=server.serve_forever, name="fake-openai", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
