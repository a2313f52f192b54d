"""Run the server on a thread of its own (the window's Server page, the CLI, tests) and stop it cleanly.

uvicorn serves on its own event loop in that thread; ``start()`` returns once the socket listens (port 0
picks a free port: ``port`` says which), ``stop()`` stops the running and queued API generations, closes
the connections and joins the thread. The engine service is not closed: it belongs to the caller.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn

from app.core.engines.service import EngineService
from app.core.errors import HermesError
from app.server.app import ServerOptions, create_app
from app.server.connections import bounded_protocol, quiet_exception_handler
from app.server.routes import STARTED, Recorder, RequestRecord

LOCAL_ONLY = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"


class ServerStartError(HermesError):
    """The server could not listen (the port is taken, say)."""


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # signals belong to the main thread's owner
        pass

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().set_exception_handler(quiet_exception_handler)  # logging never ends the loop
        await super().serve(sockets)


class ServerRunner:
    def __init__(self, service: EngineService, options: ServerOptions, record: Recorder | None = None) -> None:
        self.service = service
        self.options = options
        self.app = create_app(service, options, record)
        limits = options.limits
        config = uvicorn.Config(
            self.app, host=options.host, port=options.port, log_level="warning", access_log=False,
            timeout_graceful_shutdown=2, lifespan="off", http=bounded_protocol(limits),
            timeout_keep_alive=limits.idle_timeout,  # type: ignore[arg-type]  # a float works (call_later)
        )  # fmt: skip
        self._server = _Server(config)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.port = options.port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.options.host in ("0.0.0.0", "") else self.options.host
        return f"http://{host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 15.0) -> ServerRunner:
        self._thread = threading.Thread(target=self._serve, name="api-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                reason = f" ({self._error})" if self._error else ""
                raise ServerStartError(
                    f"The server could not listen on {self.options.host}:{self.options.port}{reason}; "
                    "is the port in use? Choose another one."
                )
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    def _serve(self) -> None:
        try:
            self._server.run()
        except BaseException as exc:  # reported by start()
            self._error = exc

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)


def describe(record: RequestRecord) -> str:
    """One line of the request log (the CLI's stderr, the Server page)."""
    if record.phase == STARTED:
        return f"{record.method} {record.path} …"
    line = f"{record.method} {record.path} {record.status}"
    if record.model:
        line += f" {record.model}"
    if record.status == 200 and record.completion_tokens:
        line += f" · {record.prompt_tokens}+{record.completion_tokens} tokens · {record.tokens_per_s:.1f} tok/s"
    elif record.status == 499:
        line += f" · stopped after {record.completion_tokens} tokens"
    if record.seconds:
        line += f" · {record.seconds:.2f} s"
    if record.error:
        line += f" · {record.error}"
    return line
