"""The window fixture: every window is closed (and its engine joined). The thread checks are in tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.paths import resolve_paths
from app.core.settings import Settings


@pytest.fixture
def window(qtbot, basedir: Path):
    """A main window on a fresh base directory, with a small context for speed; closed (engine joined) at the end."""
    from app.ui.main_window import MainWindow

    paths = resolve_paths(basedir).ensure()
    win = MainWindow(paths, Settings(context_size=2048))
    qtbot.addWidget(win)
    win.persona.max_tokens.setValue(48)
    win.persona.temperature.setValue(0.0)
    win.show()
    yield win
    win.close()
