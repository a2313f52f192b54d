"""The messages of the open chat as a list model; streaming touches only the last row."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import IntEnum

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from app.core.engine import GenerationStats
from app.core.prompt_formats import ChatMessage

_uids = itertools.count(1)
Index = QModelIndex | QPersistentModelIndex


class MessageState(IntEnum):
    DONE = 0
    STREAMING = 1
    STOPPED = 2  # the user stopped it; the text so far is kept
    ERROR = 3
    INTERRUPTED = 4  # the app died while it streamed; the text saved so far is kept

    @classmethod
    def from_store(cls, state: str) -> MessageState:
        return {"done": cls.DONE, "streaming": cls.INTERRUPTED, "interrupted": cls.INTERRUPTED,
                "stopped": cls.STOPPED, "error": cls.ERROR}.get(state, cls.DONE)  # fmt: skip

    @property
    def store_name(self) -> str:
        return {self.STREAMING: "streaming", self.STOPPED: "stopped", self.ERROR: "error",
                self.INTERRUPTED: "interrupted"}.get(self, "done")  # fmt: skip


@dataclass
class ChatItem:
    role: str  # "user" or "assistant"
    text: str = ""
    state: MessageState = MessageState.DONE
    stats: GenerationStats | None = None
    model_name: str = ""
    error: str = ""
    message_id: int | None = None  # the row in the chat store, once saved
    sibling_index: int = 0  # which version of this turn is shown ...
    sibling_count: int = 1  # ... out of how many
    uid: int = field(default_factory=lambda: next(_uids))
    revision: int = 0  # bumped on every text change; view caches key on (uid, revision)
    left_out: bool = False  # the context policy left it out of the last prompt
    reading: str = ""  # while the prompt is processed: how far ("45 % of 2,048 tokens")

    @property
    def can_continue(self) -> bool:
        stats_cut = self.stats is not None and self.stats.finish_reason == "length"
        return (
            self.role == "assistant"
            and bool(self.text)
            and (self.state in (MessageState.STOPPED, MessageState.INTERRUPTED) or stats_cut)
        )


class ChatRoles(IntEnum):
    ROLE = Qt.ItemDataRole.UserRole + 1
    STATE = Qt.ItemDataRole.UserRole + 2
    STATS = Qt.ItemDataRole.UserRole + 3
    ITEM = Qt.ItemDataRole.UserRole + 4


class ChatModel(QAbstractListModel):
    """A flat list of messages. ``append_to_last`` emits ``dataChanged`` for one row only."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._items: list[ChatItem] = []
        self.sent_rows: list[int] = []  # the row of each message of the last conversation() (-1: system prompt)

    # Qt model API
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's own signature)
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.text
        if role == ChatRoles.ROLE:
            return item.role
        if role == ChatRoles.STATE:
            return int(item.state)
        if role == ChatRoles.STATS:
            return item.stats
        if role == ChatRoles.ITEM:
            return item
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        """Your own messages can be edited (each edit is sent as a new version), but not while a reply streams."""
        flags = super().flags(index)
        if index.isValid() and self._items[index.row()].role == "user" and not self.streaming:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    @property
    def streaming(self) -> bool:
        return bool(self._items) and self._items[-1].state == MessageState.STREAMING

    def roleNames(self) -> dict[int, bytes]:
        return {
            Qt.ItemDataRole.DisplayRole: b"text",
            ChatRoles.ROLE: b"role",
            ChatRoles.STATE: b"state",
            ChatRoles.STATS: b"stats",
            ChatRoles.ITEM: b"item",
        }

    # chat API
    @property
    def items(self) -> list[ChatItem]:
        return list(self._items)

    def append(self, item: ChatItem) -> ChatItem:
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(item)
        self.endInsertRows()
        return item

    def extend(self, items: list[ChatItem]) -> None:
        if not items:
            return
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row + len(items) - 1)
        self._items.extend(items)
        self.endInsertRows()

    def append_to_last(self, text: str) -> None:
        item = self._items[-1]
        item.text += text
        item.revision += 1
        self._changed(len(self._items) - 1)

    def set_reading(self, progress: str) -> None:
        """How far the prompt of the reply being generated (the last row) has been read."""
        item = self._items[-1]
        if item.reading != progress:
            item.reading = progress
            item.revision += 1
            self._changed(len(self._items) - 1)

    def finish_last(self, state: MessageState, stats: GenerationStats | None = None, error: str = "") -> None:
        item = self._items[-1]
        item.state, item.stats, item.error, item.reading = state, stats, error, ""
        item.revision += 1
        self._changed(len(self._items) - 1)

    def clear(self) -> None:
        self.reset([])

    def reset(self, items: list[ChatItem]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def replace_last(self, item: ChatItem) -> None:
        """Swap the last row for another (a regenerated reply takes the old one's place)."""
        self._items[-1] = item
        self._changed(len(self._items) - 1)

    def item(self, row: int) -> ChatItem:
        return self._items[row]

    def last(self) -> ChatItem | None:
        return self._items[-1] if self._items else None

    def conversation(self, system_prompt: str, upto: int | None = None) -> list[ChatMessage]:
        """What the engine is sent: the system prompt, then every message with text (errors left out).

        ``upto``: only the rows before this one.
        """
        messages: list[ChatMessage] = []
        rows: list[int] = []
        if system_prompt.strip():
            messages.append({"role": "system", "content": system_prompt})
            rows.append(-1)
        for row, item in enumerate(self._items[:upto]):
            if item.state == MessageState.ERROR or not item.text or item.state == MessageState.STREAMING:
                continue
            messages.append({"role": "user" if item.role == "user" else "assistant", "content": item.text})
            rows.append(row)
        self.sent_rows = rows
        return messages

    def mark_left_out(self, rows: list[int]) -> None:
        """Show which messages the last prompt left out (and no others)."""
        wanted = set(rows)
        for row, item in enumerate(self._items):
            if item.left_out != (row in wanted):
                item.left_out = row in wanted
                item.revision += 1
                self._changed(row)

    def _changed(self, row: int) -> None:
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DisplayRole])
