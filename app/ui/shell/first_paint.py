"""The window's first paint: the chat column's outline (the chat area, the message box, the Send button), built from
plain QtWidgets classes, nothing of the chat imported (issue 20, part 4).

The real chat column (the conversation, its renderer, the engine client, the history store) is the window's first
stage, built in the event-loop turn after this paint (app/ui/shell/startup.py): it takes this box's place with what
was typed in it, its cursor and its focus (``hand_over``). Enter pressed here first builds the column, which sends.
Everything here is chosen to cost the cold start nothing PySide6 has not built already for a bare window: no ``Qt``
namespace (its 93 enum classes), no QtGui type beyond what showing a window needs.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

PLACEHOLDER = "Type a message — Enter to send, Shift+Enter for a new line"  # as app.ui.chat.chat_input.ChatInput's
INPUT_HEIGHT = 84  # as app.ui.chat.chat_controller.ChatColumn's
MARGIN = 8
ATTACH_ROOM = 30  # the attach button's width beside Send (the message box keeps its width when the column comes)


class _FirstInput(QPlainTextEdit):
    """The message box until the real one is built; Enter (without Shift) hands over and sends; its first paint is
    reported (``on_painted``)."""

    def __init__(self, on_enter: Callable[[], None]) -> None:
        super().__init__()
        self._on_enter = on_enter
        self.on_painted: Callable[[], None] | None = None
        self.setPlaceholderText(PLACEHOLDER)
        self.setTabChangesFocus(True)
        self.setFixedHeight(INPUT_HEIGHT)

    def keyPressEvent(self, event) -> None:  # (QKeyEvent: its module types cost nothing now, a key comes later)
        from PySide6.QtCore import Qt

        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._on_enter()
            return
        super().keyPressEvent(event)

    def paintEvent(self, event) -> None:  # (QPaintEvent)
        painted, self.on_painted = self.on_painted, None
        super().paintEvent(event)
        if painted is not None:
            painted()


class FirstPaint(QWidget):
    """The chat column's outline: an empty chat area over the message box and a (disabled) Send button.

    ``on_painted``: called once, when the message box is first painted (the window's stages start then)."""

    def __init__(self, on_enter: Callable[[], None], on_painted: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.input = _FirstInput(on_enter)
        self.input.on_painted = on_painted
        send = QPushButton("Send")
        send.setMinimumWidth(90)
        send.setEnabled(False)
        send_row = QHBoxLayout()
        send_row.addSpacing(ATTACH_ROOM)  # (where the attach button comes)
        send_row.addWidget(send, 1)
        buttons = QVBoxLayout()
        buttons.addStretch(1)
        buttons.addLayout(send_row)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addLayout(buttons)
        column = QVBoxLayout(self)
        column.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        column.addStretch(1)  # (the chat area: the welcome page or the chat, next turn)
        column.addLayout(row)

    def holds_focus(self) -> bool:
        """Whether the window's focus is in this box (or nowhere yet): the real one takes it then."""
        return self.input.hasFocus() or self.window().focusWidget() in (None, self.input)

    def hand_over(self, to: QPlainTextEdit, focus: bool) -> None:
        """What was typed here and where the cursor was, to the real message box (and the focus, if ``focus``)."""
        text = self.input.toPlainText()
        if text:
            position = self.input.textCursor().position()
            to.setPlainText(text)
            cursor = to.textCursor()
            cursor.setPosition(min(position, len(to.toPlainText())))
            to.setTextCursor(cursor)
        if focus:
            to.setFocus()
