"""The engine thread: one long-lived worker owns the model; the GUI talks to it with queued signals.

Text comes back in batches, at most one signal per ``flush_interval`` (about a frame), never one
signal per token. Stop requests are plain attribute writes read between tokens, so they take
effect while the worker's event loop is busy generating.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.core.engine import Engine, GenerationStats, LoadedModel, LoadOptions, Sampling
from app.core.errors import HermesError
from app.core.prompt_formats import AUTO, ChatMessage

FormatChoice = tuple[str, str]  # (format key, custom template): what a preset asks for


@dataclass(frozen=True)
class RequestOptions:
    prompt_format: FormatChoice = (AUTO, "")
    context_policy: str = "stop"  # see app.core.context
    continue_text: str = ""  # carry on from this partial reply instead of starting a new one


log = logging.getLogger(__name__)

FRAME_S = 1 / 60


class EngineWorker(QObject):
    """Lives on the engine thread. Slots run there; signals are delivered queued to the GUI."""

    model_loaded = Signal(object)  # LoadedModel
    load_failed = Signal(str)  # a message for people
    model_unloaded = Signal()
    tokens = Signal(int, str)  # request id, a batch of text
    prompt_progress = Signal(int, int, int)  # request id, prompt tokens processed, prompt tokens in all
    generation_finished = Signal(int, object)  # request id, GenerationStats
    generation_failed = Signal(int, str)  # request id, a message for people

    def __init__(self, flush_interval: float = FRAME_S) -> None:
        super().__init__()
        self.engine = Engine()
        self.flush_interval = flush_interval
        self._cancelled_through = 0  # every request id <= this is cancelled (written by the GUI thread)

    def cancel_through(self, request_id: int) -> None:
        """Thread-safe: stop request ``request_id`` and every older one."""
        self._cancelled_through = max(self._cancelled_through, request_id)

    @Slot(str, object)
    def load(self, path: str, options: LoadOptions) -> None:
        try:
            loaded = self.engine.load(path, options)
        except HermesError as exc:
            self.load_failed.emit(str(exc))
        except Exception as exc:
            log.exception("unexpected error loading %s", path)
            self.load_failed.emit(f"Could not load {path}: {exc}")
        else:
            self.model_loaded.emit(loaded)

    @Slot()
    def unload(self) -> None:
        self.engine.unload()
        self.model_unloaded.emit()

    @Slot(int, object, object, object)
    def generate(
        self, request_id: int, messages: Sequence[ChatMessage], sampling: Sampling, options: RequestOptions
    ) -> None:
        if request_id <= self._cancelled_through:
            self.generation_finished.emit(request_id, GenerationStats(finish_reason="cancelled"))
            return
        try:
            generation = self.engine.stream(
                messages,
                sampling,
                should_stop=lambda: request_id <= self._cancelled_through,
                prompt_format=self.engine.prompt_format(*options.prompt_format),
                context_policy=options.context_policy,
                continue_text=options.continue_text,
                on_prompt_progress=lambda done, total: self.prompt_progress.emit(request_id, done, total),
            )
            pending: list[str] = []
            last_flush = 0.0  # the first piece goes out at once: time to first token matters
            for piece in generation:
                pending.append(piece)
                now = time.perf_counter()
                if now - last_flush >= self.flush_interval:
                    self.tokens.emit(request_id, "".join(pending))
                    pending.clear()
                    last_flush = now
            if pending:
                self.tokens.emit(request_id, "".join(pending))
        except HermesError as exc:
            self.generation_failed.emit(request_id, str(exc))
        except Exception as exc:
            log.exception("generation %d failed", request_id)
            self.generation_failed.emit(request_id, f"Generation failed: {exc}")
        else:
            self.generation_finished.emit(request_id, generation.stats)


class EngineClient(QObject):
    """The GUI thread's handle on the engine thread: starts it, sends it work, stops and joins it.

    The worker's signals are re-emitted here, on the GUI thread, so anything connected to the
    client (a widget's slot, a plain function, a test's waitSignal) runs on the GUI thread.
    """

    model_loaded = Signal(object)
    load_failed = Signal(str)
    model_unloaded = Signal()
    tokens = Signal(int, str)
    prompt_progress = Signal(int, int, int)
    generation_finished = Signal(int, object)
    generation_failed = Signal(int, str)

    _load_requested = Signal(str, object)
    _generate_requested = Signal(int, object, object, object)
    _unload_requested = Signal()

    def __init__(self, parent: QObject | None = None, flush_interval: float = FRAME_S) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("engine")
        self.worker = EngineWorker(flush_interval)
        self.worker.moveToThread(self._thread)
        self._load_requested.connect(self.worker.load)
        self._generate_requested.connect(self.worker.generate)
        self._unload_requested.connect(self.worker.unload)
        self._last_request = 0
        self.loaded: LoadedModel | None = None
        self.worker.model_loaded.connect(self._remember_loaded)
        self.worker.model_unloaded.connect(self._forget_loaded)
        for name in (
            "model_loaded",
            "load_failed",
            "model_unloaded",
            "tokens",
            "prompt_progress",
            "generation_finished",
            "generation_failed",
        ):
            getattr(self.worker, name).connect(getattr(self, name))  # queued: worker thread -> GUI thread
        self._thread.start()

    def load(self, path: str, options: LoadOptions) -> None:
        self.stop()
        self._load_requested.emit(path, options)

    def unload(self) -> None:
        self.stop()
        self._unload_requested.emit()

    def generate(
        self, messages: Sequence[ChatMessage], sampling: Sampling, options: RequestOptions = RequestOptions()
    ) -> int:
        """Queue a reply; returns its request id (tokens and results carry it)."""
        self._last_request += 1
        self._generate_requested.emit(self._last_request, list(messages), sampling, options)
        return self._last_request

    def stop(self) -> None:
        """Stop the running generation and any queued ones."""
        self.worker.cancel_through(self._last_request)

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self) -> None:
        """Stop generating, end the thread, wait for it, then free the model."""
        if not self._thread.isRunning():
            return
        self.stop()
        self._thread.quit()
        self._thread.wait()
        self.worker.engine.unload()  # the thread has ended: no concurrent use is possible
        self.loaded = None

    @Slot(object)
    def _remember_loaded(self, loaded: LoadedModel) -> None:
        self.loaded = loaded

    @Slot()
    def _forget_loaded(self) -> None:
        self.loaded = None
