"""A turn driven without an event loop (the CLI, the server's --save): the engine thread queues, the caller applies.

The session and its store belong to the caller's thread (SQLite's connection does), so the engine thread
only puts what it produces on a queue; this loop hands it to the session.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Protocol

from app.core.engines.service import EngineService, GenerationRequest, Ticket
from app.core.errors import HermesError
from app.core.prompting.types import GenerationStats


class TurnSink(Protocol):
    """What a headless turn reports to (a ChatSession): reading progress, each piece, and the end."""

    def reading(self, done: int, total: int) -> None: ...
    def append(self, text: str) -> None: ...
    def finish(self, stats: GenerationStats) -> None: ...
    def fail(self, message: str) -> None: ...


_END = object()  # the engine is done with the request


def run_turn(
    session: TurnSink,
    service: EngineService,
    request: GenerationRequest,
    on_piece: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> GenerationStats:
    """Generate ``request`` on ``service`` and wait; returns the stats.

    ``should_stop`` is asked between pieces; Ctrl+C stops the reply too, keeps it (as stopped) and is raised again.
    """
    news: queue.Queue[object] = queue.Queue()
    ticket = service.generate(request, news.put, on_progress=lambda done, total: news.put((done, total)))
    ticket.add_done_callback(lambda _ticket: news.put(_END))
    try:
        _follow(session, news, ticket, on_piece, should_stop)
    except KeyboardInterrupt:
        ticket.cancel()
        _follow(session, news, ticket, on_piece, lambda: False)
        session.finish(ticket.result())
        raise
    try:
        stats = ticket.result()
    except HermesError as exc:
        session.fail(str(exc))
        raise
    except Exception as exc:
        session.fail(f"Generation failed: {exc}")
        raise
    session.finish(stats)
    return stats


def _follow(
    session: TurnSink,
    news: queue.Queue[object],
    ticket: Ticket,
    on_piece: Callable[[str], None] | None,
    should_stop: Callable[[], bool],
) -> None:
    while True:
        try:
            item = news.get(timeout=0.1)
        except queue.Empty:
            continue
        if item is _END:
            return
        if isinstance(item, tuple):
            session.reading(*item)
            continue
        text = str(item)
        session.append(text)
        if on_piece is not None:
            on_piece(text)
        if should_stop():
            ticket.cancel()
