"""Chat search on real SQLite (issue 27): the searcher's own connection finds what the store finds, sees new
chats, and stops at once when interrupted from another thread."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from app.core.history.search import ChatSearch, SearchInterrupted
from app.core.history.store import ChatStore

WORDS = ["river", "mountain", "garden", "letter", "story", "music", "recipe", "engine", "winter", "budget"]


def generated_history(path: Path, chats: int = 300, messages: int = 12, seed: int = 27) -> ChatStore:
    """``chats`` chats of ``messages`` messages of random words (a smaller year; the bench builds the large one)."""
    rng = random.Random(seed)
    store = ChatStore(path)
    for index in range(chats):
        texts = [
            ("user" if i % 2 == 0 else "assistant", " ".join(rng.choice(WORDS) for _ in range(8)))
            for i in range(messages - 1)
        ]
        chat = store.record_chat(texts, " ".join(rng.choice(WORDS) for _ in range(20)), model="bench")
        store.rename_chat(chat, f"Chat {index:04d}")
    return store


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> ChatStore:
    store = generated_history(tmp_path_factory.mktemp("search") / "chats.sqlite3")
    marked = store.create_chat(title="Zeppelin notes")
    store.add_message(marked, None, "user", "A quokka and a narwhal")
    return store


@pytest.mark.parametrize("query", ["", "riv", "river", "quokka", "narwhal quokka", "zeppelin", "Chat 0042", "nothing"])
def test_the_searcher_finds_what_the_store_finds(history: ChatStore, query: str) -> None:
    searcher = ChatSearch(history.path)
    try:
        found = [chat.id for chat in searcher.chats(query)]
    finally:
        searcher.close()
    assert found == [chat.id for chat in history.list_chats(query)]
    if query in ("quokka", "narwhal quokka", "zeppelin"):  # by message text, and by title
        assert [history.chat(found[0]).title] == ["Zeppelin notes"] == [c.title for c in history.list_chats(query)]
    if query == "nothing":
        assert found == []


def test_odd_input_is_searched_as_text_not_as_query_syntax(history: ChatStore) -> None:
    searcher = ChatSearch(history.path)
    try:
        for query in ['"', "quokka AND", "NEAR(", "*", "a'b", "100%_"]:
            assert [c.id for c in searcher.chats(query)] == [c.id for c in history.list_chats(query)]
    finally:
        searcher.close()


def test_the_searcher_sees_chats_written_after_it_opened_and_hides_deleted_ones(tmp_path: Path) -> None:
    store = generated_history(tmp_path / "chats.sqlite3", chats=20)
    searcher = ChatSearch(store.path)
    try:
        assert searcher.chats("albatross") == []
        chat = store.create_chat()
        store.add_message(chat, None, "user", "An albatross over the sea")
        assert [c.id for c in searcher.chats("albatross")] == [chat]
        store.delete_chat(chat)
        assert searcher.chats("albatross") == []
    finally:
        searcher.close()
        store.close()


def test_interrupt_from_another_thread_stops_the_query_in_progress(history: ChatStore) -> None:
    searcher = ChatSearch(history.path)
    running, interrupted = threading.Event(), threading.Event()

    def progress() -> int:  # SQLite calls this while the query runs: the query is under way
        running.set()
        interrupted.wait(timeout=30)
        return 0  # carry on: only the interrupt may stop it

    searcher._connection().set_progress_handler(progress, 1000)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(_run(searcher, "r")))
    thread.start()
    assert running.wait(timeout=30)
    searcher.interrupt()
    interrupted.set()
    thread.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], SearchInterrupted)
    searcher._connection().set_progress_handler(None, 0)
    assert [c.id for c in searcher.chats("quokka")] == [c.id for c in history.list_chats("quokka")]  # usable after
    searcher.interrupt()  # nothing runs: harmless, the next query is not stopped by it
    assert len(searcher.chats("river")) == len(history.list_chats("river")) > 0
    searcher.close()


def _run(searcher: ChatSearch, query: str) -> object:
    try:
        return searcher.chats(query)
    except SearchInterrupted as exc:
        return exc
