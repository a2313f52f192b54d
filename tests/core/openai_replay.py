"""A tiny OpenAI-compatible server on loopback that answers each chat request with a scripted stream.

``ReplayServer(answer)``: ``answer(body)`` gets the decoded request and returns the stream's chunks (``chunk``,
``call_chunks``, ``DONE``); every request is kept in ``received``. It stands in for a model whose output a test
must choose (a call loop, a malformed call, an unknown tool): the engine, the tool loop and the HTTP are real.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DONE = b"data: [DONE]\n\n"
Answer = Callable[[dict[str, Any]], list[bytes]]


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    event = {"id": "c", "object": "chat.completion.chunk", "model": "m",
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return f"data: {json.dumps(event)}\n\n".encode()


def call_chunks(*calls: tuple[str, str]) -> list[bytes]:
    """Each (name, arguments text) as OpenAI streams it: id and name first, then the arguments."""
    out = []
    for index, (name, arguments) in enumerate(calls):
        head = {"index": index, "id": f"call_{index}", "type": "function", "function": {"name": name, "arguments": ""}}
        out += [
            chunk({"tool_calls": [head]}),
            chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]}),
        ]
    return [*out, chunk({}, "tool_calls"), DONE]


def text_chunks(text: str) -> list[bytes]:
    return [chunk({"role": "assistant", "content": text}), chunk({}, "stop"), DONE]


class ReplayServer:
    def __init__(self, answer: Answer) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # /v1/models
                models = {"object": "list", "data": [{"id": "m", "object": "model"}]}
                self._send(json.dumps(models).encode(), "application/json")

            def do_POST(self) -> None:  # /v1/chat/completions
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.append(body)
                self._send(b"".join(answer(body)), "text/event-stream")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
