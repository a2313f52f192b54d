"""Qt fixtures: no test may leave a QThread running; every window is closed (and its engine joined)."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path
from weakref import WeakKeyDictionary

import pytest
from PySide6.QtCore import QThread

from app.core.engines.service import live_services
from app.core.paths import resolve_paths
from app.core.settings import Settings


@pytest.fixture(autouse=True)
def _no_dangling_qthreads(monkeypatch: pytest.MonkeyPatch, qtbot) -> Iterator[None]:
    started: WeakKeyDictionary[QThread, str] = WeakKeyDictionary()
    original_start = QThread.start

    def start_and_remember(self: QThread, *args) -> None:
        started[self] = "".join(traceback.format_stack(limit=6)[:-1])
        original_start(self, *args)

    monkeypatch.setattr(QThread, "start", start_and_remember)
    yield
    running = [(thread, where) for thread, where in started.items() if thread.isRunning()]
    for thread, _ in running:
        thread.quit()
        thread.wait(2000)
    if running:
        pytest.fail("QThread left running, started at:\n" + "\n".join(where for _, where in running))
    services = live_services()
    for service in services:
        service.close(timeout=5)
    if services:
        pytest.fail(f"{len(services)} engine service thread(s) left running (close the window or the client)")


@pytest.fixture
def window(qtbot, basedir: Path):
    """A main window on a fresh base directory, with a small context for speed; closed (engine joined) at the end."""
    from app.ui.main_window import MainWindow

    paths = resolve_paths(basedir).ensure()
    win = MainWindow(paths, Settings(context_size=2048))
    qtbot.addWidget(win)
    win.max_tokens.setValue(48)
    win.temperature.setValue(0.0)
    win.show()
    yield win
    win.close()
