"""The actions of one message, shown over it on hover or when it has the keyboard focus.

Real buttons (not painted ones): Tab reaches them, each has an accessible name and a tooltip
with its shortcut. The bar says which action was chosen (``triggered``); the chat view acts on it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QFont, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QWidget

from app.ui.chat.chat_model import ChatItem, MessageState
from app.ui.widgets import tool_button

BAR_HEIGHT = 24

# name, label, tooltip (with its shortcut on the focused message)
ACTIONS = (
    ("copy", "Copy", "Copy the message ({copy})"),
    ("edit", "Edit", "Edit and send as a new version (F2)"),
    ("regenerate", "Regenerate", "Write this reply again; the old one stays as a version (Ctrl+R)"),
    ("continue", "Continue", "Carry on writing this reply (Ctrl+Shift+Enter)"),
)


def available(item: ChatItem, *, last: bool, busy: bool) -> dict[str, bool]:
    """Which actions a message offers, and whether each can run now (False: shown disabled)."""
    offered: dict[str, bool] = {"copy": bool(item.text)}
    if item.role == "user":
        offered["edit"] = not busy
    elif last and item.state != MessageState.STREAMING:
        offered["regenerate"] = not busy and item.message_id is not None
        if item.can_continue:
            offered["continue"] = not busy
    return offered


class MessageActionBar(QWidget):
    triggered = Signal(str)  # the action's name
    focus_left = Signal()  # the keyboard focus left one of its buttons

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedHeight(BAR_HEIGHT)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.9))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.buttons: dict[str, QToolButton] = {}
        copy_keys = QKeySequence(QKeySequence.StandardKey.Copy).toString(QKeySequence.SequenceFormat.NativeText)
        for name, label, template in ACTIONS:
            tip = template.format(copy=copy_keys)
            button = tool_button(self, text=label, tooltip=tip, auto_raise=True)
            button.setAccessibleName(tip.split(" (")[0])
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setFont(small)
            button.setFixedHeight(BAR_HEIGHT)
            button.installEventFilter(self)
            button.clicked.connect(lambda _checked=False, action=name: self.triggered.emit(action))
            layout.addWidget(button)
            self.buttons[name] = button
        self.row = -1
        self._offered: dict[str, bool] = {}

    def show_for(self, row: int, offered: dict[str, bool]) -> None:
        """Show the actions a message offers (hidden when it offers none)."""
        if not offered:
            self.hide()
            return
        if self.isVisible() and (row, offered) == (self.row, self._offered):
            return  # (the view asks again on every change of a streaming row)
        self.row, self._offered = row, dict(offered)
        for name, button in self.buttons.items():
            button.setVisible(name in offered)
            button.setEnabled(offered.get(name, False))
        self.adjustSize()
        self.show()
        self.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FocusOut:
            self.focus_left.emit()
        return super().eventFilter(watched, event)

    def has_focus_inside(self) -> bool:
        return any(button.hasFocus() for button in self.buttons.values())
