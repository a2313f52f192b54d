"""Bounds on connections (issue 28, items 2 and 15): what a slow, silent or non-reading client may hold.

uvicorn's HTTP/1.1 protocol (h11) bounds only the idle time between two requests of a kept-alive connection.
``bounded_protocol`` gives it the rest, per connection:

- **headers**: a request's headers must be complete within ``header_timeout`` of the connection opening (or of
  the previous response's end); a connection that sends nothing, or half a request line, is closed.
- **connections**: at most ``max_connections`` at once (by default half the process's file-descriptor limit, so
  sockets never exhaust it). One more evicts the oldest connection with no request in progress (a half-open
  socket, an idle keep-alive one); when every connection is busy, the newcomer gets a 503 and is closed.
- **writes**: a client that accepts no data for ``write_timeout`` seconds while the server has some to send is
  disconnected; its generation stops at the next token, as when a client hangs up. Backpressure stops it
  sooner on a fast engine: a generation more than ``max_backlog`` tokens ahead of a client whose socket is full
  disconnects it too (``routes``, through ``stop_unread``). The socket's send buffer (16 KiB) and the
  transport's (8 KiB) are small, so a client that never reads is found once its own receive buffer is full too
  (~180 KB in all with Linux's default 128 KiB, ~800 streamed tokens; Linux 6.x grows an unread socket's buffer,
  to ~600 KB here), not after the 4 MB our side of a loopback socket would buffer. A reply that fits in those
  buffers cannot be told from one read slowly: ``max_tokens`` bounds it.

The body's deadline (``body_timeout``) is the guard's (``app.server.app.Guard``): it answers 408 there.
Every bound closes the one connection; the server goes on serving, and logs nothing per connection (a flood of
hostile connections must not become a flood of log lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

try:
    import resource
except ImportError:  # Windows: no file-descriptor limit to read
    resource = None  # type: ignore[assignment]

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

SEND_BUFFER = 8 << 10  # bytes: the socket's (the kernel doubles it) and the transport's high-water mark
STALLED = "hermes.stalled"  # a scope key: the connection was closed because the client stopped reading
CONNECTION = "hermes.connection"  # a scope key: the request's ``BoundedH11Protocol`` (for backpressure)
_order = itertools.count()


def default_max_connections() -> int:
    """Half the soft file-descriptor limit (512 at the usual 1024), 16 at least, 4,096 at most."""
    if resource is None:
        return 512
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return 512
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(16, min(4096, soft // 2))


@dataclass(frozen=True)
class Limits:
    """Seconds and counts; every one can be set on ``serve``'s command line."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0  # a 32 MiB body (an image) at ~5 Mbit/s
    idle_timeout: float = 5.0
    write_timeout: float = 10.0
    max_connections: int = 0  # 0: default_max_connections()
    max_backlog: int = 256  # tokens a generation may run ahead of a client whose socket accepts nothing

    def connections(self) -> int:
        return self.max_connections or default_max_connections()


def bounded_protocol(limits: Limits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with these limits (uvicorn.Config(http=...) takes the class)."""
    return type(
        "BoundedH11Protocol", (BoundedH11Protocol,), {"limits": limits, "max_connections": limits.connections()}
    )


class BoundedH11Protocol(H11Protocol):
    limits = Limits()
    max_connections = 512

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._order = next(_order)
        self._header_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._seen_cycle: object = None

    # the connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        transport.set_write_buffer_limits(high=SEND_BUFFER)
        if len(self.connections) > self.max_connections and not self._evict_one():
            self._refuse()
            return
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def _busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _evict_one(self) -> bool:
        """Close the oldest connection with no request in progress, to make room; False if every one is busy."""
        idle = [c for c in self.connections if c is not self and isinstance(c, BoundedH11Protocol) and not c._busy()]
        if not idle:
            return False
        oldest = min(idle, key=lambda connection: connection._order)
        oldest.transport.abort()
        return True

    def _refuse(self) -> None:
        body = json.dumps(
            {"error": {"message": f"The server has {self.max_connections} connections open; try again shortly.",
                       "type": "server_error", "code": "too_many_connections", "param": None}}
        ).encode()  # fmt: skip
        head = (
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
            f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()

    # headers
    def _arm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._headers_late)

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self._busy() and not self.transport.is_closing():
            self.transport.abort()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self.cycle is not self._seen_cycle:  # a request's headers are complete
            self._seen_cycle = self.cycle
            self.cycle.scope[CONNECTION] = self  # type: ignore[literal-required]
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._busy():
            self._arm_header_timer()  # the next request's headers (the idle timeout usually comes first)

    # writes
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.limits.write_timeout, self._write_stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    @property
    def writes_paused(self) -> bool:
        """The client has accepted nothing more for a while: the socket's and the transport's buffers are full."""
        return self._write_timer is not None

    def stop_unread(self) -> None:
        """Disconnect a client that stopped reading (the write timeout, or a generation too far ahead of it)."""
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self.cycle is not None:
            self.cycle.scope[STALLED] = True  # type: ignore[literal-required]
        self.transport.abort()  # connection_lost: the request sees http.disconnect, its ticket is cancelled

    def _write_stalled(self) -> None:
        self._write_timer = None
        self.stop_unread()

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._write_timer = None


def quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The server loop's exception handler: never raises, and says 'out of file descriptors' once a minute.

    asyncio logs every failed ``accept()`` (EMFILE) with a traceback, once a second per listening socket; and an
    exception escaping the handler would end the event loop, and the server with it.
    """
    try:
        message = str(context.get("message", ""))
        if message.startswith("socket.accept() out of system resource"):
            now = time.monotonic()
            if now - _last_accept_warning[0] < 60:
                return
            _last_accept_warning[0] = now
            log.warning("out of file descriptors: new connections wait (%s)", context.get("exception"))
            return
        loop.default_exception_handler(context)
    except Exception:  # logging itself failed: nothing more to do, and the loop must go on
        pass


_last_accept_warning = [-1e9]
