"""The open chat's messages as a Qt list model: a view of its ``ChatSession``, which owns them.

The session changes its items and then says which row changed; this model turns that into Qt's
row signals. Streaming touches only the last row (``dataChanged`` for that row alone).
"""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from app.core.chat.session import ChatItem, ChatSession
from app.core.prompting.types import MessageState

Index = QModelIndex | QPersistentModelIndex

__all__ = ["ChatItem", "ChatModel", "ChatRoles", "MessageState"]


class ChatRoles(IntEnum):
    ROLE = Qt.ItemDataRole.UserRole + 1
    STATE = Qt.ItemDataRole.UserRole + 2
    STATS = Qt.ItemDataRole.UserRole + 3
    ITEM = Qt.ItemDataRole.UserRole + 4


class ChatModel(QAbstractListModel):
    """Rows are the session's items; the row count follows the session's notifications (Qt's protocol)."""

    def __init__(self, session: ChatSession, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self._rows = len(session.items)

    # Qt model API
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's own signature)
        return 0 if parent.isValid() else self._rows

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        items = self.session.items
        if not index.isValid() or not 0 <= index.row() < min(self._rows, len(items)):
            return None
        item = items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.text
        if role == ChatRoles.ROLE:
            return item.role
        if role == ChatRoles.STATE:
            return item.state.value
        if role == ChatRoles.STATS:
            return item.stats
        if role == ChatRoles.ITEM:
            return item
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        """Your own messages can be edited (each edit is sent as a new version), but not while a reply streams."""
        flags = super().flags(index)
        row = index.row()
        if index.isValid() and row < self._rows and self.session.items[row].role == "user" and not self.streaming:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    @property
    def streaming(self) -> bool:
        return self.session.busy

    # reading
    @property
    def items(self) -> list[ChatItem]:
        return list(self.session.items)

    def item(self, row: int) -> ChatItem:
        return self.session.items[row]

    def last(self) -> ChatItem | None:
        return self.session.last()

    # the session's notifications (see app.core.chat.session.SessionListener)
    def items_reset(self) -> None:
        self.beginResetModel()
        self._rows = len(self.session.items)
        self.endResetModel()

    def item_inserted(self, row: int) -> None:
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows = len(self.session.items)
        self.endInsertRows()

    def item_changed(self, row: int) -> None:
        if row < self._rows:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DisplayRole])
