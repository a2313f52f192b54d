"""A long chat in the chat view: only the messages near the viewport are laid out (issue 27).

A real ChatView, offscreen, over a real ChatSession on a real SQLite store with a 2,000-message chat.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.chat.session import ChatSession
from app.core.history.store import ChatStore
from app.ui.chat.chat_model import ChatModel
from app.ui.chat.chat_view import ChatView

MESSAGES = 2000


class Listener:
    """The session's notifications, handed to the Qt model as the window's Conversation does."""

    def __init__(self) -> None:
        self.model: ChatModel | None = None

    def items_reset(self) -> None:
        assert self.model is not None
        self.model.items_reset()

    def item_inserted(self, row: int) -> None:
        assert self.model is not None
        self.model.item_inserted(row)

    def item_changed(self, row: int) -> None:
        assert self.model is not None
        self.model.item_changed(row)

    def state_changed(self, state) -> None:
        pass

    def save_failed(self, message: str) -> None:
        raise AssertionError(message)


def reply(index: int) -> str:
    return f"## Answer {index}\n\nSome **text** that wraps. " * 3 + f"\n\n```python\nprint({index})\n```\n"


@pytest.fixture
def long_chat(tmp_path: Path, qtbot):
    store = ChatStore(tmp_path / "chats.sqlite3")
    turns = [("user", f"Question {i}?") if i % 2 == 0 else ("assistant", reply(i)) for i in range(MESSAGES - 1)]
    chat_id = store.record_chat(turns, reply(MESSAGES))
    listener = Listener()
    session = ChatSession(store, listener)
    model = listener.model = ChatModel(session)
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 600)
    view.setModel(model)
    view.show()
    qtbot.waitExposed(view)
    yield session, chat_id, view
    view.close()
    store.close()


def visible_rows(view: ChatView) -> range:
    last = view.rowAt(view.viewport().height() - 1)
    return range(max(0, view.rowAt(0)), (view.model().rowCount() - 1 if last < 0 else last) + 1)


def exact(view: ChatView, row: int) -> bool:
    """The row's height is its laid-out height at the view's width."""
    item = view.item(row)
    return view.rowHeight(row) == view.message_delegate.cached_height(item, view.viewport().width())


def test_opening_a_long_chat_lays_out_only_what_is_near_the_viewport(long_chat, qtbot) -> None:
    session, chat_id, view = long_chat
    session.open(chat_id)
    assert view.model().rowCount() == MESSAGES
    bar = view.verticalScrollBar()
    assert bar.value() == bar.maximum() > 0  # at the newest message
    assert view.rowAt(view.viewport().height() - 1) == MESSAGES - 1 or view.rowAt(0) <= MESSAGES - 1
    assert all(exact(view, row) for row in visible_rows(view))
    # the margin (a screenful each way) is measured on later turns of the event loop, a few rows at a time
    qtbot.waitUntil(lambda: not view.row_heights._margin_timer.isActive(), timeout=10_000)
    laid_out = sum(view.message_delegate.cached_height(view.item(r), view.viewport().width()) is not None
                   for r in range(MESSAGES))  # fmt: skip
    assert len(visible_rows(view)) < laid_out < 100
    assert bar.value() == bar.maximum()  # still at the bottom after the heights were refined


def test_scrolling_measures_the_rows_that_come_into_view_and_keeps_the_top_row_in_place(long_chat, qtbot) -> None:
    session, chat_id, view = long_chat
    session.open(chat_id)
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum() // 2)
    top = view.rowAt(0)
    offset = view.rowViewportPosition(top)
    assert all(exact(view, row) for row in visible_rows(view))
    qtbot.waitUntil(lambda: not view.row_heights._margin_timer.isActive(), timeout=10_000)
    assert view.rowAt(0) == top and view.rowViewportPosition(top) == offset  # nothing jumped under the user
    view.scrollToTop()
    assert view.rowAt(0) == 0 and all(exact(view, row) for row in visible_rows(view))


def test_a_resize_lays_out_again_only_what_is_on_screen(long_chat, qtbot) -> None:
    session, chat_id, view = long_chat
    session.open(chat_id)
    qtbot.waitUntil(lambda: not view.row_heights._margin_timer.isActive(), timeout=10_000)
    view.resize(1000, 600)
    width = view.viewport().width()
    qtbot.waitUntil(lambda: view._layout_width == width, timeout=10_000)
    qtbot.waitUntil(lambda: not view.row_heights._margin_timer.isActive(), timeout=10_000)
    assert all(exact(view, row) for row in visible_rows(view))
    assert len(view.message_delegate._cache) < 100  # the layouts at the old width were dropped, not redone
    bar = view.verticalScrollBar()
    assert bar.value() == bar.maximum()
