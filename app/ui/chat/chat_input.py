"""The message box (``ChatInput``: Enter sends) and its in-place editor of a sent message (``MessageEditor``)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QTextOption
from PySide6.QtWidgets import QPlainTextEdit, QWidget


class ChatInput(QPlainTextEdit):
    """Enter sends; Shift+Enter starts a new line.

    Text with a long run without spaces (a pasted base64 blob, a minified file) wraps anywhere: Qt's word wrap
    looks for a break that never comes, again for every line (100,000 characters: 0.9 s, then 0.5 s a keystroke;
    anywhere: 0.05 s). Ordinary text wraps at words.
    """

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Type a message — Enter to send, Shift+Enter for a new line")
        self.setTabChangesFocus(True)
        self.textChanged.connect(self._short_again)

    def _short_again(self) -> None:
        """Sent or cleared: ordinary text wraps at words again."""
        if self.wordWrapMode() == QTextOption.WrapMode.WrapAnywhere and self.document().characterCount() < 300:
            self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)

    def setPlainText(self, text: str) -> None:
        self._wrap_for(text)
        super().setPlainText(text)

    def insertFromMimeData(self, source) -> None:
        if source.hasText():
            self._wrap_for(source.text(), adding=True)
        super().insertFromMimeData(source)

    def _wrap_for(self, text: str, *, adding: bool = False) -> None:
        from app.core.rendering.big_text import has_long_run

        anywhere = has_long_run(text) or (adding and self.wordWrapMode() == QTextOption.WrapMode.WrapAnywhere)
        mode = QTextOption.WrapMode.WrapAnywhere if anywhere else QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere
        if self.wordWrapMode() != mode:
            self.setWordWrapMode(mode)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class MessageEditor(ChatInput):
    """Edits a message in place: Enter sends the new version, Shift+Enter starts a new line, Esc cancels."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Enter sends this as a new version of your message · Esc cancels")
        self.setTabChangesFocus(True)
