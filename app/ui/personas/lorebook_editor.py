"""Beside the entry table: the form for one entry's long text, the Test box (which entries fire for a message), and
the book's own settings."""

from __future__ import annotations

import zlib

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.personas.lorebook import Lorebook, Position
from app.core.personas.lorebook_scan import Activation, Scanner, label
from app.ui.personas.lorebook_entries import CONTENT, KEYS, POSITION_LABELS, SECONDARY, EntryTable, join_keys
from app.ui.theme import color, secondary_text

TEST_DELAY_MS = 250  # typing pauses this long before the test runs again


class EntryForm(QWidget):
    """The selected entry's title, keys and content (the content is too long for a table cell)."""

    def __init__(self, table: EntryTable, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.row = -1
        self._loading = False
        self.title = QLineEdit(placeholderText="A name for the entry (only you see it)")
        self.keys = QLineEdit(placeholderText="dragon, Smaug, /drag(on|ons)/i")
        self.secondary = QLineEdit(placeholderText="Optional: with the entry's logic (AND ANY, NOT ALL…)")
        self.content = QPlainTextEdit(placeholderText="What enters the prompt when the entry fires")
        self.content.setTabChangesFocus(True)
        for widget, name in ((self.title, "Entry title"), (self.keys, "Entry keys"),
                             (self.secondary, "Entry secondary keys"), (self.content, "Entry content")):  # fmt: skip
            widget.setAccessibleName(name)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Tit&le", self.title)
        form.addRow("&Keys", self.keys)
        form.addRow("Secondar&y keys", self.secondary)
        form.addRow("C&ontent", self.content)
        self.title.textEdited.connect(self._title_edited)
        self.keys.editingFinished.connect(lambda: self._write(KEYS, self.keys.text()))
        self.secondary.editingFinished.connect(lambda: self._write(SECONDARY, self.secondary.text()))
        self.content.textChanged.connect(self._content_edited)
        table.dataChanged.connect(lambda first, _last: self._reload() if first.row() == self.row else None)
        table.modelReset.connect(lambda: self.show_entry(-1))
        self.show_entry(-1)

    def show_entry(self, row: int) -> None:
        self.row = row if 0 <= row < len(self.table.entries) else -1
        self.setEnabled(self.row >= 0)
        self._reload()

    def _reload(self) -> None:
        if self._loading:
            return
        entry = self.table.entries[self.row] if self.row >= 0 else None
        self._loading = True
        try:
            self.title.setText(entry.comment if entry else "")
            self.keys.setText(join_keys(entry.keys) if entry else "")
            self.secondary.setText(join_keys(entry.secondary_keys) if entry else "")
            if self.content.toPlainText() != (entry.content if entry else ""):
                self.content.setPlainText(entry.content if entry else "")
        finally:
            self._loading = False

    def _write(self, column: int, value: str) -> None:
        if self._loading or self.row < 0:
            return
        if str(self.table.index(self.row, column).data(Qt.ItemDataRole.EditRole)) == value:
            return  # focus left without a change
        self._loading = True
        try:
            accepted = self.table.setData(self.table.index(self.row, column), value)
        finally:
            self._loading = False
        if not accepted:
            self._reload()  # the refused text goes back to what the entry holds

    def _title_edited(self, text: str) -> None:
        if self.row >= 0 and not self._loading:
            self.table.entries[self.row].comment = text
            self.table.edited.emit()

    def _content_edited(self) -> None:
        self._write(CONTENT, self.content.toPlainText())


class FiringTest(QWidget):
    """Type a message: the entries that fire for it (and the key that matched), from the book as edited now."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.book: Lorebook | None = None
        self._scanner: Scanner | None = None
        self.activation: Activation | None = None
        self.message = QPlainTextEdit(placeholderText="Test: type a message as you would in a chat…")
        self.message.setAccessibleName("Test message")
        self.message.setTabChangesFocus(True)
        self.message.setMaximumHeight(70)
        self.summary = secondary_text(QLabel("Type a message to see which entries fire."))
        self.summary.setWordWrap(True)
        self.results = QTreeWidget()
        self.results.setAccessibleName("Entries that fire")
        self.results.setHeaderLabels(["Entry", "Why", "Where", "Tokens"])
        self.results.setRootIsDecorated(False)
        header = self.results.header()
        header.setStretchLastSection(False)
        for column, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch,
                                       QHeaderView.ResizeMode.ResizeToContents,
                                       QHeaderView.ResizeMode.ResizeToContents)):  # fmt: skip
            header.setSectionResizeMode(column, mode)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        heading = QLabel("&Test the lorebook")
        heading.setBuddy(self.message)
        layout.addWidget(heading)
        layout.addWidget(self.message)
        layout.addWidget(self.summary)
        layout.addWidget(self.results, 1)
        self.timer = QTimer(self, singleShot=True, interval=TEST_DELAY_MS)
        self.timer.timeout.connect(self.run)
        self.message.textChanged.connect(self.timer.start)

    def set_book(self, book: Lorebook | None) -> None:
        self.book = book
        self.book_edited()

    def book_edited(self) -> None:
        """The entries changed: compile them again before the next test."""
        self._scanner = None
        if self.message.toPlainText().strip():
            self.timer.start()

    def run(self) -> None:
        self.timer.stop()
        self.results.clear()
        text = self.message.toPlainText()
        if self.book is None or not text.strip():
            self.activation = None
            self.summary.setText("Type a message to see which entries fire." if self.book else "")
            return
        if self._scanner is None:
            self._scanner = Scanner([self.book])
        self.activation = self._scanner.activate([text], seed=zlib.crc32(text.encode()))
        self._show(self.activation)

    def _show(self, activation: Activation) -> None:
        fired = QBrush(color("fired"))
        for item in activation.fired:
            where = POSITION_LABELS[item.position] + (f" ({item.depth})" if item.position == Position.AT_DEPTH else "")
            row = QTreeWidgetItem([label(item.entry), item.reason, where, str(item.tokens)])
            row.setForeground(0, fired)
            row.setForeground(1, fired)
            row.setToolTip(0, item.text[:2000])
            row.setToolTip(1, item.reason)
            self.results.addTopLevelItem(row)
        for name, why in activation.dropped:
            row = QTreeWidgetItem([name, f"left out: {why}", "", ""])
            row.setForeground(0, QBrush(self.palette().placeholderText().color()))
            row.setForeground(1, QBrush(self.palette().placeholderText().color()))
            self.results.addTopLevelItem(row)
        for note in activation.notes:
            row = QTreeWidgetItem(["Note", note, "", ""])
            row.setForeground(1, QBrush(color("warning")))
            row.setToolTip(1, note)
            self.results.addTopLevelItem(row)
        count, tokens = len(activation.fired), sum(item.tokens for item in activation.fired)
        budget = self.book.token_budget if self.book else 0
        said = f"{count} entr{'y fires' if count == 1 else 'ies fire'}" if count else "No entry fires"
        self.summary.setText(f"{said} for this message ({tokens:,} of {budget:,} tokens of budget).")

    def fired_names(self) -> list[str]:
        return [label(item.entry) for item in self.activation.fired] if self.activation else []

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self.activation is not None:
            self.run()  # the colours of the theme now shown


class BookSettings(QWidget):
    """The book's own settings: how many messages are scanned, the token budget, recursion."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.book: Lorebook | None = None
        self._loading = False
        self.scan_depth = QSpinBox(minimum=0, maximum=1000, suffix=" messages")
        self.scan_depth.setToolTip("How many of the last messages are searched for keys (0: only constant entries)")
        self.budget = QSpinBox(minimum=1, maximum=1 << 20, singleStep=128, suffix=" tokens")
        self.budget.setToolTip("At most this much lore enters the prompt; the lowest order is left out first")
        self.recursive = QCheckBox("Entries can fire other entries")
        self.recursive.setToolTip("A fired entry's text is scanned for keys too (a few rounds at most)")
        for widget, name in ((self.scan_depth, "Scan depth"), (self.budget, "Token budget"),
                             (self.recursive, "Recursive scanning")):  # fmt: skip
            widget.setAccessibleName(name)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Scan de&pth", self.scan_depth)
        form.addRow("Token bud&get", self.budget)
        form.addRow(self.recursive)
        self.scan_depth.valueChanged.connect(lambda value: self._write("scan_depth", value))
        self.budget.valueChanged.connect(lambda value: self._write("token_budget", value))
        self.recursive.toggled.connect(lambda on: self._write("recursive_scanning", on))
        self.show_book(None)

    def show_book(self, book: Lorebook | None) -> None:
        self.book = book
        self._loading = True
        try:
            self.scan_depth.setValue(book.scan_depth if book else 2)
            self.budget.setValue(book.token_budget if book else 1024)
            self.recursive.setChecked(book.recursive_scanning if book else True)
        finally:
            self._loading = False
        self.setEnabled(book is not None)

    def _write(self, name: str, value: int | bool) -> None:
        if self._loading or self.book is None or getattr(self.book, name) == value:
            return
        setattr(self.book, name, value)
        self.changed.emit()
