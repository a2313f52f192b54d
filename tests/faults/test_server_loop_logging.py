"""Logging never ends the server's event loop (issue 28, item 2).

In the issue the server exited with an empty log when file descriptors ran out: asyncio reported each failed
``accept()`` through the loop's exception handler, the log handler failed on it ("too many open files"), and an
exception escaping the handler ends the loop (``call_exception_handler`` re-raises what its fallback logging
raises). The server's loop now uses ``quiet_exception_handler``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Iterator

import pytest

from app.server import connections
from app.server.connections import quiet_exception_handler


class _Exhausted(logging.Handler):
    """A handler that fails as a log file does when no descriptor is left (raising out of ``handle``)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        self.records.append(record)
        raise OSError(errno.EMFILE, "Too many open files")


@pytest.fixture
def exhausted() -> Iterator[_Exhausted]:
    handler = _Exhausted()
    loggers = [logging.getLogger("asyncio"), logging.getLogger(connections.__name__)]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def _report(loop: asyncio.AbstractEventLoop, message: str) -> None:
    loop.call_exception_handler({"message": message, "exception": OSError(errno.EMFILE, "Too many open files")})


def test_asyncios_own_handler_lets_a_failing_log_end_the_loop(exhausted: _Exhausted) -> None:
    """The failure the server had: what the default path raises would stop ``run_forever``."""
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(OSError):
            _report(loop, "socket.accept() out of system resource")
    finally:
        loop.close()


def test_the_servers_handler_never_raises_and_says_emfile_once_a_minute(
    exhausted: _Exhausted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connections, "_last_accept_warning", [-1e9])
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(quiet_exception_handler)
    try:
        for _ in range(100):  # asyncio retries accept() once a second: a flood, each one a failing log call
            _report(loop, "socket.accept() out of system resource")
        _report(loop, "something else went wrong")
    finally:
        loop.close()
    accept_warnings = [r for r in exhausted.records if "out of file descriptors" in r.getMessage()]
    assert len(accept_warnings) == 1  # one line a minute, not a traceback a second
    assert any("something else went wrong" in r.getMessage() for r in exhausted.records)
