"""The sidebar of chats: newest first, searchable (titles and message text), rename, delete with undo."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from enum import IntEnum
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.history.search import PAGE, ChatSearch, SearchInterrupted, SearchPage
from app.core.history.store import ChatStore, ChatSummary, StoreError
from app.ui.theme import SPACE_S, SPACE_XS
from app.ui.widgets import EmptyListView, tool_button

log = logging.getLogger(__name__)
Index = QModelIndex | QPersistentModelIndex


class ChatListRoles(IntEnum):
    CHAT_ID = Qt.ItemDataRole.UserRole + 1
    TITLE = Qt.ItemDataRole.UserRole + 2


def relative_time(timestamp: float, now: float | None = None) -> str:
    """ "just now", "5 min ago", "3 h ago", "yesterday", or a date."""
    age = (now or time.time()) - timestamp
    if age < 60:
        return "just now"
    if age < 3600:
        return f"{age // 60:.0f} min ago"
    if age < 86400:
        return f"{age // 3600:.0f} h ago"
    if age < 2 * 86400:
        return "yesterday"
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))


class ChatListModel(QAbstractListModel):
    def __init__(self, parent=None, describe_preset: Callable[[str], str] = str) -> None:
        super().__init__(parent)
        self._chats: list[ChatSummary] = []
        self.describe_preset = describe_preset  # a preset id -> its name for people

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's own signature)
        return 0 if parent.isValid() else len(self._chats)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._chats):
            return None
        chat = self._chats[index.row()]
        if role == ChatListRoles.TITLE:
            return chat.title or "New chat"
        if role == ChatListRoles.CHAT_ID:
            return chat.id
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None  # the delegate asks for a dozen roles per row painted: only these two name the preset
        preset = self.describe_preset(chat.preset) if chat.preset else ""
        if role == Qt.ItemDataRole.DisplayRole:  # title, then model · preset · last used
            details = " · ".join(part for part in (chat.model, preset, relative_time(chat.updated_at)) if part)
            return f"{chat.title or 'New chat'}\n{details}"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(chat.updated_at))
        return f"{chat.title or 'New chat'}\n{chat.model or 'no model'} · {preset or 'no preset'} · {when}"

    def set_chats(self, chats: list[ChatSummary]) -> None:
        self.beginResetModel()
        self._chats = list(chats)
        self.endResetModel()

    def row_of(self, chat_id: int | None) -> int:
        return next((row for row, chat in enumerate(self._chats) if chat.id == chat_id), -1)


class _ChatDelegate(QStyledItemDelegate):
    """A chat as two lines cut with "…" to the sidebar's width: its title, then model · preset · when."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(10, option.fontMetrics.height() * 2 + 10)

    def paint(self, painter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        self.initStyleOption(option, index)
        title, _, details = option.text.replace("\u2028", "\n").partition("\n")  # Qt shows a newline as U+2028
        option.text = ""
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        rect = option.rect.adjusted(6, 4, -6, -4)
        line = option.fontMetrics.height()
        metrics = option.fontMetrics
        painter.save()
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(option.palette.color(text_role))
        painter.drawText(rect.adjusted(0, 0, 0, -line), Qt.AlignmentFlag.AlignLeft,
                         metrics.elidedText(title, Qt.TextElideMode.ElideRight, rect.width()))  # fmt: skip
        if not selected:
            painter.setPen(option.palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(rect.adjusted(0, line, 0, 0), Qt.AlignmentFlag.AlignLeft,
                         metrics.elidedText(details, Qt.TextElideMode.ElideRight, rect.width()))  # fmt: skip
        painter.restore()


class ChatSidebar(QWidget):
    """The chats, newest first. A search runs on a worker thread (its own read-only connection): the GUI never
    waits for it, the latest query wins (a stale one is interrupted, its answer dropped), and ``searched``
    says when the list shows a query's answer. The list without a search is read at once (it is quick)."""

    chat_selected = Signal(int)
    searched = Signal(str)  # the query whose answer the list now shows
    _found = Signal(int, str, object)  # generation, query, list of chats or an error (from the worker)
    new_chat_requested = Signal()
    delete_requested = Signal(int)
    rename_requested = Signal(int, str)  # a chat and its new title (ChatHistory saves it)
    export_requested = Signal(int)
    import_requested = Signal()

    def __init__(
        self, store: ChatStore, parent: QWidget | None = None, describe_preset: Callable[[str], str] = str
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.search = QLineEdit(placeholderText="Search chats…", clearButtonEnabled=True)
        self.search.setAccessibleName("Search chats")
        self.more = tool_button(text="⋯", tooltip="More: import a chat")
        self.more.setAccessibleName("More chat actions")
        self.more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.more)
        self.import_action = QAction("Import chat (JSON)…", self)
        menu.addAction(self.import_action)
        self.more.setMenu(menu)
        self.model = ChatListModel(self, describe_preset)
        self.view = EmptyListView("No chats yet.\nYour conversations appear here; Ctrl+N starts a new one.")
        self.view.setAccessibleName("Chats")
        self.view.setModel(self.model)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        # Every row is two lines (no size hint per row), laid out a batch per pass of the event loop: a list of
        # 5,000 chats never holds the GUI for its whole layout at once.
        self.view.setUniformItemSizes(True)
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(500)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setItemDelegate(_ChatDelegate(self.view))
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        top = QHBoxLayout()  # "New chat" is the toolbar's (Ctrl+N): once in the window, not twice
        top.setSpacing(SPACE_XS)
        top.addWidget(self.search, 1)
        top.addWidget(self.more)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE_S, SPACE_S, 0, SPACE_S)
        layout.setSpacing(SPACE_S)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        self._search_timer = QTimer(self, singleShot=True, interval=150)
        self._search_timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._search_timer.start)
        self.import_action.triggered.connect(self.import_requested)
        self.view.clicked.connect(lambda index: self.chat_selected.emit(index.data(ChatListRoles.CHAT_ID)))
        self.view.activated.connect(lambda index: self.chat_selected.emit(index.data(ChatListRoles.CHAT_ID)))
        self.view.customContextMenuRequested.connect(self._menu)
        self.current: int | None = None
        in_memory = store.path == Path(":memory:")  # another connection would see another, empty database
        self._searcher = None if in_memory else ChatSearch(store.path)
        self._worker: ThreadPoolExecutor | None = None
        self._generation = 0
        # Queued even when the future is done before its callback is added (the callback then runs here, at once).
        self._found.connect(self._apply_search, Qt.ConnectionType.QueuedConnection)
        self._searched_text, self._limit = "", PAGE  # a search shows its first ``_limit`` chats
        self.more_found = False  # the search found more than the list shows (the next page comes at its end)
        self.view.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.refresh()

    def refresh(self) -> None:
        """Show the chats again (after a change, or as the search text says)."""
        text = self.search.text()
        if text != self._searched_text:  # a new search starts with its first page
            self._searched_text, self._limit, self.more_found = text, PAGE, False
        self._generation += 1  # whatever search is on its way is stale now
        if self._searcher is not None:
            self._searcher.interrupt()
        if not text.strip() or self._searcher is None:  # every chat, newest first: a page of them is quick
            page = self.store.chat_page(text, self._limit)
            self.more_found = page.more
            self._show(page.chats, text)
            return
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-search")
        generation, searcher, limit = self._generation, self._searcher, self._limit

        def work() -> SearchPage | None:
            if generation != self._generation:  # a newer query came while this one waited: skip it
                return None
            return searcher.chats(text, limit)

        future = self._worker.submit(work)
        future.add_done_callback(lambda done: self._deliver(generation, text, done))

    def _deliver(self, generation: int, text: str, done: Future) -> None:
        """On the worker thread: hand the answer to the GUI thread."""
        if done.cancelled():
            return
        error = done.exception()
        with contextlib.suppress(RuntimeError):  # the sidebar is gone (the window closed while the query ran)
            self._found.emit(generation, text, error if error is not None else done.result())

    def _apply_search(self, generation: int, text: str, answer: object) -> None:
        if generation != self._generation or answer is None or isinstance(answer, SearchInterrupted):
            return  # stale: a newer query (or a refresh) replaced it
        if isinstance(answer, BaseException):
            log.warning("chat search for %r failed: %s", text, answer)
            detail = str(answer) if isinstance(answer, StoreError) else f"{type(answer).__name__}: {answer}"
            self.search.setToolTip(f"The search failed: {detail}")
            answer = SearchPage([], False)
        else:
            self.search.setToolTip("")
        page = answer if isinstance(answer, SearchPage) else SearchPage([], False)
        self.more_found = page.more
        self._show(page.chats, text)

    def _scrolled(self, value: int) -> None:
        """Near the end of a page of search results, with more to find: the next page (the list grows)."""
        bar = self.view.verticalScrollBar()
        scrolled = self.view.isVisible() and bar.maximum() > 0  # not a hidden list's, or a reset's, scroll bar
        if self.more_found and scrolled and value >= bar.maximum() - bar.pageStep():
            self.more_found = False  # asked once; the answer says again whether there is more
            self._limit += PAGE
            self.refresh()

    def _show(self, chats: list[ChatSummary], text: str) -> None:
        self.model.set_chats(chats)
        self.select(self.current)
        self.searched.emit(text)

    def close_search(self) -> None:
        """Stop a search in progress and release its thread and connection (the window is closing)."""
        self._search_timer.stop()
        self._generation += 1
        if self._searcher is not None:
            self._searcher.interrupt()
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None
        if self._searcher is not None:
            self._searcher.close()

    def select(self, chat_id: int | None) -> None:
        self.current = chat_id
        row = self.model.row_of(chat_id)
        selection = self.view.selectionModel()
        if row < 0:
            selection.clearSelection()
        else:
            self.view.setCurrentIndex(self.model.index(row))

    def rename(self, chat_id: int) -> None:
        current = self.store.chat(chat_id).title
        title, ok = QInputDialog.getText(self, "Rename chat", "Title:", text=current)
        if ok and title.strip():
            self.rename_requested.emit(chat_id, title)

    def _menu(self, position) -> None:
        index = self.view.indexAt(position)
        if not index.isValid():
            return
        chat_id = index.data(ChatListRoles.CHAT_ID)
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.rename(chat_id))
        menu.addAction("Export…", lambda: self.export_requested.emit(chat_id))
        menu.addSeparator()
        menu.addAction("Delete", lambda: self.delete_requested.emit(chat_id))
        menu.exec(self.view.viewport().mapToGlobal(position))
