"""Chat search on real SQLite (issue 27): the searcher's own connection finds what the store finds, sees new
chats, and stops at once when interrupted from another thread."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from app.core.history.search import ChatSearch, SearchInterrupted
from app.core.history.store import ChatStore

ALL = 100_000  # a page larger than any history here: every match
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
        found = [chat.id for chat in searcher.chats(query, limit=ALL).chats]
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
            assert [c.id for c in searcher.chats(query, ALL).chats] == [c.id for c in history.list_chats(query)]
    finally:
        searcher.close()


def test_the_searcher_sees_chats_written_after_it_opened_and_hides_deleted_ones(tmp_path: Path) -> None:
    store = generated_history(tmp_path / "chats.sqlite3", chats=20)
    searcher = ChatSearch(store.path)
    try:
        assert searcher.chats("albatross").chats == []
        chat = store.create_chat()
        store.add_message(chat, None, "user", "An albatross over the sea")
        assert [c.id for c in searcher.chats("albatross").chats] == [chat]
        store.delete_chat(chat)
        assert searcher.chats("albatross").chats == []
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
    found = [c.id for c in searcher.chats("quokka").chats]
    assert found == [c.id for c in history.list_chats("quokka")]  # usable after
    searcher.interrupt()  # nothing runs: harmless, the next query is not stopped by it
    assert len(searcher.chats("river", ALL).chats) == len(history.list_chats("river")) > 0
    searcher.close()


def _run(searcher: ChatSearch, query: str) -> object:
    try:
        return searcher.chats(query)
    except SearchInterrupted as exc:
        return exc


@pytest.mark.parametrize("fts", [True, False])
def test_a_page_of_results_reads_only_what_it_shows_and_the_next_page_finds_the_rest(
    history: ChatStore, fts: bool
) -> None:
    """A word in every chat: the first page is the newest chats, says there is more, and a larger page (the
    list scrolled to its end) goes on where it stopped, newest first, until every match is there."""
    from app.core.history.search import find_chat_page

    searcher = ChatSearch(history.path)
    db = searcher._connection()
    everything = [chat.id for chat in history.list_chats("river")]
    assert len(everything) > 250
    steps: list[int] = []
    db.set_progress_handler(lambda: steps.append(1) and 0, 100)  # SQLite's work, in steps of 100 instructions
    first = find_chat_page(db, "river", fts, limit=50)
    first_work, steps[:] = len(steps), []
    history_wide = find_chat_page(db, "river", fts, limit=len(everything) + 10)
    all_work = len(steps)
    db.set_progress_handler(None, 0)
    assert [c.id for c in first.chats] == everything[:50] and first.more
    assert first_work * 3 < all_work  # the first page did not walk every match
    assert [c.id for c in history_wide.chats] == everything and not history_wide.more
    second = find_chat_page(db, "river", fts, limit=100)
    assert [c.id for c in second.chats] == everything[:100] and second.more
    rare = find_chat_page(db, "narwhal", fts, limit=50)  # fewer matches than a page: all of them, no more
    assert [c.id for c in rare.chats] == [c.id for c in history.list_chats("narwhal")] and not rare.more
    searcher.close()
