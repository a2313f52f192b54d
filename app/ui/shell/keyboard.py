"""The keyboard: the toolbar and the page rail in the Tab chain, and the list of every action's keys (Help → Keyboard
shortcuts), read from the menu bar itself so that it cannot drift from what the menus do."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMenu,
    QMenuBar,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


@dataclass(frozen=True)
class KeyPath:
    """How one action is reached from the keyboard."""

    where: str  # "Model › Eject"
    shortcut: str  # "Ctrl+E" ("" when it has none)
    menu_keys: str  # "Alt+M, J": the menu's and the item's mnemonics


def _mnemonic(text: str) -> str:
    key = QKeySequence.mnemonic(text)
    return key.toString(QKeySequence.SequenceFormat.NativeText).replace("Alt+", "") if not key.isEmpty() else ""


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def key_paths(bar: QMenuBar) -> list[KeyPath]:
    """Every action of every menu (submenus too), with its shortcut and its mnemonic path."""
    found: list[KeyPath] = []

    def walk(menu: QMenu, where: str, keys: str) -> None:
        for action in menu.actions():
            if action.isSeparator() or not action.isVisible():
                continue
            here = f"{where} › {_plain(action.text())}"
            letter = _mnemonic(action.text())
            path = f"{keys}, {letter}" if letter else f"{keys}, arrows"
            submenu = action.menu()
            if isinstance(submenu, QMenu):
                walk(submenu, here, path)
                continue
            shortcut = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            found.append(KeyPath(here, shortcut, path))

    for top in bar.actions():
        menu = top.menu()
        if isinstance(menu, QMenu):
            walk(menu, _plain(top.text()), f"Alt+{_mnemonic(top.text())}")
    return found


class ShortcutsDialog(QDialog):
    """Help → Keyboard shortcuts: every action, its shortcut and its path through the menus."""

    def __init__(self, bar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        paths = key_paths(bar)
        self.table = QTableWidget(len(paths), 3)
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.setHorizontalHeaderLabels(["Action", "Shortcut", "Through the menus"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        for row, path in enumerate(paths):
            for column, text in enumerate((path.where, path.shortcut, path.menu_keys)):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.resizeColumnsToContents()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(720, 560)


def tool_buttons(toolbar: QToolBar) -> list[QToolButton]:
    """The buttons of a toolbar's actions, in their order."""
    buttons = []
    for action in toolbar.actions():
        widget = toolbar.widgetForAction(action)
        if isinstance(widget, QToolButton):
            buttons.append(widget)
    return buttons


def tab_chain(window: MainWindow, rail: QToolBar) -> list[QWidget]:
    """Put the model bar and the page rail in the Tab chain, before the chats list: picker, the bar's buttons,
    the pages, then the sidebar (a toolbar's buttons take no focus by default: the keyboard could not reach them)."""
    bar = window.model_bar
    chain: list[QWidget] = [window.model_picker]
    for action in bar.actions():
        widget = bar.widgetForAction(action)
        takes_focus = isinstance(widget, QToolButton) or (
            widget is not None and bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus)
        )
        if widget is not None and widget is not window.model_picker and takes_focus:
            chain.append(widget)
    chain += tool_buttons(rail)
    for button in (*tool_buttons(bar), *tool_buttons(rail)):
        button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        action = button.defaultAction()
        if action is not None and not button.accessibleName():
            button.setAccessibleName(_plain(action.text()).rstrip("…"))
    sidebar = window.sidebar
    chain += [sidebar.search, sidebar.more, sidebar.view]
    for first, second in pairwise(chain):
        QWidget.setTabOrder(first, second)
    return chain
