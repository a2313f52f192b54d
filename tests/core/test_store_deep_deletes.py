"""Deleting long chats and deep branches on real SQLite: no trigger chain as deep as the chat (issue: a year of use).

SQLite runs each ``ON DELETE CASCADE`` step as a nested trigger, and stops at 1,000 levels: before schema 3, a chat of
about 1,000 messages or more could not be deleted, and the window then refused to start."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.history.schema import FTS_SCHEMA, MIGRATIONS
from app.core.history.store import ChatStore, StoreError
from app.core.paths import resolve_paths

REPO = Path(__file__).resolve().parents[2]


def chain(store: ChatStore, length: int, title: str = "Long") -> tuple[int, list[int]]:
    """A chat of ``length`` messages, each the child of the one before (user and assistant in turn)."""
    chat = store.create_chat(title=title)
    ids: list[int] = []
    with store.transaction() as db:  # one transaction: thousands of messages in well under a second
        parent = None
        for index in range(length):
            role = "user" if index % 2 == 0 else "assistant"
            cursor = db.execute(
                "INSERT INTO messages (chat_id, parent_id, role, content, created_at) VALUES (?, ?, ?, ?, 0)",
                (chat, parent, role, f"message {index} about volcanoes"),
            )
            parent = int(cursor.lastrowid or 0)
            ids.append(parent)
        db.execute("UPDATE chats SET active_leaf = ? WHERE id = ?", (parent, chat))
    return chat, ids


def count(store: ChatStore, table: str = "messages") -> int:
    return store.rows(f"SELECT COUNT(*) FROM {table}")[0][0]


def test_a_5000_message_chain_is_deleted_and_purged(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chats.sqlite3")
    chat, _ = chain(store, 5000)
    kept, kept_ids = chain(store, 3, title="Kept")
    store.delete_chat(chat)
    assert store.purge_deleted() == 1
    assert count(store) == 3
    assert [c.id for c in store.list_chats()] == [kept]
    assert [m.id for m in store.active_path(kept)] == kept_ids
    assert [c.id for c in store.list_chats("volcanoes")] == [kept]  # the search index forgot the deleted messages


def test_a_2000_message_chat_with_branches_loses_an_early_message_and_what_follows(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chats.sqlite3")
    chat, ids = chain(store, 2000)
    # Branches: another version of message 10 (with a reply under it) and of message 1500.
    other = store.add_message(chat, ids[9], "assistant", "another version")
    store.add_message(chat, other.id, "user", "under the other version")
    store.add_message(chat, ids[1499], "user", "a late branch")
    store.delete_message(ids[10])  # the main line from message 11 on, the late branch with it
    assert count(store) == 10 + 2
    path = store.active_path(chat)
    assert [m.content for m in path[-2:]] == ["another version", "under the other version"]
    store.delete_message(ids[0])  # everything
    assert count(store) == 0
    assert store.active_path(chat) == []


def test_a_schema_2_database_with_a_long_chat_is_upgraded_and_can_delete_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0] + MIGRATIONS[1] + FTS_SCHEMA + "PRAGMA user_version = 2;")
    old.execute("INSERT INTO chats (id, title, created_at, updated_at) VALUES (1, 'Old and long', 1, 2)")
    old.execute("INSERT INTO chats (id, title, created_at, updated_at) VALUES (2, 'Old and short', 1, 3)")
    old.executemany(
        "INSERT INTO messages (id, chat_id, parent_id, role, content, created_at, state) VALUES (?, 1, ?, ?, ?, 1, ?)",
        [(i, i - 1 or None, "user", f"old text {i}", "done") for i in range(1, 1201)],
    )
    old.execute(
        "INSERT INTO messages VALUES (5000, 2, NULL, 'user', 'short and streaming', 1, 'streaming', '', '', '')"
    )
    old.execute("UPDATE chats SET active_leaf = 1200 WHERE id = 1")
    old.execute("UPDATE chats SET active_leaf = 5000 WHERE id = 2")
    old.commit()
    with pytest.raises(sqlite3.OperationalError, match="trigger recursion"):  # what users hit before schema 3
        old.execute("PRAGMA foreign_keys=ON")
        old.execute("DELETE FROM chats WHERE id = 1")
    old.rollback()
    old.close()

    store = ChatStore(path)
    assert store.schema_version == 3
    assert store.interrupted == 1
    assert len(store.active_path(1)) == 1200  # nothing lost, the active leaf kept
    assert store.active_path(2)[0].state == "interrupted"
    assert [c.id for c in store.list_chats("text")] == [1]  # the search index still answers
    store.delete_chat(1)
    assert store.purge_deleted() == 1
    assert count(store) == 1
    sql = store.rows("SELECT sql FROM sqlite_master WHERE name = 'messages'")[0][0]
    assert "parent_id INTEGER REFERENCES messages(id)," in sql  # no cascade left on the tree


def test_a_failed_purge_leaves_the_chat_hidden_and_says_why(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chats.sqlite3")
    chat, _ = chain(store, 3)
    store.delete_chat(chat)
    blocker = sqlite3.connect(store.path, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    store.busy_timeout = 0
    store._db.execute("PRAGMA busy_timeout = 0")
    with pytest.raises(StoreError, match="they will be at the next start"):
        store.purge_deleted()
    blocker.rollback()
    assert store.list_chats() == []
    assert store.purge_deleted() == 1


def test_delete_and_restore_refuse_chats_that_are_not_there(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chats.sqlite3")
    chat, _ = chain(store, 2)
    with pytest.raises(StoreError, match="no deleted chat"):
        store.undelete_chat(chat)
    store.delete_chat(chat)
    with pytest.raises(StoreError, match="no chat"):
        store.delete_chat(chat)
    with pytest.raises(StoreError, match="no chat"):
        store.delete_chat(999)


def cli(*args: str, basedir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(basedir), *args],
        capture_output=True,
        check=False,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_cli_deletes_restores_and_removes_a_long_chat(tmp_path: Path) -> None:
    basedir = tmp_path / "home"
    store = ChatStore(resolve_paths(basedir).chats_db)
    chat, _ = chain(store, 1500, title="A long story")
    chain(store, 2, title="Short")
    store.close()

    deleted = cli("chats", "delete", str(chat), basedir=basedir)
    assert deleted.returncode == 0, deleted.stderr
    assert f"Deleted chat {chat} (A long story)" in deleted.stdout
    assert "A long story" not in cli("chats", "list", basedir=basedir).stdout
    restored = cli("chats", "restore", str(chat), basedir=basedir)
    assert restored.returncode == 0 and "Restored" in restored.stdout
    assert "A long story" in cli("chats", "list", basedir=basedir).stdout

    gone = cli("chats", "delete", str(chat), "--now", basedir=basedir)
    assert gone.returncode == 0 and "for good" in gone.stdout
    again = cli("chats", "restore", str(chat), basedir=basedir)
    assert again.returncode == 1 and again.stderr.startswith("hermes-studio: There is no deleted chat")
    missing = cli("chats", "delete", "424242", basedir=basedir)
    assert missing.returncode == 1 and "There is no chat 424242" in missing.stderr
    listing = cli("chats", "list", basedir=basedir).stdout
    assert "Short" in listing and "A long story" not in listing
    store = ChatStore(resolve_paths(basedir).chats_db)
    assert count(store) == 2
