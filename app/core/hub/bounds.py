"""Every Hub call bounded (issue 28, items 4, 5, 6, 13): an overall deadline, a request limit, capped waits and bodies.

huggingface_hub retries 429/503 answers, sleeping as long as ``Retry-After`` says (10⁹ s from a hostile host),
follows ``Link: next`` pages for as long as there are any (a page linking to itself: forever), and reads bodies with
no overall deadline (1 byte/s). The app runs each Hub call inside ``bounded(...)``; huggingface_hub's shared HTTP
client gets a transport (``BoundedTransport``) that, inside such a call only (a context variable, so per thread):

- refuses a request after the call's deadline (``HUB_CALL_SECONDS``) or beyond ``MAX_REQUESTS`` (pages + retries);
- lowers every read/connect timeout to what is left of the deadline, so a silent server ends there too;
- caps ``Retry-After`` at ``MAX_RETRY_AFTER`` (and at what is left), and drops rate-limit headers that would
  ask for longer;
- stops a body at the deadline or past ``max_body`` bytes (``MAX_BODY`` by default).

Downloads are not run inside ``bounded``: they have their own stall timeout, retries and size cap (transfer.py).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2  # huggingface_hub's HTTP client; this module is imported only where the Hub is used

from app.core.hub.connection import HubError

HUB_CALL_SECONDS = 60.0  # one search, one repo's details, one header probe: all its requests and retries
MAX_REQUESTS = 40  # requests in one call: search pages, retries, branch configs
MAX_RETRY_AFTER = 30.0  # seconds a Hub may ask the app to wait before a retry
MAX_BODY = 32 << 20  # bytes of one answer (repo info of a 10k-file repo is ~5 MB)


class HubLimitError(HubError):
    """A Hub call went past one of its bounds."""


@dataclass
class _Call:
    what: str
    deadline: float
    max_requests: int
    max_body: int
    requests: int = 0

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise HubLimitError(f"{self.what}: the Hub did not answer in time; try again later.")
        return left


_current: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("hub_call", default=None)
_installed = threading.Lock()
_state = {"installed": False}


@contextlib.contextmanager
def bounded(
    what: str, seconds: float | None = None, *, max_requests: int = MAX_REQUESTS, max_body: int = MAX_BODY
) -> Iterator[None]:
    """Run one Hub call (any number of huggingface_hub requests) within these bounds; ``what`` names it in errors."""
    install()
    limit = HUB_CALL_SECONDS if seconds is None else seconds
    token = _current.set(_Call(what, time.monotonic() + limit, max_requests, max_body))
    try:
        yield
    finally:
        _current.reset(token)


def install() -> None:
    """Give huggingface_hub's shared client the bounded transport (once per process)."""
    with _installed:
        if _state["installed"]:
            return
        from huggingface_hub import set_client_factory
        from huggingface_hub.utils._http import default_client_factory

        def factory() -> httpx2.Client:
            client = default_client_factory()
            client._transport = BoundedTransport(client._transport)  # its only transport when no proxy is set
            return client

        set_client_factory(factory)
        _state["installed"] = True


class BoundedTransport(httpx2.BaseTransport):
    """An httpx transport around another: the bounds of the current call (none outside ``bounded``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def handle_request(self, request: Any) -> Any:
        call = _current.get()
        if call is None:
            return self.inner.handle_request(request)
        left = call.left()
        call.requests += 1
        if call.requests > call.max_requests:
            raise HubLimitError(
                f"{call.what}: the Hub kept sending more pages or errors ({call.max_requests} requests); "
                "try again later or narrow the search."
            )
        timeouts = dict(request.extensions.get("timeout") or {})
        request.extensions["timeout"] = {
            kind: min(value, left) if isinstance(value, (int, float)) else left
            for kind, value in {"connect": None, "read": None, "write": None, "pool": None, **timeouts}.items()
        }
        response = self.inner.handle_request(request)
        if response.status_code in (429, 503):
            _cap_waits(response.headers, min(MAX_RETRY_AFTER, max(0.0, call.deadline - time.monotonic())))
        response.stream = _BoundedStream(response.stream, call)
        return response

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> BoundedTransport:
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.inner.__exit__(*exc)


def _cap_waits(headers: Any, most: float) -> None:
    for name in [n for n in headers if n.lower().startswith("ratelimit") or n.lower() == "x-ratelimit-reset"]:
        del headers[name]
    value = headers.get("Retry-After")
    if value is not None:
        try:
            asked = float(value.strip())
        except ValueError:
            asked = most  # an HTTP date: huggingface_hub ignores those, but be sure
        headers["Retry-After"] = str(int(max(0.0, min(asked, most))))


class _BoundedStream(httpx2.SyncByteStream):
    def __init__(self, inner: Any, call: _Call) -> None:
        self.inner, self.call = inner, call

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self.inner:
            received += len(chunk)
            if received > self.call.max_body:
                raise HubLimitError(f"{self.call.what}: the Hub's answer is larger than {self.call.max_body:,} bytes.")
            self.call.left()
            yield chunk

    def close(self) -> None:
        self.inner.close()
