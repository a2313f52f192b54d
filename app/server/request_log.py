"""The request log: every HTTP request recorded as it starts, and once answered (the Server page, ``serve``'s stderr).

``RequestLog`` is the outermost middleware: it numbers each request, records it as it arrives (``STARTED``: a
client waiting behind the window's chat shows at once, not when its answer is done), and after the answer
records its status and time, unless a route recorded a richer line for it (a generation's tokens and speed,
through ``Api.log``). ``GET /v1/models``, a refused key, a 404: each has its two lines.
"""

from __future__ import annotations

import itertools
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.server.routes import STARTED, Recorder, RequestRecord

_numbers = itertools.count(1)


class RequestLog:
    def __init__(self, app: ASGIApp, record: Recorder) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        number = next(_numbers)
        state = scope.setdefault("state", {})
        state["request_id"] = number
        method, path = scope["method"], scope["path"]
        self.record(RequestRecord(method, path, 0, request_id=number, phase=STARTED))
        started, status = time.perf_counter(), [0]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not state.get("answer_recorded"):
                seconds = time.perf_counter() - started
                self.record(RequestRecord(method, path, status[0] or 500, seconds=seconds, request_id=number))
