"""The chat view's keyboard actions, which the window's menu bar carries too (Edit, View and Chat menus).

Those that make sense anywhere in the window (Regenerate, Continue, the versions) work anywhere in it, on the last
reply or the message in focus; the others (Copy, sideways scrolling of code) while the chat has the focus, so that
text fields keep their own Ctrl+C and Shift+arrows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractItemView

if TYPE_CHECKING:
    from app.ui.chat.chat_view import ChatView


def key_actions(view: ChatView) -> dict[str, QAction]:
    def shortcut(text: str, keys: str | QKeySequence.StandardKey, slot: Callable[[], object], *,
                 window: bool = False) -> QAction:  # fmt: skip
        action = QAction(text, view, shortcut=QKeySequence(keys))
        if not window:
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)  # the view or its action bar
        action.triggered.connect(lambda _checked=False: slot())
        view.addAction(action)
        return action

    return {
        "copy": shortcut("&Copy message", QKeySequence.StandardKey.Copy, view.copy_selected),
        "regenerate": shortcut("&Regenerate", "Ctrl+R", lambda: view.trigger("regenerate"), window=True),
        "continue": shortcut("&Continue", "Ctrl+Shift+Return", lambda: view.trigger("continue"), window=True),
        "previous": shortcut("&Previous version", "Alt+Left", lambda: step_version(view, -1), window=True),
        "next": shortcut("Ne&xt version", "Alt+Right", lambda: step_version(view, 1), window=True),
        "images": shortcut("View &images", "Ctrl+I", lambda: show_images(view)),
        "scroll_left": shortcut("Scroll code &left", "Shift+Left", lambda: view.scroll_code(-1)),
        "scroll_right": shortcut("Scroll code ri&ght", "Shift+Right", lambda: view.scroll_code(1)),
    }


def row_for(view: ChatView, name: str) -> int:
    """The message an action acts on: the one in focus, else the last that offers it ("edit", "version",
    "images")."""
    current = view.currentIndex().row()
    model = view.model()
    rows = model.rowCount() if model is not None else 0
    wanted = {
        "edit": lambda item: item.role == "user",
        "version": lambda item: item.sibling_count > 1,
        "images": lambda item: bool(item.images),
    }[name]
    focused = view.hasFocus() or view.actions_bar.has_focus_inside()
    if focused and 0 <= current < rows and wanted(view.item(current)):
        return current
    return next((row for row in range(rows - 1, -1, -1) if wanted(view.item(row))), -1)


def step_version(view: ChatView, step: int) -> None:
    row = row_for(view, "version")
    if row >= 0 and view.state() != QAbstractItemView.State.EditingState:
        view.switch_version(row, step)


def show_images(view: ChatView) -> None:
    """The focused message's images at full size (else the last message with any): the keyboard's way to them."""
    row = row_for(view, "images")
    if row >= 0:
        view.image_clicked.emit(row, 0)


def images_key(view: ChatView, event: QKeyEvent) -> bool:
    """Space on a message with images opens them (as a click on a thumbnail does); False where it is not ours."""
    row = view.currentIndex().row()
    if event.key() != Qt.Key.Key_Space or event.modifiers() or row < 0 or not view.item(row).images:
        return False
    if view.state() == QAbstractItemView.State.EditingState:
        return False
    view.image_clicked.emit(row, 0)
    return True
