"""Finding chats: the sidebar's query (titles and message text), and a searcher with a connection of its own.

``find_chats`` is the one query, used by ``ChatStore.list_chats`` (every match); ``find_chat_page`` is its page
for a screen (the sidebar, through ``ChatSearch``). A word matches as a prefix in the full-text index (FTS5)
where SQLite has it, else by a LIKE scan; a chat matches when its title contains the text or any of its
messages matches.

A page does not read every match: the index is walked from the newest message down, only until ``limit``
chats are found (a common word is found in the first few thousand messages, a rare one has few matches), and
those chats with the title matches come newest first. ``more`` says the walk stopped early: a larger
``limit`` (the list scrolled to its end) finds the older ones.

``ChatSearch`` runs that query on a read-only connection of its own, so a GUI can run it on a worker thread
while the store's connection stays on the GUI thread (WAL: readers never wait for the writer). ``interrupt``
(callable from any thread) stops the query in progress, which then raises ``SearchInterrupted``: the latest
query wins, a stale one stops as soon as a newer one is asked for.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.history.errors import StoreError
from app.core.history.records import ChatSummary, summary_of

ALL_CHATS = "SELECT * FROM chats WHERE deleted_at IS NULL ORDER BY updated_at DESC, id DESC"
MATCHING_CHATS = (
    "SELECT * FROM chats WHERE deleted_at IS NULL AND (title LIKE ? ESCAPE '\\' OR id IN "
    "(SELECT value FROM json_each(?))) ORDER BY updated_at DESC, id DESC"
)


PAGE = 200  # chats per page of search results: screens of them, far fewer than a year of chats
_BATCH = 256  # matches fetched at a time while walking the index


class SearchInterrupted(StoreError):
    """The query was stopped by ``ChatSearch.interrupt`` (a newer one replaces it)."""


@dataclass(frozen=True)
class SearchPage:
    chats: list[ChatSummary]  # newest first
    more: bool  # there may be more matches than these: ask again with a larger limit


def find_chat_page(db: Any, search: str, has_fts: bool, limit: int = PAGE) -> SearchPage:
    """The first ``limit`` chats ``search`` finds (``find_chats`` without reading every match)."""
    if not search.strip():
        rows = db.execute(ALL_CHATS + " LIMIT ?", (limit + 1,)).fetchall()
        return SearchPage([summary_of(row) for row in rows[:limit]], len(rows) > limit)
    ids, complete = _recent_matching_chat_ids(db, search, has_fts, limit)
    pattern = f"%{escape_like(search.strip())}%"
    rows = db.execute(MATCHING_CHATS + " LIMIT ?", (pattern, json.dumps(sorted(ids)), limit + 1)).fetchall()
    return SearchPage([summary_of(row) for row in rows[:limit]], len(rows) > limit or not complete)


def _recent_matching_chat_ids(db: Any, text: str, has_fts: bool, limit: int) -> tuple[set[int], bool]:
    """The chats of the newest matching messages, until ``limit`` of them; and whether every match was read."""
    cursor = None
    if has_fts:
        try:
            cursor = db.execute(
                "SELECT m.chat_id FROM message_search s JOIN messages m ON m.id = s.rowid "
                "WHERE message_search MATCH ? ORDER BY s.rowid DESC",
                (_fts_query(text),),
            )
        except sqlite3.OperationalError as exc:
            if "interrupt" in str(exc):
                raise
    if cursor is None:
        pattern = f"%{escape_like(text.strip())}%"
        cursor = db.execute(
            "SELECT chat_id FROM messages WHERE content LIKE ? ESCAPE '\\' ORDER BY id DESC", (pattern,)
        )
    found: set[int] = set()
    while len(found) < limit:
        batch = cursor.fetchmany(_BATCH)
        if not batch:
            return found, True
        found.update(row[0] for row in batch)
    cursor.close()
    return found, False


def _fts_query(text: str) -> str:
    return " ".join('"' + word.replace('"', '""') + '"*' for word in text.split())


def find_chats(db: Any, search: str, has_fts: bool) -> list[ChatSummary]:
    """Chats, most recently used first; with ``search``, those whose title or any message matches.

    ``db`` is a ``sqlite3.Connection`` or the store's guarded one (anything with ``execute``)."""
    if not search.strip():
        return [summary_of(row) for row in db.execute(ALL_CHATS)]
    ids = _matching_chat_ids(db, search, has_fts)
    pattern = f"%{escape_like(search.strip())}%"
    rows = db.execute(MATCHING_CHATS, (pattern, json.dumps(sorted(ids))))
    return [summary_of(row) for row in rows]


def _matching_chat_ids(db: Any, text: str, has_fts: bool) -> set[int]:
    if has_fts:
        try:
            rows = db.execute(
                "SELECT DISTINCT m.chat_id FROM message_search s JOIN messages m ON m.id = s.rowid "
                "WHERE message_search MATCH ?",
                (_fts_query(text),),
            )
            return {row[0] for row in rows}
        except sqlite3.OperationalError as exc:
            if "interrupt" in str(exc):
                raise
    pattern = f"%{escape_like(text.strip())}%"
    rows = db.execute("SELECT DISTINCT chat_id FROM messages WHERE content LIKE ? ESCAPE '\\'", (pattern,))
    return {row[0] for row in rows}


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ChatSearch:
    """``find_chats`` on a read-only connection of its own, opened by the thread that first searches.

    One thread searches at a time (a single worker); ``interrupt`` and ``close`` may come from another."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._has_fts = False
        self._lock = threading.Lock()  # guards _db between the worker (opening) and close/interrupt

    def _connection(self) -> sqlite3.Connection:
        with self._lock:
            if self._db is None:
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA query_only=ON")
                found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'message_search'")
                self._has_fts = found.fetchone() is not None
                self._db = db
            return self._db

    def chats(self, search: str, limit: int = PAGE) -> SearchPage:
        """The first ``limit`` chats ``search`` finds (newest first); ``SearchInterrupted`` if stopped."""
        try:
            return find_chat_page(self._connection(), search, self._has_fts, limit)
        except sqlite3.OperationalError as exc:
            if "interrupt" in str(exc):
                raise SearchInterrupted(f"The search for {search!r} was replaced by a newer one.") from exc
            raise StoreError(f"The chats could not be searched: {exc}.") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"The chats could not be searched: {exc}.") from exc

    def interrupt(self) -> None:
        """Stop the query in progress, if any (harmless when none runs)."""
        with self._lock:
            if self._db is not None:
                self._db.interrupt()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
