"""The window's progressive start: its first paint is the chat column's outline; the rest is built in named stages,
one per event-loop turn after that paint, each small (aim: at most 50 ms on a 2-core laptop), importing what it needs
only then.

Anything asked for before its stage ran is built at once, with every stage before it, in order (so a stage may use
what earlier stages made, and code reading ``window.persona`` right after the constructor finds it): the window maps
its later attributes to the stage that makes them (``MainWindow.__getattr__``). ``when_built`` runs a callback once
every stage has run (the model of the last session is loaded then, not before the first paint).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QTimer, Signal

log = logging.getLogger(__name__)

FALLBACK_MS = 250  # no first paint by then (a window shown minimised): the stages start anyway


class StagedBuild(QObject):
    """Runs ``stages`` (name, build) in order: one a turn once ``start`` is called, or up to one on ``ensure``."""

    finished = Signal()  # every stage has run

    def __init__(self, stages: Sequence[tuple[str, Callable[[], None]]], parent: QObject) -> None:
        super().__init__(parent)
        self._stages = list(stages)
        self._names = [name for name, _build in self._stages]
        self._next = 0  # the first stage not started
        self._current = ""  # the stage running now ("" between stages)
        self._callbacks: list[Callable[[], None]] = []
        self._after_paint: list[Callable[[], None]] = []  # run in the first turn after the first paint
        self.times_ms: dict[str, float] = {}  # how long each stage took (docs/benchmarks.md, the start-up log)
        self._timer = QTimer(parent, singleShot=True, interval=0)  # the window's child: stopped when it closes
        self._timer.timeout.connect(self._step)
        self._stopped = False

    @property
    def done(self) -> bool:
        return self._next == len(self._stages) and not self._current

    def built(self, name: str) -> bool:
        """Whether stage ``name`` has run (started, when it is the one running)."""
        return self._names.index(name) < self._next

    @property
    def building(self) -> bool:
        """A stage is running now (what it asks of the window must be built already)."""
        return bool(self._current)

    def start(self) -> None:
        """Run the stages left, one per event-loop turn (and first what waits for the first paint)."""
        if (self._after_paint or not self.done) and not self._stopped:
            self._timer.start()

    def after_paint(self, callback: Callable[[], None]) -> None:
        """``callback`` runs in the first event-loop turn after the first paint, before the next stage (a start's
        work that no first paint needs, such as listening for later starts)."""
        self._after_paint.append(callback)

    def start_after_paint(self, fallback_ms: int = FALLBACK_MS) -> Callable[[], None]:
        """Start once the first paint calls the function returned (from its widget's ``paintEvent``: an event filter
        would make PySide6 build a Python type for each of ~80 QEvent classes, ~3 ms of the cold start), or
        ``fallback_ms`` after this if no paint comes (a window shown minimised, or on a screen that paints nothing)."""
        QTimer.singleShot(fallback_ms, self, self.start)
        return self.start  # (its first turn comes after this paint)

    def stop(self) -> None:
        """The window is closing: no stage runs by itself any more (``ensure`` still builds what is asked for)."""
        self._stopped = True
        self._timer.stop()

    def ensure(self, name: str) -> None:
        """Stage ``name`` has run when this returns: it runs now, after each stage before it that had not."""
        target = self._names.index(name)
        if target < self._next:
            return
        if self._current:
            raise RuntimeError(f"the window's stage {self._current!r} needs {name!r}, which is built after it")
        while self._next <= target:
            self._run_next()

    def when_built(self, callback: Callable[[], None]) -> None:
        """``callback`` runs once every stage has run (now, if they have)."""
        if self.done:
            callback()
        else:
            self._callbacks.append(callback)

    def _step(self) -> None:
        if self._stopped:
            return
        waiting, self._after_paint = self._after_paint, []
        for callback in waiting:
            callback()
        if self._next < len(self._stages):
            self._run_next()
        if self._next < len(self._stages):
            self._timer.start()

    def _run_next(self) -> None:
        name, build = self._stages[self._next]
        self._next += 1
        self._current = name
        started = time.perf_counter()
        try:
            build()
        finally:
            self._current = ""
            self.times_ms[name] = (time.perf_counter() - started) * 1000
            log.debug("window stage %s: %.1f ms", name, self.times_ms[name])
        if self._next == len(self._stages):
            self._timer.stop()
            callbacks, self._callbacks = self._callbacks, []
            for callback in callbacks:
                callback()
            self.finished.emit()
