"""The sidebar's search (issue 27) on a generated history in real SQLite, offscreen: the query runs on a worker
thread, its answer is applied when it arrives, the latest query wins, and the list without a search is at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.core.history.search import PAGE, ChatSearch
from app.core.history.store import ChatStore
from app.ui.chat.chat_list import ChatListRoles, ChatSidebar
from tests.core.test_chat_search import generated_history


@pytest.fixture
def store(tmp_path: Path):
    store = generated_history(tmp_path / "chats.sqlite3", chats=300)
    yield store
    store.close()


@pytest.fixture
def sidebar(qtbot, store: ChatStore):
    sidebar = ChatSidebar(store)
    qtbot.addWidget(sidebar)
    yield sidebar
    sidebar.close_search()


def ids(sidebar: ChatSidebar) -> list[int]:
    return [sidebar.model.index(row).data(ChatListRoles.CHAT_ID) for row in range(sidebar.model.rowCount())]


def test_a_search_runs_off_the_gui_thread_and_its_answer_arrives(qtbot, sidebar, store, monkeypatch) -> None:
    threads: list[threading.Thread] = []
    chats = ChatSearch.chats

    def recorded(self: ChatSearch, search: str, limit: int = 200):
        threads.append(threading.current_thread())
        return chats(self, search, limit)

    monkeypatch.setattr(ChatSearch, "chats", recorded)
    assert ids(sidebar) == [c.id for c in store.list_chats()][:PAGE] and sidebar.more_found  # a page of 300
    sidebar.search.setText("Chat 0042")
    with qtbot.waitSignal(sidebar.searched, timeout=30_000) as searched:
        sidebar.refresh()
        assert sidebar.model.rowCount() == PAGE  # refresh returned before the answer: the GUI did not wait for it
    assert searched.args == ["Chat 0042"]
    assert ids(sidebar) == [c.id for c in store.list_chats("Chat 0042")] and len(ids(sidebar)) == 1
    assert threads and all(thread is not threading.main_thread() for thread in threads)


def test_the_latest_query_wins(qtbot, sidebar, store) -> None:
    shown: list[str] = []
    sidebar.searched.connect(shown.append)
    for text in ("r", "ri", "riv", "garden"):  # each replaces the one before, wherever it is
        sidebar.search.setText(text)
        sidebar.refresh()
    qtbot.waitUntil(lambda: shown == ["garden"], timeout=30_000)
    qtbot.wait(100)  # an older answer still on its way would land here
    assert shown == ["garden"]
    assert ids(sidebar) == [c.id for c in store.list_chats("garden")][:PAGE]  # the first page


def test_the_debounced_typing_searches_once_and_clearing_lists_every_chat_at_once(qtbot, sidebar, store) -> None:
    shown: list[str] = []
    sidebar.searched.connect(shown.append)
    for text in ("m", "mo", "mou", "mountain"):
        sidebar.search.setText(text)
    qtbot.waitUntil(lambda: shown == ["mountain"], timeout=30_000)
    assert ids(sidebar) == [c.id for c in store.list_chats("mountain")][:PAGE]
    sidebar.search.setText("")
    sidebar.refresh()
    assert len(ids(sidebar)) == PAGE and shown[-1] == ""  # no search: read at once (a page), no worker


def test_a_chat_selected_stays_selected_through_a_search(qtbot, sidebar, store) -> None:
    chat = store.list_chats("Chat 0007")[0].id
    sidebar.select(chat)
    sidebar.search.setText("Chat 0007")
    with qtbot.waitSignal(sidebar.searched, timeout=30_000):
        sidebar.refresh()
    assert ids(sidebar) == [chat]
    assert sidebar.view.currentIndex().data(ChatListRoles.CHAT_ID) == chat


@pytest.mark.expect_log(r"chat search for 'river' failed: .*disk I/O error")
def test_a_failed_search_says_why_and_the_app_stays_up(qtbot, sidebar, store, monkeypatch) -> None:
    def broken(self: ChatSearch, search: str, limit: int = 200):
        raise ChatStoreGone("The chats could not be searched: disk I/O error.")

    from app.core.history.errors import StoreError

    class ChatStoreGone(StoreError):
        pass

    monkeypatch.setattr(ChatSearch, "chats", broken)
    sidebar.search.setText("river")
    with qtbot.waitSignal(sidebar.searched, timeout=30_000):
        sidebar.refresh()
    assert ids(sidebar) == [] and "disk I/O error" in sidebar.search.toolTip()
    monkeypatch.undo()
    with qtbot.waitSignal(sidebar.searched, timeout=30_000):
        sidebar.refresh()
    assert ids(sidebar) == [c.id for c in store.list_chats("river")][:PAGE] and sidebar.search.toolTip() == ""


def test_an_in_memory_history_is_searched_in_place(qtbot) -> None:
    store = ChatStore.in_memory()
    chat = store.create_chat(title="Kept in memory")
    sidebar = ChatSidebar(store)
    qtbot.addWidget(sidebar)
    sidebar.search.setText("memory")
    sidebar.refresh()
    assert ids(sidebar) == [chat]
    sidebar.close_search()
    store.close()


def test_a_search_shows_a_page_and_scrolling_to_its_end_brings_the_next(qtbot, sidebar, store) -> None:
    everything = [c.id for c in store.list_chats("river")]
    assert len(everything) > PAGE
    sidebar.resize(300, 600)
    sidebar.show()
    sidebar.search.setText("river")
    with qtbot.waitSignal(sidebar.searched, timeout=30_000):
        sidebar.refresh()
    assert ids(sidebar) == everything[:PAGE] and sidebar.more_found
    with qtbot.waitSignal(sidebar.searched, timeout=30_000):
        sidebar.view.scrollToBottom()
    assert ids(sidebar) == everything and not sidebar.more_found


def test_every_chat_is_a_page_too_and_scrolling_brings_the_rest(qtbot, sidebar, store) -> None:
    everything = [c.id for c in store.list_chats()]
    sidebar.resize(300, 600)
    sidebar.show()
    assert ids(sidebar) == everything[:PAGE] and sidebar.more_found
    sidebar.view.scrollToBottom()  # no search: the next page is read at once
    assert ids(sidebar) == everything and not sidebar.more_found
