"""The window's handle on the engine: Qt signals in front of the core's ``EngineService``.

The service's thread owns the model and runs every request in order (the window's chats, the local
server's requests). This adapter turns its callbacks, which run on that thread, into queued signals
that arrive on the GUI thread. Text comes back in batches, at most one signal per ``flush_interval``
(about a frame), never one signal per token.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal, Slot

from app.core.engines.interface import Engine, LoadedModel
from app.core.engines.load_options import LoadOptions
from app.core.engines.service import EngineService, FormatChoice, GenerationRequest, Ticket
from app.core.errors import HermesError
from app.core.prompting.context import ContextPolicy
from app.core.prompting.parts import is_thought
from app.core.prompting.prompt_formats import AUTO, ChatMessage
from app.core.prompting.types import FinishReason, GenerationStats, Sampling

FRAME_S = 1 / 60
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestOptions:
    prompt_format: FormatChoice = (AUTO, "")
    context_policy: str = ContextPolicy.STOP
    continue_text: str = ""  # carry on from this partial reply instead of starting a new one


class EngineClient(QObject):
    """Signals for one face (the window) of a shared engine service; all of them arrive on the GUI thread."""

    model_loaded = Signal(object)  # LoadedModel
    load_failed = Signal(str)  # a message for people
    model_unloaded = Signal()
    load_progress = Signal(float)  # 0.0 … 1.0 while llama.cpp reads the model file
    tokens = Signal(int, str)  # request id, a batch of text
    thoughts = Signal(int, str)  # request id, a batch of the reply's reasoning (a thinking model)
    prompt_progress = Signal(int, int, int)  # request id, prompt tokens processed, prompt tokens in all
    generation_finished = Signal(int, object)  # request id, GenerationStats
    generation_failed = Signal(int, str)  # request id, a message for people

    # emitted on the engine thread, delivered queued to the slots below
    _loaded = Signal(object)
    _load_error = Signal(str)
    _unloaded = Signal()
    _progress_of_load = Signal(float)
    _now_loaded = Signal(object)  # what the engine holds after a failed load (the model before, reloaded, or None)
    _tokens = Signal(int, str)
    _thoughts = Signal(int, str)
    _progress = Signal(int, int, int)
    _finished = Signal(int, object)
    _failed = Signal(int, str)

    def __init__(
        self,
        parent: QObject | None = None,
        flush_interval: float = FRAME_S,
        service: EngineService | None = None,
        engine: Engine | None = None,
    ) -> None:
        """``service``: a shared one (not closed here); else one of its own, on ``engine`` (default: a LlamaEngine)."""
        super().__init__(parent)
        self.flush_interval = flush_interval
        self.service = service or EngineService(engine)
        self._owns_service = service is None
        self._tickets: dict[int, Ticket] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.loaded: LoadedModel | None = self.service.loaded
        self._closed = False  # shut down: nothing more is queued, and late news from the engine thread is dropped
        queued = Qt.ConnectionType.QueuedConnection
        self._loaded.connect(self._remember_loaded, queued)
        self._now_loaded.connect(self._set_loaded, queued)
        self._progress_of_load.connect(self._relay_load_progress, queued)
        self._load_cancelled = threading.Event()
        self._load_error.connect(self._relay_load_error, queued)
        self._unloaded.connect(self._forget_loaded, queued)
        # queued: the public signal is emitted on the GUI thread, so a plain function, a lambda or a test's
        # waitSignal connected to it runs there (and not at all once the client is shut down)
        self._tokens.connect(self._relay_tokens, queued)
        self._thoughts.connect(self._relay_thoughts, queued)
        self._progress.connect(self._relay_progress, queued)
        self._finished.connect(self._relay_finished, queued)
        self._failed.connect(self._relay_failed, queued)

    @property
    def engine(self) -> Engine:
        return self.service.engine

    @property
    def running(self) -> bool:
        return self.service.running

    # models
    def load(self, path: str, options: LoadOptions, engine: Engine | None = None) -> None:
        """Load ``path``; on ``engine`` when given (the model loaded now stays until that one has answered)."""
        if self._closed:
            log.debug("not loading %s: the engine client is shut down", path)
            return
        self._load_cancelled.clear()
        self.service.load(path, options, self._on_load_progress, engine=engine).add_done_callback(
            lambda future: self._load_done(path, future)
        )

    def cancel_load(self) -> None:
        """Thread-safe: the model being loaded stops loading (the one before comes back where it can)."""
        self._load_cancelled.set()

    def _on_load_progress(self, progress: float) -> bool:  # the engine thread
        self._progress_of_load.emit(progress)
        return not self._load_cancelled.is_set()

    def unload(self) -> None:
        if self._closed:
            return
        self.service.unload().add_done_callback(lambda _future: self._unloaded.emit())

    def _load_done(self, path: str, future: Future[LoadedModel]) -> None:
        error = future.exception()
        if error is None:
            self._loaded.emit(future.result())
        else:
            self._now_loaded.emit(self.service.loaded)  # before the error: its handlers see the truth
            self._load_error.emit(str(error) if isinstance(error, HermesError) else f"Could not load {path}: {error}")

    # replies
    def generate(
        self, messages: Sequence[ChatMessage], sampling: Sampling, options: RequestOptions = RequestOptions()
    ) -> int:
        """Queue a reply; returns its request id (tokens and results carry it)."""
        request = GenerationRequest(
            messages=list(messages),
            sampling=sampling,
            prompt_format=options.prompt_format,
            context_policy=options.context_policy,
            continue_text=options.continue_text,
        )
        return self.submit(request)

    def submit(self, request: GenerationRequest) -> int:
        """Queue a request; returns its id. Its text, progress and end come as signals carrying the id."""
        batch = _Batch(self.flush_interval)
        request_id = next(self._ids)

        def piece(text: str) -> None:
            if batch.add(text):
                self._emit(request_id, batch)

        def progress(done: int, total: int) -> None:
            self._progress.emit(request_id, done, total)

        ticket = self.service.generate(request, piece, on_progress=progress)
        with self._lock:
            self._tickets[request_id] = ticket
        ticket.add_done_callback(lambda done: self._generation_done(request_id, done, batch))
        return request_id

    def waiting(self, request_id: int) -> bool:
        """Whether the request still waits for the engine behind someone else's (the local server's, say)."""
        ticket = self._tickets.get(request_id)
        return ticket is not None and ticket.started_at is None

    def _emit(self, request_id: int, batch: _Batch) -> None:
        thoughts, text = batch.drain()
        if thoughts:
            self._thoughts.emit(request_id, thoughts)
        if text:
            self._tokens.emit(request_id, text)

    def _generation_done(self, request_id: int, ticket: Ticket, batch: _Batch) -> None:
        self._emit(request_id, batch)
        with self._lock:
            self._tickets.pop(request_id, None)
        error = ticket.future.exception()
        if error is None:
            self._finished.emit(request_id, ticket.future.result())
        elif isinstance(error, HermesError):
            self._failed.emit(request_id, str(error))
        else:
            self._failed.emit(request_id, f"Generation failed: {error}")

    def stop(self) -> None:
        """Stop this face's running reply and its queued ones (other faces' requests go on)."""
        with self._lock:
            tickets = list(self._tickets.values())
        for ticket in tickets:
            ticket.cancel()

    @property
    def closed(self) -> bool:
        return self._closed

    def shutdown(self) -> None:
        """Stop generating and loading; if this client started the service, end its thread and free the model.

        From now on this client emits nothing: what the engine thread still reports (a load that ends, the
        last text of a reply) is dropped on arrival, so nobody hears from an engine that is gone.
        """
        self._closed = True
        self.cancel_load()
        self.stop()
        if self._owns_service:
            self.service.close()
        self.loaded = None

    # the engine thread's news, on the GUI thread: passed on unless the client is shut down
    @Slot(object)
    def _remember_loaded(self, loaded: LoadedModel) -> None:
        if not self._closed:
            self.loaded = loaded
            self.model_loaded.emit(loaded)

    @Slot(object)
    def _set_loaded(self, loaded: LoadedModel | None) -> None:
        if not self._closed:
            self.loaded = loaded

    @Slot()
    def _forget_loaded(self) -> None:
        if not self._closed:
            self.loaded = None
            self.model_unloaded.emit()

    @Slot(float)
    def _relay_load_progress(self, progress: float) -> None:
        if not self._closed:
            self.load_progress.emit(progress)

    @Slot(str)
    def _relay_load_error(self, message: str) -> None:
        if not self._closed:
            self.load_failed.emit(message)

    @Slot(int, str)
    def _relay_tokens(self, request_id: int, text: str) -> None:
        if not self._closed:
            self.tokens.emit(request_id, text)

    def _relay_thoughts(self, request_id: int, text: str) -> None:
        if not self._closed:
            self.thoughts.emit(request_id, text)

    @Slot(int, int, int)
    def _relay_progress(self, request_id: int, done: int, total: int) -> None:
        if not self._closed:
            self.prompt_progress.emit(request_id, done, total)

    @Slot(int, object)
    def _relay_finished(self, request_id: int, stats: GenerationStats) -> None:
        if not self._closed:
            self.generation_finished.emit(request_id, stats)

    @Slot(int, str)
    def _relay_failed(self, request_id: int, message: str) -> None:
        if not self._closed:
            self.generation_failed.emit(request_id, message)


class _Batch:
    """Pieces of text gathered on the engine thread, let out at most once per interval (the first at once).

    Reasoning (``Thought`` pieces) is gathered apart from the answer: a Qt signal carries plain text only.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._pending: list[str] = []
        self._thoughts: list[str] = []
        self._last = 0.0

    def add(self, text: str) -> bool:
        """True: time to let the batch out (``drain``)."""
        (self._thoughts if is_thought(text) else self._pending).append(text)
        now = time.perf_counter()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True

    def drain(self) -> tuple[str, str]:
        """(reasoning, answer) gathered since the last drain."""
        thoughts, text = "".join(self._thoughts), "".join(self._pending)
        self._pending.clear()
        self._thoughts.clear()
        return thoughts, text


__all__ = ["FRAME_S", "EngineClient", "FinishReason", "GenerationStats", "RequestOptions"]
