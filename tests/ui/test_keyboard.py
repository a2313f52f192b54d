"""Issue 25, defect 5: the menu bar carries every action of the window with its shortcut, and the keyboard reaches
the model bar and the page rail (Tab) and every action (its shortcut, or Alt and the menus' mnemonics)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QMenu, QToolButton, QWidgetAction

from app.ui.shell.keyboard import key_paths, tool_buttons


def menu_actions(menu: QMenu) -> list[QAction]:
    found = []
    for action in menu.actions():
        if action.menu() is not None:
            found += menu_actions(action.menu())
        elif not action.isSeparator():
            found.append(action)
    return found


def all_menu_actions(window) -> list[QAction]:
    return [a for top in window.menuBar().actions() for a in menu_actions(top.menu())]


def focus(qtbot, window, widget) -> None:
    window.activateWindow()
    widget.setFocus()
    qtbot.waitUntil(lambda: window.isActiveWindow() and widget.hasFocus(), timeout=5000)


def test_the_menu_bar_carries_every_action_with_its_own_shortcut(window) -> None:
    titles = [action.text().replace("&", "") for action in window.menuBar().actions()]
    assert titles == ["File", "Edit", "View", "Model", "Chat", "Help"]
    in_menus = set(all_menu_actions(window))
    bar, panel = window.model_bar, window.persona
    everywhere = [a for a in bar.actions() if not isinstance(a, QWidgetAction) and a.text()]
    everywhere += [*window.router.actions.actions(), window.new_chat_action, window.settings_action]
    everywhere += [*window.chat_view.key_actions.values(), *panel.findChildren(QAction)]
    everywhere = [a for a in everywhere if a.text() and not a.isSeparator() and a.menu() is None]
    missing = [a.text() for a in everywhere if a not in in_menus]
    assert not missing, missing
    for action in (bar.options_action, bar.eject_action, bar.engines_action):  # none had a shortcut
        assert not action.shortcut().isEmpty(), action.text()
    without = [p.where for p in key_paths(window.menuBar()) if not p.shortcut and "Theme ›" not in p.where]
    assert not without, without  # the theme's three choices: Alt+V, T, then S, L or D (and Ctrl+Shift+T)

    # one key, one action: an ambiguous shortcut does nothing in Qt
    bound: dict[str, QAction] = {}
    for action in window.findChildren(QAction):
        for keys in action.shortcuts():
            text = keys.toString()
            assert bound.setdefault(text, action) is action, f"{text}: {action.text()} and {bound[text].text()}"

    # each menu's mnemonics are distinct (Alt+M, J reaches Eject)
    def mnemonics(menu: QMenu, where: str) -> None:
        letters = [QKeySequence.mnemonic(a.text()).toString() for a in menu.actions() if not a.isSeparator()]
        assert "" not in letters and len(letters) == len(set(letters)), (where, letters)
        for action in menu.actions():
            if action.menu() is not None:
                mnemonics(action.menu(), action.text())

    top = [QKeySequence.mnemonic(a.text()).toString() for a in window.menuBar().actions()]
    assert len(set(top)) == 6
    for action in window.menuBar().actions():
        mnemonics(action.menu(), action.text())


def test_tab_reaches_the_model_bar_and_the_page_rail(qtbot, window) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.model_picker.setFocus()
    qtbot.waitUntil(window.model_picker.hasFocus, timeout=5000)
    visited = []
    for _ in range(16):
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        visited.append(QApplication.focusWidget())
        if visited[-1] is window.sidebar.search:
            break
    names = [w.accessibleName() for w in visited if isinstance(w, QToolButton)]
    assert names[:4] == ["Open GGUF", "Engines", "New chat", "Settings"], names  # Eject, Load options: disabled
    assert names[4:] == ["Chat", "Discover", "My Models", "Downloads", "Server", "Lorebooks", "Knowledge"], names
    assert visited[-1] is window.sidebar.search
    assert all(b.focusPolicy() & Qt.FocusPolicy.TabFocus for b in tool_buttons(window.model_bar))
    discover = next(w for w in visited if w.accessibleName() == "Discover")
    discover.setFocus()
    QTest.keyClick(discover, Qt.Key.Key_Space)
    assert window.stack.currentWidget() is window.router.page("discover")


@pytest.mark.qt_log_ignore("This plugin does not support (raise|grabbing)")  # a menu popping up, offscreen
def test_the_keyboard_loads_ejects_and_opens_load_options(qtbot, window, library_with_model: Path) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    with qtbot.waitSignal(window.model_ready, timeout=60_000):
        window.model_bar.load_model(str(library_with_model))
    focus(qtbot, window, window.input)

    seen: list[str] = []

    def close_dialog() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QDialog):
            QTimer.singleShot(20, close_dialog)
            return
        seen.append(dialog.windowTitle())
        dialog.reject()

    QTimer.singleShot(0, close_dialog)
    QTest.keyClick(window.input, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert seen and "Load options" in seen[0]
    focus(qtbot, window, window.input)  # back from the dialog

    # Alt+M opens the Model menu, J is Eject's mnemonic
    with qtbot.waitSignal(window.model_bar.unloaded, timeout=30_000):
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_M, Qt.KeyboardModifier.AltModifier)
        qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=5000)
        menu = QApplication.activePopupWidget()
        QTest.keyClick(menu, Qt.Key.Key_J)
    assert window.client.loaded is None

    with qtbot.waitSignal(window.model_ready, timeout=60_000):
        window.model_bar.load_model(str(library_with_model))
    focus(qtbot, window, window.input)
    with qtbot.waitSignal(window.model_bar.unloaded, timeout=30_000):
        QTest.keyClick(window.input, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)


def test_help_lists_every_action_with_its_keys(qtbot, window) -> None:
    from app.ui.shell.keyboard import ShortcutsDialog

    dialog = ShortcutsDialog(window.menuBar(), window)
    qtbot.addWidget(dialog)
    rows = {dialog.table.item(r, 0).text(): dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert rows["Model › Eject"] == QKeySequence("Ctrl+E").toString(QKeySequence.SequenceFormat.NativeText)
    assert rows["Chat › Stop"] == "Esc" and rows["Chat › Regenerate"]
    assert len(rows) == len(all_menu_actions(window))


def test_new_chat_and_settings_stay_in_sight_while_a_model_loads(qtbot, window) -> None:
    """Issue 25, defect 7: at the default width, the bar's progress and Cancel pushed them behind "»"."""
    bar = window.model_bar
    assert window.width() == 1100
    bar._show_loading(True)  # what a load shows: the progress bar and Cancel
    bar.placement.setText(" Loading… ")
    qtbot.waitUntil(lambda: bar.loading_shown and bar.progress.isVisible())
    for action in (window.new_chat_action, window.settings_action, bar.eject_action, bar.engines_action):
        assert bar.widgetForAction(action).isVisible(), action.text()
    bar._show_loading(False)
