"""The Lorebooks page's entry table: a lorebook's entries as rows, edited in place (and through the entry form).

Every edit goes through ``EntryTable.setData``, which checks it (a bad value is refused with a message in
``problem``, the entry unchanged) and marks the book changed; the page saves it through the core.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QPersistentModelIndex, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QLineEdit,
    QSpinBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from app.core.personas.lorebook import MAX_CONTENT, MAX_KEYS, Entry, Logic, Lorebook, Position, split_decorators
from app.core.personas.lorebook_scan import key_problem

Index = QModelIndex | QPersistentModelIndex

ENABLED, KEYS, SECONDARY, LOGIC, CONTENT, CONSTANT, ORDER, POSITION, DEPTH, PROBABILITY = range(10)
HEADERS = ("On", "Keys", "Secondary keys", "Logic", "Content", "Constant", "Order", "Position", "Depth", "Probability")
CHECKED = (ENABLED, CONSTANT)
NUMBERS = {ORDER: (-9999, 9999), DEPTH: (0, 9999), PROBABILITY: (0, 100)}
LOGIC_LABELS = {Logic.AND_ANY: "AND ANY", Logic.AND_ALL: "AND ALL", Logic.NOT_ANY: "NOT ANY", Logic.NOT_ALL: "NOT ALL"}
POSITION_LABELS = {
    Position.BEFORE_CHAR: "Before char",
    Position.AFTER_CHAR: "After char",
    Position.AN_TOP: "Note top",
    Position.AN_BOTTOM: "Note bottom",
    Position.AT_DEPTH: "At depth",
    Position.EM_TOP: "Examples top",
    Position.EM_BOTTOM: "Examples bottom",
}
POSITION_TIPS = {
    Position.BEFORE_CHAR: "Before the character's description",
    Position.AFTER_CHAR: "After the character's description",
    Position.AN_TOP: "At the top of the author's note",
    Position.AN_BOTTOM: "At the bottom of the author's note",
    Position.AT_DEPTH: "In the chat, this many messages from the end (the Depth column)",
    Position.EM_TOP: "Before the example messages",
    Position.EM_BOTTOM: "After the example messages",
}
TOOLTIPS = {
    ENABLED: "A switched-off entry never fires",
    KEYS: "Words that make the entry fire, separated by commas; /regex/i for a pattern",
    SECONDARY: "With the logic: AND ANY (one of these too), AND ALL, NOT ANY, NOT ALL",
    CONSTANT: "Always in the prompt, keys or not",
    ORDER: "Insertion order: higher goes later (nearer the end); the lowest go first when over the budget",
    DEPTH: "For “At a depth”: how many messages from the end",
    PROBABILITY: "Percent chance to fire once its keys match (rolled once per turn)",
}
_KEY = re.compile(r"\s*(/(?:\\.|[^/\\])+/[a-z]*(?=\s*(?:,|$))|[^,]+)\s*(?:,|$)")


def split_keys(text: str) -> list[str]:
    """Comma-separated keys; a ``/regex/flags`` key may hold commas of its own."""
    return [key.strip() for key in _KEY.findall(text) if key.strip()]


def join_keys(keys: list[str]) -> str:
    return ", ".join(keys)


def first_line(content: str, limit: int = 90) -> str:
    line = next((part for part in content.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


class EntryTable(QAbstractTableModel):
    """The entries of one lorebook; edits are made on the book's own Entry objects."""

    problem = Signal(str)  # an edit refused, and why
    edited = Signal()  # the book has changes not yet saved

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.book: Lorebook | None = None

    @property
    def entries(self) -> list[Entry]:
        return self.book.entries if self.book is not None else []

    def set_book(self, book: Lorebook | None) -> None:
        self.beginResetModel()
        self.book = book
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's own signature)
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return str(section + 1) if role == Qt.ItemDataRole.DisplayRole else None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return TOOLTIPS.get(section)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() in CHECKED:
            return base | Qt.ItemFlag.ItemIsUserCheckable
        if index.column() == CONTENT:
            return base  # long text: edited in the form below the table
        return base | Qt.ItemFlag.ItemIsEditable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.entries):
            return None
        entry, column = self.entries[index.row()], index.column()
        if role == Qt.ItemDataRole.CheckStateRole and column in CHECKED:
            on = entry.enabled if column == ENABLED else entry.constant
            return Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole and column in (CONTENT, POSITION):
            return entry.content[:2000] if column == CONTENT else POSITION_TIPS[entry.position]
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMBERS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return None
        edit = role == Qt.ItemDataRole.EditRole
        if column == KEYS:
            return join_keys(entry.keys)
        if column == SECONDARY:
            return join_keys(entry.secondary_keys)
        if column == LOGIC:
            return entry.logic.value if edit else LOGIC_LABELS[entry.logic]
        if column == CONTENT:
            return entry.content if edit else first_line(entry.content)
        if column == POSITION:
            return entry.position.value if edit else POSITION_LABELS[entry.position]
        if column in NUMBERS:
            value = {ORDER: entry.order, DEPTH: entry.depth, PROBABILITY: entry.probability}[column]
            return value if edit else f"{value} %" if column == PROBABILITY else str(value)
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or index.row() >= len(self.entries):
            return False
        entry, column = self.entries[index.row()], index.column()
        try:
            if role == Qt.ItemDataRole.CheckStateRole and column in CHECKED:
                on = Qt.CheckState(value) == Qt.CheckState.Checked if not isinstance(value, bool) else value
                setattr(entry, "enabled" if column == ENABLED else "constant", on)
            elif role != Qt.ItemDataRole.EditRole:
                return False
            elif column in (KEYS, SECONDARY):
                keys = split_keys(str(value))
                if len(keys) > MAX_KEYS:
                    raise ValueError(f"At most {MAX_KEYS} keys an entry.")
                if column == KEYS:
                    entry.keys = keys
                else:
                    entry.secondary_keys = keys
                    entry.selective = bool(keys) or entry.selective
                broken = [(key, why) for key in keys if (why := key_problem(key, regex=entry.use_regex))]
                if broken:  # kept as typed (nothing is lost), and said: it will never match
                    key, why = broken[0]
                    self.problem.emit(f"Entry {index.row() + 1}: the key “{key}” is ignored when scanning: {why}.")
            elif column == LOGIC:
                entry.logic = Logic(value)
            elif column == POSITION:
                entry.position = Position(value)
            elif column == CONTENT:
                self._set_content(entry, str(value))
            elif column in NUMBERS:
                self._set_number(entry, column, value)
            else:
                return False
        except ValueError as exc:
            self.problem.emit(f"Entry {index.row() + 1}, {HEADERS[column]}: {exc}")
            return False
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), len(HEADERS) - 1))
        self.edited.emit()
        return True

    @staticmethod
    def _set_content(entry: Entry, text: str) -> None:
        if len(text) > MAX_CONTENT:
            raise ValueError(f"the content is longer than {MAX_CONTENT:,} characters.")
        entry.content = text
        entry.decorators, entry.body = split_decorators(text)

    @staticmethod
    def _set_number(entry: Entry, column: int, value: Any) -> None:
        low, high = NUMBERS[column]
        try:
            number = int(str(value).strip().removesuffix("%").strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number.") from None
        if not low <= number <= high:
            raise ValueError(f"{number} is outside {low}…{high}.")
        if column == ORDER:
            entry.order = number
        elif column == DEPTH:
            entry.depth = number
        else:
            entry.probability = number
            entry.use_probability = entry.use_probability or number < 100

    # rows
    def add_entry(self, after: int | None = None) -> int:
        if self.book is None:
            return -1
        uid = max((entry.uid for entry in self.entries), default=-1) + 1
        return self._insert(Entry(uid, [], "", order=100), after)

    def duplicate(self, row: int) -> int:
        if self.book is None or not 0 <= row < len(self.entries):
            return -1
        copied = copy.deepcopy(self.entries[row])
        copied.uid = max(entry.uid for entry in self.entries) + 1
        copied.raw = {key: value for key, value in copied.raw.items() if key not in ("uid", "id", "displayIndex")}
        return self._insert(copied, row)

    def remove(self, rows: list[int]) -> None:
        for row in sorted(set(rows), reverse=True):
            if 0 <= row < len(self.entries):
                self.beginRemoveRows(QModelIndex(), row, row)
                del self.entries[row]
                self.endRemoveRows()
        if rows:
            self.edited.emit()

    def _insert(self, entry: Entry, after: int | None) -> int:
        assert self.book is not None
        row = len(self.entries) if after is None else after + 1
        self.beginInsertRows(QModelIndex(), row, row)
        self.entries.insert(row, entry)
        self.endInsertRows()
        self.edited.emit()
        return row


class EntryDelegate(QStyledItemDelegate):
    """Lists for the logic and the position, bounded spin boxes for the numbers, a line for the keys; the two
    switches drawn in the text's own colour (Fusion's check box all but vanishes on a dark Base) and toggled by a
    click anywhere in the cell or by Space."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        if index.column() not in CHECKED:
            super().paint(painter, option, index)
            return
        cell = QStyleOptionViewItem(option)
        self.initStyleOption(cell, index)
        cell.features &= ~QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
        cell.text = ""
        style = cell.widget.style() if cell.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, cell, painter, cell.widget)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        ink = option.palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        rect = option.rect
        side = max(8.0, min(14.0, rect.height() - 8.0))
        box = QRectF(rect.center().x() - side / 2 + 1, rect.center().y() - side / 2 + 1, side, side)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(ink, 1.3))
        painter.drawRoundedRect(box, 3, 3)
        if index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked:
            tick = QPen(ink, 2.0)
            tick.setCapStyle(Qt.PenCapStyle.RoundCap)
            tick.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            painter.setPen(tick)
            x, y = box.left(), box.top()
            painter.drawPolyline([QPointF(x + side * 0.22, y + side * 0.52), QPointF(x + side * 0.43, y + side * 0.74),
                                  QPointF(x + side * 0.8, y + side * 0.28)])  # fmt: skip
        painter.restore()

    def editorEvent(self, event: QEvent, model: Any, option: QStyleOptionViewItem, index: Index) -> bool:
        if index.column() not in CHECKED:
            return super().editorEvent(event, model, option, index)
        kind = event.type()
        toggle = (
            kind == QEvent.Type.MouseButtonRelease
            and isinstance(event, QMouseEvent)
            and event.button() == Qt.MouseButton.LeftButton
            and option.rect.contains(event.position().toPoint())
        ) or (
            kind == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Select)
        )
        if toggle:
            on = index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
            state = Qt.CheckState.Unchecked if on else Qt.CheckState.Checked
            return bool(model.setData(index, state.value, Qt.ItemDataRole.CheckStateRole))
        return kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick)  # no editor for a switch

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        column = index.column()
        if column in (LOGIC, POSITION):
            combo = QComboBox(parent)
            for value, label in (LOGIC_LABELS if column == LOGIC else POSITION_LABELS).items():
                combo.addItem(label, value.value)
                if column == POSITION:
                    combo.setItemData(combo.count() - 1, POSITION_TIPS[Position(value)], Qt.ItemDataRole.ToolTipRole)
            return combo
        if column in NUMBERS:
            spin = QSpinBox(parent)
            spin.setRange(*NUMBERS[column])
            return spin
        editor = QLineEdit(parent)
        editor.setPlaceholderText("dragon, Smaug, /drag(on|ons)/i")
        return editor

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        value = index.data(Qt.ItemDataRole.EditRole)
        if isinstance(editor, QComboBox):
            editor.setCurrentIndex(max(0, editor.findData(value)))
        elif isinstance(editor, QSpinBox):
            editor.setValue(int(value))
        elif isinstance(editor, QLineEdit):
            editor.setText(str(value))

    def setModelData(self, editor: QWidget, model: Any, index: Index) -> None:
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentData())
        elif isinstance(editor, QSpinBox):
            editor.interpretText()
            model.setData(index, editor.value())
        elif isinstance(editor, QLineEdit):
            model.setData(index, editor.text())
