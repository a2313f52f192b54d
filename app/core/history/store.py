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
from app.core.history.records import ChatSummary, Message, summary_of, title_from
from app.core.history.schema import FTS_SCHEMA, MIGRATIONS, SCHEMA_VERSION
from app.core.history.search import PAGE, SearchPage, find_chat_page, find_chats
from app.core.history.tree import MessageTree
from app.core.prompting.context import ContextPolicy
from app.core.prompting.parts import Part, ReasoningPart, every_image_of, parts_from_json, parts_to_json
from app.core.prompting.types import MessageState

log = logging.getLogger(__name__)

STATES = tuple(state.value for state in MessageState)

__all__ = [
    "ChatStore",
    "ChatSummary",
    "Message",
    "StoreBusyError",
    "StoreDamagedError",
    "StoreDiskError",
    "StoreError",
    "StoreReadOnlyError",
]


class ChatStore(MessageTree):
    """One open database. Not thread-safe: use it from one thread (the GUI's, or the CLI's)."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.recovered_from: Path | None = None  # where a damaged database was moved, if it was
        self._depth = 0  # how many ``transaction()`` blocks are open (the outer one BEGINs, the others SAVEPOINT)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreReadOnlyError(
                f"The chat history folder {path.parent} cannot be created: {exc.strerror}."
            ) from exc
        try:
            self._db = GuardedConnection(self._open(path), path)
        except (sqlite3.DatabaseError, StoreDamagedError) as exc:
            error = exc if isinstance(exc, StoreDamagedError) else classify(exc, path)
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

    @classmethod
    def in_memory(cls) -> ChatStore:
        """A history kept in memory only (a chat not saved: the CLI without --save): the same code paths, no file."""
        return cls(Path(":memory:"))

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
        if version < 0 or (version == 0 and self._table_exists("messages", db)):
            raise StoreDamagedError(f"{self.path.name} is not a Hermes Studio chat history (schema {version}).")
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
                    try:
                        db.executescript(f"BEGIN; {MIGRATIONS[number]} PRAGMA user_version = {number + 1};")
                    except sqlite3.OperationalError as exc:  # tables that are not the ones this schema had
                        raise StoreDamagedError(
                            f"{self.path.name} says schema {version} but does not hold its tables ({exc})."
                        ) from exc
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
        """Writes that land together or not at all. Nestable: inside another one it is a SAVEPOINT, so a caller can
        make several writes that each use a transaction (a turn: the chat, its system prompt, your message, the
        reply's start) one transaction; a failing inner part rolls back only itself unless the error goes on out."""
        if self._depth:
            yield from self._savepoint()
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._db
        except BaseException:
            self._depth = 0
            if self._db.in_transaction:  # SQLite may already have rolled back (a full disk, an I/O error)
                self._db.execute("ROLLBACK")
            raise
        self._depth = 0
        try:
            self._db.execute("COMMIT")
        except StoreError:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _savepoint(self) -> Iterator[GuardedConnection]:
        name = f"nested_{self._depth}"
        self._db.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield self._db
        except BaseException:
            self._depth -= 1
            if self._db.in_transaction:
                self._db.execute(f"ROLLBACK TO {name}")
                self._db.execute(f"RELEASE {name}")
            raise
        self._depth -= 1
        self._db.execute(f"RELEASE {name}")

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
        return summary_of(row)

    def list_chats(self, search: str = "") -> list[ChatSummary]:
        """Chats, most recently used first; with ``search``, those whose title or any message matches."""
        return find_chats(self._db, search, self.has_fts)

    def chat_page(self, search: str = "", limit: int = PAGE) -> SearchPage:
        """The first ``limit`` of ``list_chats(search)`` (about: see ``search.find_chat_page``), and whether
        there are more."""
        return find_chat_page(self._db, search, self.has_fts, limit)

    def rename_chat(self, chat_id: int, title: str) -> None:
        self._touch(chat_id, title=title.strip())

    def set_chat_fields(self, chat_id: int, **fields: str) -> None:
        self._touch(chat_id, **fields)

    def set_chat_settings(self, chat_id: int, settings: str) -> None:
        """Keep a chat's own sampling (JSON) without moving it up the list: a setting is not a message."""
        self._db.execute("UPDATE chats SET settings = ? WHERE id = ?", (settings, chat_id))

    def set_chat_members(self, chat_id: int, members: str) -> None:
        """Keep a group chat's personas (JSON, ``chat.group``); like a setting, it does not move the chat up."""
        self._db.execute("UPDATE chats SET members = ? WHERE id = ?", (members, chat_id))

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

    def image_hashes(self) -> set[str]:
        """The hashes of every image a stored message shows (what ``media.store.ImageStore.prune`` keeps)."""
        found: set[str] = set()
        for (raw,) in self._db.execute("SELECT parts FROM messages WHERE parts LIKE '%\"image\"%'"):
            found.update(part.sha256 for part in every_image_of(parts_from_json(raw)[0]))
        return found

    def _touch(self, chat_id: int, **fields: str) -> None:
        allowed = {"title", "model", "preset", "overflow", "settings"}
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
        parts: tuple[Part, ...] = (),
        speaker: str = "",
    ) -> Message:
        """Append a message under ``parent_id`` (None: a root) and make it the chat's active leaf.

        ``speaker``: in a group chat, the name of the character who writes it."""
        if state not in STATES:
            raise StoreError(f"Unknown message state {state!r}.")
        now = time.time()
        with self.transaction() as db:
            values = (chat_id, parent_id, role, content, now, state, json.dumps(stats or {}), model, preset)
            cursor = db.execute(
                "INSERT INTO messages (chat_id, parent_id, role, content, created_at, state, stats, model, preset, "
                "parts, speaker) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, parts_to_json(parts), speaker),
            )
            message_id = int(cursor.lastrowid or 0)
            db.execute("UPDATE chats SET active_leaf = ?, updated_at = ? WHERE id = ?", (message_id, now, chat_id))
            if role == "user":
                db.execute("UPDATE chats SET title = ? WHERE id = ? AND title = ''", (title_from(content), chat_id))
        return self.message(message_id)

    def record_chat(
        self,
        messages: Sequence[tuple[str, str] | tuple[str, str, tuple[Part, ...]]],
        reply: str,
        *,
        state: str = MessageState.DONE,
        stats: dict[str, Any] | None = None,
        model: str = "",
        preset: str = "",
        reasoning: str = "",
        reply_parts: tuple[Part, ...] = (),
    ) -> int:
        """A finished exchange as a new chat, in one transaction: ``messages`` (role, text[, parts]) in order, then
        the reply (with ``reply_parts``: its tool steps).

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
            done = MessageState.DONE.value
            rows = [(r[0], r[1], done, "{}", "", "", parts_to_json(r[2] if len(r) > 2 else ())) for r in messages]
            parts = parts_to_json((ReasoningPart(reasoning), *reply_parts) if reasoning else reply_parts)
            rows.append(("assistant", reply, state, json.dumps(stats or {}), model, preset, parts))
            for role, text, row_state, row_stats, row_model, row_preset, row_parts in rows:
                cursor = db.execute(
                    "INSERT INTO messages (chat_id, parent_id, role, content, created_at, state, stats, model, preset, "
                    "parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (chat_id, parent, role, text, now, row_state, row_stats, row_model, row_preset, row_parts),
                )
                parent = int(cursor.lastrowid or 0)
                title = title or (title_from(text) if role == "user" else "")
            db.execute("UPDATE chats SET active_leaf = ?, title = ? WHERE id = ?", (parent, title, chat_id))
        return chat_id

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        state: str | None = None,
        stats: dict[str, Any] | None = None,
        reasoning: str | None = None,
        parts: tuple[Part, ...] = (),
    ) -> None:
        """Save a growing reply (content, reasoning), and its end (state, stats). One small write, every ~0.5 s.

        ``parts``: the reply's other parts (its citations), written with the reasoning (which ``reasoning=None``
        with no ``parts`` leaves as stored)."""
        sets, values = [], []
        if content is not None:
            sets.append("content = ?")
            values.append(content)
        if reasoning is not None or parts:
            sets.append("parts = ?")
            values.append(parts_to_json((ReasoningPart(reasoning or ""), *parts)))
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

    # export and import
    def rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """A read-only query's rows (for history.exchange)."""
        return list(self._db.execute(sql, parameters))
