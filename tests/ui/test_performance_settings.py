"""Settings → Performance: the chat state cache's budgets reach the engine's cache, its holdings are shown, Clear
empties its folder, and the CLI (a second process) sees the same settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.core.engines.state_cache import namespace
from app.core.settings import load_settings


def _fill(window, states: int, size: int) -> Path:
    """``states`` saved states of ``size`` bytes each, in memory and (written, as the engine does) on disk."""
    cache = window.state_cache
    space = namespace("test model")
    for index in range(states):
        cache.put(space, list(range(index, index + 300)), bytes([index]) * size)
    cache.flush()
    return cache.folder / space


def test_budgets_holdings_and_clear(qtbot, window, basedir: Path) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui.settings_dialog import SettingsDialog

    cache = window.state_cache
    assert cache is window.client.engine.state_cache  # the window's engine keeps its states here
    assert cache.memory_budget == window.settings.state_memory_mib << 20 == 512 << 20  # the defaults
    assert cache.disk_budget == 4096 << 20
    folder = _fill(window, 3, 1 << 20)
    assert len(list(folder.glob("*.state"))) == 3
    seen: dict[str, str] = {}

    def choose() -> None:
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, SettingsDialog) and w.isVisible())
        states = dialog.states
        seen["held"] = states.held.text()
        states.memory.setValue(2)  # MiB: room for two of the 1 MiB states
        states.disk.setValue(1)
        states.prompt_lookup.setValue(6)
        dialog.accept()

    QTimer.singleShot(0, choose)
    window.open_settings()
    assert seen["held"].startswith("3 in memory") and "3 on disk" in seen["held"]
    assert (window.settings.state_memory_mib, window.settings.state_disk_mib) == (2, 1)
    assert window.settings.prompt_lookup == 6
    assert cache.memory_budget == 2 << 20 and cache.disk_budget == 1 << 20  # reached the engine's cache at once
    held = cache.holdings()
    assert held.memory_entries == 1 and held.disk_entries == 0  # the oldest evicted first (entries are over 1 MiB)
    saved = load_settings(window.paths.settings_file)
    assert (saved.state_memory_mib, saved.state_disk_mib, saved.prompt_lookup) == (2, 1, 6)

    # Clear: the dialog's button empties memory and the disk folder
    window.settings_store.update(state_memory_mib=64, state_disk_mib=64)
    folder = _fill(window, 2, 1000)
    assert len(list(folder.glob("*.state"))) == 2

    def clear() -> None:
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, SettingsDialog) and w.isVisible())
        dialog.states.clear.click()
        seen["cleared"] = dialog.states.held.text()
        dialog.reject()

    QTimer.singleShot(0, clear)
    window.open_settings()
    assert seen["cleared"].startswith("0 in memory") and "0 on disk" in seen["cleared"]
    assert list(folder.glob("*.state")) == [] and cache.holdings().memory_entries == 0

    # a second process, the CLI, reads the same settings and sees the same folder
    _fill(window, 1, 1000)
    done = subprocess.run(
        [sys.executable, "-m", "app", "states", "--basedir", str(basedir)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "memory 64 MiB, disk 64 MiB" in done.stdout and "on disk: 1 states" in done.stdout
    cleared = subprocess.run(
        [sys.executable, "-m", "app", "states", "--clear", "--basedir", str(basedir)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "on disk: 0 states" in cleared.stdout and list(folder.glob("*.state")) == []
