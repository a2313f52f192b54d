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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from app.core.history.schema import FTS_SCHEMA, MIGRATIONS, SCHEMA_VERSION
from app.core.prompting.context import ContextPolicy
from app.core.prompting.types import MessageState

log = logging.getLogger(__name__)

STATES = tuple(state.value for state in MessageState)

__all__ = [
    "ChatStore",
    "StoreBusyError",
    "StoreDamagedError",
    "StoreDiskError",
    "StoreError",
    "StoreReadOnlyError",
]


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
    overflow: str = ContextPolicy.STOP


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
        if version < SCHEMA_VERSION:
            # Foreign keys off while tables are rebuilt (a DROP TABLE would otherwise act on what refers to it);
            # checked before each migration commits, and on again after.
            db.execute("PRAGMA foreign_keys=OFF")
            try:
                for number in range(version, SCHEMA_VERSION):
                    log.info("migrating chat database to schema %d", number + 1)
                    db.executescript(f"BEGIN; {MIGRATIONS[number]} PRAGMA user_version = {number + 1};")
                    broken = db.execute("PRAGMA foreign_key_check").fetchone()
                    if broken is not None:
                        db.execute("ROLLBACK")
                        raise StoreError(
                            f"The chat database could not be upgraded to schema {number + 1} (a message refers to "
                            f"one that does not exist, in table {broken[0]}); your chats are untouched."
                        )
                    db.execute("COMMIT")
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                db.execute("PRAGMA foreign_keys=ON")
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
        # The state is spelled out so that the partial index messages_streaming answers (no scan of every message).
        cursor = self._db.execute(
            f"UPDATE messages SET state = ? WHERE state = '{MessageState.STREAMING.value}'", (MessageState.INTERRUPTED,)
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
    def create_chat(
        self, title: str = "", model: str = "", preset: str = "", overflow: str = ContextPolicy.STOP
    ) -> int:
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
        cursor = self._db.execute(
            "UPDATE chats SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", (time.time(), chat_id)
        )
        if cursor.rowcount == 0:
            raise StoreError(f"There is no chat {chat_id}.")

    def undelete_chat(self, chat_id: int) -> None:
        cursor = self._db.execute(
            "UPDATE chats SET deleted_at = NULL WHERE id = ? AND deleted_at IS NOT NULL", (chat_id,)
        )
        if cursor.rowcount == 0:
            raise StoreError(
                f"There is no deleted chat {chat_id} to bring back (deleted chats are removed for good "
                "when the app next starts)."
            )

    def purge_deleted(self, older_than_s: float = 0.0) -> int:
        """Remove the chats deleted more than ``older_than_s`` ago, with their messages; returns how many chats.

        Messages go first, by chat id, in one statement: no cascade runs as deep as a chat is long."""
        cutoff = time.time() - older_than_s
        doomed = "SELECT id FROM chats WHERE deleted_at IS NOT NULL AND deleted_at <= ?"
        try:
            with self.transaction() as db:
                db.execute(f"UPDATE chats SET active_leaf = NULL WHERE id IN ({doomed})", (cutoff,))
                db.execute(f"DELETE FROM messages WHERE chat_id IN ({doomed})", (cutoff,))
                return db.execute(f"DELETE FROM chats WHERE id IN ({doomed})", (cutoff,)).rowcount
        except (sqlite3.Error, StoreError) as exc:
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

    def record_chat(
        self,
        messages: Sequence[tuple[str, str]],
        reply: str,
        *,
        state: str = MessageState.DONE,
        stats: dict[str, Any] | None = None,
        model: str = "",
        preset: str = "",
    ) -> int:
        """A finished exchange as a new chat, in one transaction: ``messages`` (role, text) in order, then the reply.

        Nothing is written if any of it cannot be (a full disk leaves no half chat behind). Returns the chat's id."""
        if state not in STATES:
            raise StoreError(f"Unknown message state {state!r}.")
        now = time.time()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO chats (title, model, preset, created_at, updated_at) VALUES ('', ?, ?, ?, ?)",
                (model, preset, now, now),
            )
            chat_id = int(cursor.lastrowid or 0)
            parent: int | None = None
            title = ""
            rows = [(role, text, MessageState.DONE.value, "{}", "", "") for role, text in messages]
            rows.append(("assistant", reply, state, json.dumps(stats or {}), model, preset))
            for role, text, row_state, row_stats, row_model, row_preset in rows:
                cursor = db.execute(
                    "INSERT INTO messages (chat_id, parent_id, role, content, created_at, state, stats, model, preset) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (chat_id, parent, role, text, now, row_state, row_stats, row_model, row_preset),
                )
                parent = int(cursor.lastrowid or 0)
                title = title or (_title_from(text) if role == "user" else "")
            db.execute("UPDATE chats SET active_leaf = ?, title = ? WHERE id = ?", (parent, title, chat_id))
        return chat_id

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        state: str | None = None,
        stats: dict[str, Any] | None = None,
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
            # The subtree's ids by a recursive query (no depth limit), deleted in one statement: no trigger chain.
            db.execute(
                """
                WITH RECURSIVE subtree(id) AS (
                    SELECT ? UNION ALL SELECT m.id FROM messages m JOIN subtree ON m.parent_id = subtree.id
                )
                DELETE FROM messages WHERE id IN subtree
                """,
                (message_id,),
            )
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
    def rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """A read-only query's rows (for history.exchange)."""
        return list(self._db.execute(sql, parameters))


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
