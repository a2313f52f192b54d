"""Run blocking core calls (Hub requests, file scans) off the GUI thread; results come back on it.

Like Anki's QueryOp: the work runs on a worker thread and never touches widgets; the success or
failure callback runs on the GUI thread. A task given no failure callback reports its error through
``unhandled`` (the window shows it), so no error vanishes.

Once ``shutdown`` has begun (the window is closing), nothing new starts and nothing comes back: ``run``
is a quiet no-op (it returns a cancelled future), and an answer that arrives afterwards is dropped, so a
late result can neither queue more work nor touch a widget that is on its way out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

log = logging.getLogger(__name__)


class Background(QObject):
    _finished = Signal(object, object, object)  # callback, result, error
    unhandled = Signal(str)  # a message for people: a task without its own failure callback failed

    def __init__(self, parent: QObject | None = None, workers: int = 2) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="background")
        self._closed = False
        self._finished.connect(self._deliver)  # queued: emitted from pool threads

    @property
    def closed(self) -> bool:
        return self._closed

    def run(
        self,
        work: Callable[[], Any],
        on_success: Callable[[Any], None],
        on_error: Callable[[Exception], None] | None = None,
    ) -> Future:
        """Run ``work`` on a pool thread; after ``shutdown`` nothing runs (the future returned is cancelled)."""
        if self._closed:
            log.debug("background task %r not started: shutting down", getattr(work, "__qualname__", work))
            future: Future = Future()
            future.cancel()
            return future
        future = self._pool.submit(work)

        def done(finished: Future) -> None:
            if finished.cancelled() or self._closed:  # shut down before it started, or its answer is too late
                return
            error = finished.exception()
            self._finished.emit((on_success, on_error), None if error else finished.result(), error)

        future.add_done_callback(done)
        return future

    @Slot(object, object, object)
    def _deliver(self, callbacks: tuple, result: Any, error: Exception | None) -> None:
        if self._closed:
            log.debug("background answer dropped: shutting down")
            return
        on_success, on_error = callbacks
        if error is None:
            on_success(result)
        elif on_error is not None:
            on_error(error)
        else:
            log.error("background task failed", exc_info=error)
            self.unhandled.emit(f"Something went wrong in the background: {error or type(error).__name__}")

    def shutdown(self) -> None:
        """Start nothing more, cancel what waits, wait for what runs; every answer from now on is dropped."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
