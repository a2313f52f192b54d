"""Every conversation in one SQLite database: a tree of messages per chat, safe against crashes.

- WAL journal, foreign keys, ``PRAGMA user_version`` migrations from version 1 on.
- A message tree (``parent_id``); each chat remembers its active leaf, and the active path is
  the chain from that leaf to the root. Regenerating or editing adds a sibling: nothing is lost.
- Full-text search with FTS5 where SQLite has it (a LIKE scan where it does not).
- A damaged database file is kept beside a fresh one, never deleted.
- A reply that was streaming when the process died is marked "interrupted" on the next open.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.chat.types import MessageState
from app.core.history.errors import (
    BUSY_TIMEOUT,
    GuardedConnection,
    StoreBusyError,
    StoreDamagedError,
    StoreDiskError,
    StoreError,
    StoreReadOnlyError,
    classify,
)

log = logging.getLogger(__name__)

STATES = tuple(state.value for state in MessageState)
EXPORT_FORMAT = "hermes-studio-chat"

MIGRATIONS: list[str] = [
    # 1: chats and the message tree
    """
    CREATE TABLE chats (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        preset TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        active_leaf INTEGER REFERENCES messages(id) ON DELETE SET NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_by_chat ON messages(chat_id);
    CREATE INDEX messages_by_parent ON messages(parent_id);
    """,
    # 2: reply state and stats, per-chat overflow policy, soft delete (undo), full-text search
    """
    ALTER TABLE messages ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
    ALTER TABLE messages ADD COLUMN stats TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN model TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN preset TEXT NOT NULL DEFAULT '';
    ALTER TABLE chats ADD COLUMN overflow TEXT NOT NULL DEFAULT 'stop';
    ALTER TABLE chats ADD COLUMN deleted_at REAL;
    CREATE INDEX chats_by_update ON chats(updated_at);
    """,
]
FTS_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS message_search USING fts5(content, content='messages', content_rowid='id');
CREATE TRIGGER IF NOT EXISTS message_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_search(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER IF NOT EXISTS message_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO message_search(message_search, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER IF NOT EXISTS message_search_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO message_search(message_search, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO message_search(rowid, content) VALUES (new.id, new.content);
END;
"""
SCHEMA_VERSION = len(MIGRATIONS)
__all__ = ["ChatStore", "StoreBusyError", "StoreDamagedError", "StoreDiskError", "StoreError", "StoreReadOnlyError"]


@dataclass(frozen=True)
class Message:
    id: int
    chat_id: int
    parent_id: int | None
    role: str
    content: str
    created_at: float
    state: str = MessageState.DONE
    stats: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    preset: str = ""
    sibling_index: int = 0  # position among the versions at this point of the tree
    sibling_count: int = 1


@dataclass(frozen=True)
class ChatSummary:
    id: int
    title: str
    model: str
    preset: str
    created_at: float
    updated_at: float
    overflow: str = "stop"


class ChatStore:
    """One open database. Not thread-safe: use it from one thread (the GUI's, or the CLI's)."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.recovered_from: Path | None = None  # where a damaged database was moved, if it was
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreReadOnlyError(
                f"The chat history folder {path.parent} cannot be created: {exc.strerror}."
            ) from exc
        try:
            self._db = GuardedConnection(self._open(path), path)
        except sqlite3.DatabaseError as exc:
            error = classify(exc, path)
            if not isinstance(error, StoreDamagedError):
                raise error from exc  # busy, read-only, full: the file is fine, it must not be moved aside
            kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            log.error("chat database %s is damaged (%s); keeping it as %s and starting a fresh one", path, exc, kept)
            for suffix in ("", "-wal", "-shm"):
                side = Path(str(path) + suffix)
                if side.exists():
                    side.replace(Path(str(kept) + suffix))
            self.recovered_from = kept
            self._db = GuardedConnection(self._open(path), path)
        self.has_fts = self._table_exists("message_search")
        self.interrupted = self._mark_interrupted()

    # opening and migrating
    def _open(self, path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, timeout=self.busy_timeout)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # "file is not a database" shows here
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The chat database was written by a newer Hermes Studio (schema {version}, this app knows "
                f"{SCHEMA_VERSION}). Update the app; your chats are untouched."
            )
        for number in range(version, SCHEMA_VERSION):
            log.info("migrating chat database to schema %d", number + 1)
            db.executescript(f"BEGIN; {MIGRATIONS[number]} PRAGMA user_version = {number + 1}; COMMIT;")
        try:
            existed = self._table_exists("message_search", db)
            db.executescript(FTS_SCHEMA)
            if not existed:
                db.execute("INSERT INTO message_search(message_search) VALUES ('rebuild')")
        except sqlite3.OperationalError as exc:  # SQLite built without FTS5: search falls back to LIKE
            log.warning("full-text search unavailable: %s", exc)

    def _table_exists(self, name: str, db: sqlite3.Connection | GuardedConnection | None = None) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return (db or self._db).execute(query, (name,)).fetchone() is not None

    def _mark_interrupted(self) -> int:
        cursor = self._db.execute(
            "UPDATE messages SET state = ? WHERE state = ?", (MessageState.INTERRUPTED, MessageState.STREAMING)
        )
        return cursor.rowcount

    @contextmanager
    def transaction(self) -> Iterator[GuardedConnection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:  # SQLite may already have rolled back (a full disk, an I/O error)
                self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except StoreError:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the database; a database that already failed closes quietly (there is nothing left to lose)."""
        try:
            self._db.close()
        except sqlite3.Error as exc:
            log.info("closing the chat database: %s", exc)

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    # chats
    def create_chat(self, title: str = "", model: str = "", preset: str = "", overflow: str = "stop") -> int:
        now = time.time()
        cursor = self._db.execute(
            "INSERT INTO chats (title, model, preset, overflow, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (title, model, preset, overflow, now, now),
        )
        return int(cursor.lastrowid or 0)

    def chat(self, chat_id: int) -> ChatSummary:
        row = self._db.execute("SELECT * FROM chats WHERE id = ? AND deleted_at IS NULL", (chat_id,)).fetchone()
        if row is None:
            raise StoreError(f"There is no chat {chat_id}.")
        return _summary(row)

    def list_chats(self, search: str = "") -> list[ChatSummary]:
        """Chats, most recently used first; with ``search``, those whose title or any message matches."""
        if not search.strip():
            rows = self._db.execute("SELECT * FROM chats WHERE deleted_at IS NULL ORDER BY updated_at DESC, id DESC")
            return [_summary(row) for row in rows]
        ids = self._search_ids(search)
        pattern = f"%{_escape_like(search.strip())}%"
        rows = self._db.execute(
            "SELECT * FROM chats WHERE deleted_at IS NULL AND (title LIKE ? ESCAPE '\\' OR id IN "
            "(SELECT value FROM json_each(?))) ORDER BY updated_at DESC, id DESC",
            (pattern, json.dumps(sorted(ids))),
        )
        return [_summary(row) for row in rows]

    def _search_ids(self, text: str) -> set[int]:
        if self.has_fts:
            query = " ".join('"' + word.replace('"', '""') + '"*' for word in text.split())
            try:
                rows = self._db.execute(
                    "SELECT DISTINCT m.chat_id FROM message_search s JOIN messages m ON m.id = s.rowid "
                    "WHERE message_search MATCH ?",
                    (query,),
                )
                return {row[0] for row in rows}
            except sqlite3.OperationalError:
                pass
        pattern = f"%{_escape_like(text.strip())}%"
        rows = self._db.execute("SELECT DISTINCT chat_id FROM messages WHERE content LIKE ? ESCAPE '\\'", (pattern,))
        return {row[0] for row in rows}

    def rename_chat(self, chat_id: int, title: str) -> None:
        self._touch(chat_id, title=title.strip())

    def set_chat_fields(self, chat_id: int, **fields: str) -> None:
        self._touch(chat_id, **fields)

    def delete_chat(self, chat_id: int) -> None:
        """Hide a chat (``undelete_chat`` brings it back until ``purge_deleted``)."""
        self._db.execute("UPDATE chats SET deleted_at = ? WHERE id = ?", (time.time(), chat_id))

    def undelete_chat(self, chat_id: int) -> None:
        self._db.execute("UPDATE chats SET deleted_at = NULL WHERE id = ?", (chat_id,))

    def purge_deleted(self, older_than_s: float = 0.0) -> int:
        cutoff = time.time() - older_than_s
        try:
            with self.transaction() as db:
                sql = "DELETE FROM chats WHERE deleted_at IS NOT NULL AND deleted_at <= ?"
                return db.execute(sql, (cutoff,)).rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"Deleted chats could not be removed ({exc}); they will be at the next start.") from exc

    def _touch(self, chat_id: int, **fields: str) -> None:
        allowed = {"title", "model", "preset", "overflow"}
        assignments = "".join(f", {name} = ?" for name in fields if name in allowed)
        values = [value for name, value in fields.items() if name in allowed]
        self._db.execute(f"UPDATE chats SET updated_at = ?{assignments} WHERE id = ?", (time.time(), *values, chat_id))

    # messages
    def add_message(
        self,
        chat_id: int,
        parent_id: int | None,
        role: str,
        content: str,
        *,
        state: str = MessageState.DONE,
        stats: dict[str, Any] | None = None,
        model: str = "",
        preset: str = "",
    ) -> Message:
        """Append a message under ``parent_id`` (None: a root) and make it the chat's active leaf."""
        if state not in STATES:
            raise StoreError(f"Unknown message state {state!r}.")
        now = time.time()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO messages (chat_id, parent_id, role, content, created_at, state, stats, model, preset) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (chat_id, parent_id, role, content, now, state, json.dumps(stats or {}), model, preset),
            )
            message_id = int(cursor.lastrowid or 0)
            db.execute("UPDATE chats SET active_leaf = ?, updated_at = ? WHERE id = ?", (message_id, now, chat_id))
            if role == "user":
                db.execute("UPDATE chats SET title = ? WHERE id = ? AND title = ''", (_title_from(content), chat_id))
        return self.message(message_id)

    def update_message(
        self, message_id: int, *, content: str | None = None, state: str | None = None, stats: dict | None = None
    ) -> None:
        """Save a growing reply (content), and its end (state, stats). One small write: called every ~0.5 s."""
        sets, values = [], []
        if content is not None:
            sets.append("content = ?")
            values.append(content)
        if state is not None:
            if state not in STATES:
                raise StoreError(f"Unknown message state {state!r}.")
            sets.append("state = ?")
            values.append(state)
        if stats is not None:
            sets.append("stats = ?")
            values.append(json.dumps(stats))
        if sets:
            self._db.execute(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", (*values, message_id))

    def message(self, message_id: int) -> Message:
        row = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise StoreError(f"There is no message {message_id}.")
        return _message(row)

    def active_path(self, chat_id: int) -> list[Message]:
        """The conversation as shown: root to the active leaf, each with its position among its versions."""
        leaf = self._db.execute("SELECT active_leaf FROM chats WHERE id = ?", (chat_id,)).fetchone()
        if leaf is None:
            raise StoreError(f"There is no chat {chat_id}.")
        if leaf[0] is None:
            return []
        rows = self._db.execute(
            """
            WITH RECURSIVE path(id, depth) AS (
                SELECT ?, 0
                UNION ALL
                SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.id
                WHERE m.parent_id IS NOT NULL
            )
            SELECT m.*,
                (SELECT COUNT(*) FROM messages s WHERE s.chat_id = m.chat_id AND s.parent_id IS m.parent_id
                    AND s.id < m.id) AS sibling_index,
                (SELECT COUNT(*) FROM messages s WHERE s.chat_id = m.chat_id AND s.parent_id IS m.parent_id)
                    AS sibling_count
            FROM path JOIN messages m ON m.id = path.id ORDER BY path.depth DESC
            """,
            (leaf[0],),
        )
        return [_message(row) for row in rows]

    def siblings(self, message_id: int) -> list[int]:
        message = self.message(message_id)
        rows = self._db.execute(
            "SELECT id FROM messages WHERE chat_id = ? AND parent_id IS ? ORDER BY id",
            (message.chat_id, message.parent_id),
        )
        return [row[0] for row in rows]

    def switch_to(self, message_id: int) -> None:
        """Make the branch through ``message_id`` active (its latest descendants below it)."""
        message = self.message(message_id)
        leaf = message_id
        while True:
            child = self._db.execute(
                "SELECT id FROM messages WHERE parent_id = ? ORDER BY id DESC LIMIT 1", (leaf,)
            ).fetchone()
            if child is None:
                break
            leaf = child[0]
        self._db.execute(
            "UPDATE chats SET active_leaf = ?, updated_at = ? WHERE id = ?", (leaf, time.time(), message.chat_id)
        )

    def switch_version(self, message_id: int, step: int) -> int:
        """Show the previous (-1) or next (+1) version of a message; returns the id now shown."""
        siblings = self.siblings(message_id)
        index = siblings.index(message_id)
        target = siblings[max(0, min(len(siblings) - 1, index + step))]
        self.switch_to(target)
        return target

    def delete_message(self, message_id: int) -> None:
        """Delete a message and everything after it in its branch; the chat shows the parent's branch."""
        message = self.message(message_id)
        with self.transaction() as db:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        remaining = [i for i in self.siblings_of(message.chat_id, message.parent_id)]
        if remaining:
            self.switch_to(remaining[-1])
        else:
            self._db.execute(
                "UPDATE chats SET active_leaf = ?, updated_at = ? WHERE id = ?",
                (message.parent_id, time.time(), message.chat_id),
            )

    def siblings_of(self, chat_id: int, parent_id: int | None) -> list[int]:
        rows = self._db.execute(
            "SELECT id FROM messages WHERE chat_id = ? AND parent_id IS ? ORDER BY id", (chat_id, parent_id)
        )
        return [row[0] for row in rows]

    def message_count(self, chat_id: int) -> int:
        return self._db.execute("SELECT COUNT(*) FROM messages WHERE chat_id = ?", (chat_id,)).fetchone()[0]

    # export and import
    def export_tree(self, chat_id: int) -> dict[str, Any]:
        """The whole chat, every branch, as JSON-ready data (``import_tree`` reads it back)."""
        chat = self.chat(chat_id)
        leaf = self._db.execute("SELECT active_leaf FROM chats WHERE id = ?", (chat_id,)).fetchone()[0]
        rows = self._db.execute("SELECT * FROM messages WHERE chat_id = ? ORDER BY id", (chat_id,))
        messages = [
            {
                "id": row["id"],
                "parent": row["parent_id"],
                "role": row["role"],
                "content": row["content"],
                "created_at": row["created_at"],
                "state": row["state"],
                "stats": json.loads(row["stats"] or "{}"),
                "model": row["model"],
                "preset": row["preset"],
            }
            for row in rows
        ]
        return {
            "format": EXPORT_FORMAT,
            "version": 1,
            "title": chat.title,
            "model": chat.model,
            "preset": chat.preset,
            "overflow": chat.overflow,
            "created_at": chat.created_at,
            "active_leaf": leaf,
            "messages": messages,
        }

    def import_tree(self, data: Any) -> int:
        """A chat from ``export_tree`` data (ids are renumbered; the tree and the active branch are kept)."""
        if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
            raise StoreError("This file is not a Hermes Studio chat export.")
        messages = data.get("messages")
        if not isinstance(messages, list):
            raise StoreError("The chat export has no message list.")
        known: set[Any] = set()
        for item in messages:
            if not isinstance(item, dict) or item.get("role") not in ("system", "user", "assistant"):
                raise StoreError("The chat export holds a message without a valid role.")
            if not isinstance(item.get("content"), str):
                raise StoreError("The chat export holds a message whose content is not text.")
            if item.get("parent") is not None and item.get("parent") not in known:
                raise StoreError("The chat export's messages are not in tree order (a parent comes after its child).")
            known.add(item.get("id"))
        with self.transaction() as db:
            now = time.time()
            cursor = db.execute(
                "INSERT INTO chats (title, model, preset, overflow, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    str(data.get("title", "")),
                    str(data.get("model", "")),
                    str(data.get("preset", "")),
                    str(data.get("overflow", "stop")),
                    float(data.get("created_at") or now),
                    now,
                ),
            )
            chat_id = int(cursor.lastrowid or 0)
            new_ids: dict[Any, int] = {}
            for item in messages:
                state = MessageState.parse(str(item.get("state", "")))
                cursor = db.execute(
                    "INSERT INTO messages (chat_id, parent_id, role, content, created_at, state, stats, model, preset) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        chat_id,
                        new_ids.get(item.get("parent")),
                        item["role"],
                        item["content"],
                        float(item.get("created_at") or now),
                        MessageState.on_reopen(state),
                        json.dumps(item.get("stats") if isinstance(item.get("stats"), dict) else {}),
                        str(item.get("model", "")),
                        str(item.get("preset", "")),
                    ),
                )
                new_ids[item.get("id")] = int(cursor.lastrowid or 0)
            leaf = new_ids.get(data.get("active_leaf")) or (max(new_ids.values()) if new_ids else None)
            db.execute("UPDATE chats SET active_leaf = ? WHERE id = ?", (leaf, chat_id))
        return chat_id

    def export_openai(self, chat_id: int) -> list[dict[str, str]]:
        """The active branch as OpenAI-style ``messages``."""
        return [{"role": m.role, "content": m.content} for m in self.active_path(chat_id)]

    def export_markdown(self, chat_id: int) -> str:
        chat = self.chat(chat_id)
        lines = [f"# {chat.title or 'Chat'}", ""]
        if chat.model or chat.preset:
            lines += [f"*Model: {chat.model or '—'} · Preset: {chat.preset or '—'}*", ""]
        names = {"user": "You", "assistant": "Assistant", "system": "System"}
        for message in self.active_path(chat_id):
            lines += [f"## {names.get(message.role, message.role)}", "", message.content, ""]
        return "\n".join(lines)


def _summary(row: sqlite3.Row) -> ChatSummary:
    return ChatSummary(
        id=row["id"],
        title=row["title"],
        model=row["model"],
        preset=row["preset"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        overflow=row["overflow"],
    )


def _message(row: sqlite3.Row) -> Message:
    keys = row.keys()
    try:
        stats = json.loads(row["stats"] or "{}")
    except ValueError:
        stats = {}
    return Message(
        id=row["id"],
        chat_id=row["chat_id"],
        parent_id=row["parent_id"],
        role=row["role"],
        content=row["content"],
        created_at=row["created_at"],
        state=row["state"],
        stats=stats if isinstance(stats, dict) else {},
        model=row["model"],
        preset=row["preset"],
        sibling_index=row["sibling_index"] if "sibling_index" in keys else 0,
        sibling_count=row["sibling_count"] if "sibling_count" in keys else 1,
    )


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57].rstrip() + "…"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class StreamingSaver:
    """Writes a growing reply to the store at most every ``interval`` seconds, and always at the end."""

    def __init__(self, store: ChatStore, message_id: int, interval: float = 0.5) -> None:
        self.store, self.message_id, self.interval = store, message_id, interval
        self._last = time.monotonic()
        self._saved_len = 0

    def update(self, text: str) -> bool:
        """Called with the whole text so far; returns True when it wrote.

        A busy database or a full disk does not stop the reply: the text stays in memory, the next
        update tries again, and ``finish`` (which does raise) writes it all.
        """
        now = time.monotonic()
        if now - self._last < self.interval or len(text) == self._saved_len:
            return False
        try:
            self.store.update_message(self.message_id, content=text)
        except (StoreBusyError, StoreDiskError) as exc:
            log.warning("the streaming reply could not be saved yet (%s); it is kept in memory", exc)
            self._last = now
            return False
        self._last, self._saved_len = now, len(text)
        return True

    def finish(self, text: str, state: str, stats: dict[str, Any] | None = None) -> None:
        self.store.update_message(self.message_id, content=text, state=state, stats=stats or {})
