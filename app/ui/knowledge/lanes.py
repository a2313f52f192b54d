"""The knowledge database off the GUI thread: two lanes, each a thread of its own with its own connection.

The write lane indexes (add, re-index, remove, rename, delete), one job after another; the read lane lists and
searches, so a search answers while a folder is being indexed (SQLite's WAL: readers never wait for the writer).
Each lane opens its ``KnowledgeBase`` on its thread, with the embedding model the window has (``embedder()``, called
there: it may load the library's embedding model into the engine service's slot), and opens it again when that
model changes. A job's answer (or error) comes back on the GUI thread; after ``shutdown`` nothing does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

from app.core.errors import HermesError
from app.core.knowledge.base import CancelToken, KnowledgeBase
from app.core.knowledge.embedder import Embedder

log = logging.getLogger(__name__)
T = TypeVar("T")


class Lane(QObject):
    """One thread, one ``KnowledgeBase``: ``run(job, done, failed)`` with ``job(base)`` on the thread."""

    _answered = Signal(object, object, object)  # callbacks, result, error

    def __init__(
        self,
        database: Path,
        embedder: Callable[[], Embedder | None],
        name: str,
        *,
        embeds: bool = True,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.database = database
        self._embedder = embedder
        self.embeds = embeds  # False: the base never gets an embedding model (listing, renaming need none)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"knowledge-{name}")
        self._base: KnowledgeBase | None = None
        self._closed = False
        self.busy = 0  # jobs queued or running
        self._answered.connect(self._deliver)

    def run(
        self,
        job: Callable[[KnowledgeBase], T],
        done: Callable[[T], None],
        failed: Callable[[str], None],
        *,
        embedding: bool = False,
    ) -> Future[Any] | None:
        """``embedding``: the job needs the embedding model (indexing, a search by meaning): it is looked up (and
        loaded, the first time) on the lane's thread first."""
        if self._closed:
            return None
        self.busy += 1

        def work() -> T:
            return job(self._base_for(embedding))

        future = self._pool.submit(work)

        def finished(result: Future[Any]) -> None:
            if result.cancelled() or self._closed:
                return
            error = result.exception()
            self._answered.emit((done, failed), None if error else result.result(), error)

        future.add_done_callback(finished)
        return future

    def _base_for(self, embedding: bool) -> KnowledgeBase:
        embedder = self._embedder() if embedding and self.embeds else None
        if self._base is not None and embedding and self._base.model != (embedder.name if embedder else ""):
            self._base.close()
            self._base = None
        if self._base is None:
            self._base = KnowledgeBase(self.database, embedder)
        return self._base

    @Slot(object, object, object)
    def _deliver(self, callbacks: tuple[Callable[[Any], None], Callable[[str], None]], result: Any, error: Any) -> None:
        self.busy -= 1
        if self._closed:
            return
        done, failed = callbacks
        if error is None:
            done(result)
        elif isinstance(error, HermesError | OSError):
            failed(str(error))
        else:  # a bug: the page says so instead of a thread dying in silence
            log.error("knowledge job failed", exc_info=error)
            failed(f"Something went wrong: {error!r}")

    def shutdown(self, cancel: CancelToken | None = None) -> None:
        """Nothing more comes back; a running add is cancelled (its reader process stopped), the thread joined."""
        self._closed = True
        if cancel is not None:
            cancel.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._base is not None:
            self._base.close()
            self._base = None


def collection_names(database: Path) -> list[str]:
    """The collections' names (off the GUI thread: the window's picker); none when there is no database yet."""
    if not database.is_file():
        return []
    base = KnowledgeBase(database)
    try:
        return [info.name for info in base.collections()]
    finally:
        base.close()
