"""The chat history under fire: kill -9 mid-reply, a full disk, another process holding the database."""

from __future__ import annotations

import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.history.saver import StreamingSaver
from app.core.history.store import ChatStore, StoreBusyError, StoreError
from tests.faults.conftest import ROOT, app_command, start

SEED = int(os.environ.get("HERMES_FAULT_SEED", "13"))
WRITER = [sys.executable, "-m", "tests.faults.store_writer"]


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.mark.slow
def test_kill_9_during_a_streaming_save_keeps_the_partial_reply_marked_interrupted(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    for round_number in range(10):
        db = tmp_path / f"chats-{round_number}.sqlite3"
        writer = start([*WRITER, "stream", str(db)], {})
        assert writer.stdout is not None
        header = writer.stdout.readline()
        assert header.startswith("chat"), writer.stderr.read() if writer.stderr else ""
        saves = rng.randint(1, 400)
        last = 0
        for _ in range(saves):
            last = int(writer.stdout.readline())
        time.sleep(rng.uniform(0, 0.01))  # land anywhere: mid-update, between updates
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        store = ChatStore(db)
        try:
            assert store.interrupted == 1
            chat_id = int(header.split()[1])
            reply = store.active_path(chat_id)[-1]
            assert reply.role == "assistant" and reply.state == "interrupted"
            assert len(reply.content) >= last, "a save the writer saw committed is gone"
            assert reply.content.startswith("the quick brown fox")
            assert store.active_path(chat_id)[0].content == "Tell me a long story."
        finally:
            store.close()
        assert integrity(db) == "ok"


@pytest.mark.slow
def test_kill_9_during_chat_save_with_the_real_model(tmp_path: Path, library_with_model: Path, basedir: Path) -> None:
    """The CLI streams a real reply into the history; killed mid-reply, the next start shows it interrupted."""
    prompt = "Tell me a long story about a lighthouse."
    command = app_command(basedir, "chat", "--model", str(library_with_model), "--save", "--max-tokens", "400",
                          "--temperature", "0", "--context-size", "1024", prompt)  # fmt: skip
    process = start(command, {})
    assert process.stdout is not None
    printed = ""
    started = time.monotonic()
    while len(printed) < 200 or time.monotonic() - started < 1.5:  # past the first 0.5 s save
        piece = process.stdout.read(1)
        if not piece:
            break
        printed += piece
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    store = ChatStore(basedir / "data" / "chats.sqlite3")
    try:
        assert store.interrupted == 1
        chat = store.list_chats()[0]
        reply = store.active_path(chat.id)[-1]
        assert reply.state == "interrupted" and reply.content
        assert printed.startswith(reply.content), "the saved reply is not what was streamed"
    finally:
        store.close()


def test_a_full_disk_during_a_chat_save_is_a_clear_message_and_keeps_the_history(
    tmp_path: Path, library_with_model: Path, basedir: Path
) -> None:
    db = basedir / "data" / "chats.sqlite3"
    store = ChatStore(db)
    chat = store.create_chat(title="before")
    store.add_message(chat, None, "user", "an earlier message")
    store.close()
    limit = max(db.stat().st_size, 32_768) + 8_192  # room for SQLite's 32 KiB -shm file, little for the WAL

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    command = app_command(basedir, "chat", "--model", str(library_with_model), "--save", "--max-tokens", "300",
                          "--temperature", "0", "--context-size", "1024", "Tell me a long story.")  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                            preexec_fn=small_files)  # fmt: skip
    assert result.returncode == 1, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("hermes-studio:")]  # (the turn's start,
    # one transaction, or the reply's saves: whichever the limit stops first)
    assert said and "The chat history could not be written (a disk error, or the disk is full)" in said[-1], said
    assert "Traceback" not in result.stderr
    store = ChatStore(db)
    try:
        assert "before" in [c.title for c in store.list_chats()]
        assert [m.content for m in store.active_path(chat)] == ["an earlier message"]
        for other in store.list_chats():  # what the failed save began is never presented as a finished reply
            assert all(m.state != "done" for m in store.active_path(other.id) if m.role == "assistant")
    finally:
        store.close()
    assert integrity(db) == "ok"


@pytest.mark.slow
def test_a_database_held_by_another_process_is_waited_for_and_nothing_is_lost(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    ChatStore(db).close()
    holder = start([*WRITER, "hold", str(db), "3"], {})
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    started = time.monotonic()
    store = ChatStore(db)  # the default busy timeout: longer than the other process holds it
    chat = store.create_chat()
    message = store.add_message(chat, None, "user", "written while another process held the database")
    waited = time.monotonic() - started
    holder.wait(30)
    assert holder.returncode == 0 and waited > 1.0
    assert store.message(message.id).content == "written while another process held the database"
    titles = {c.title for c in store.list_chats()}
    assert "held by another process" in titles
    store.close()


@pytest.mark.expect_log("could not be saved yet")
def test_a_streaming_reply_outlives_a_busy_database_and_is_saved_at_the_end(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    store = ChatStore(db, busy_timeout=0.2)
    chat = store.create_chat()
    user = store.add_message(chat, None, "user", "Hi")
    reply = store.add_message(chat, user.id, "assistant", "", state="streaming")
    saver = StreamingSaver(store, reply.id, interval=0.0)
    assert saver.update("Hello")
    holder = start([*WRITER, "hold", str(db), "1.5"], {})
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    assert not saver.update("Hello there, while the database is busy")  # kept in memory, no exception
    with pytest.raises(StoreBusyError, match="busy in another Hermes Studio"):
        store.rename_chat(chat, "renamed")
    holder.wait(30)
    saver.finish("Hello there, while the database is busy — and done.", "done")
    saved = store.message(reply.id)
    assert saved.content == "Hello there, while the database is busy — and done." and saved.state == "done"
    store.close()


@pytest.mark.slow
def test_the_window_and_chat_save_write_the_same_history(library_with_model: Path, basedir: Path) -> None:
    """The window's store streams a reply while `chat --save` records its own exchange: both are complete."""
    db = basedir / "data" / "chats.sqlite3"
    window = ChatStore(db)
    chat = window.create_chat(title="window")
    user = window.add_message(chat, None, "user", "from the window")
    reply = window.add_message(chat, user.id, "assistant", "", state="streaming")
    saver = StreamingSaver(window, reply.id, interval=0.0)
    command = app_command(basedir, "chat", "--model", str(library_with_model), "--save", "--max-tokens", "48",
                          "--temperature", "0", "--context-size", "512", "Hello from the terminal")  # fmt: skip
    cli = start(command, {})
    text = ""
    while cli.poll() is None:
        text += "word "
        saver.update(text)
        time.sleep(0.005)
    out, err = cli.communicate()
    saver.finish(text, "done")
    assert cli.returncode == 0, err
    assert "saved in chat" in err
    chats = {c.title: c.id for c in window.list_chats()}
    assert set(chats) == {"window", "Hello from the terminal"}
    assert window.message(reply.id).content == text and window.message(reply.id).state == "done"
    cli_path = window.active_path(chats["Hello from the terminal"])
    assert cli_path[-1].role == "assistant" and cli_path[-1].content.strip() == out.strip()
    assert cli_path[-1].state == "done"
    window.close()


def test_store_errors_are_classified_and_bugs_are_not(tmp_path: Path) -> None:
    from app.core.history.errors import classify
    from app.core.history.store import StoreDamagedError, StoreDiskError, StoreReadOnlyError

    def error(code: int, text: str) -> sqlite3.Error:
        exc = sqlite3.OperationalError(text)
        exc.sqlite_errorcode = code  # type: ignore[attr-defined]
        return exc

    assert isinstance(classify(error(13, "database or disk is full")), StoreDiskError)
    assert isinstance(classify(error(10 | (4 << 8), "disk I/O error")), StoreDiskError)
    assert isinstance(classify(error(8, "attempt to write a readonly database")), StoreReadOnlyError)
    assert isinstance(classify(error(11, "database disk image is malformed")), StoreDamagedError)
    assert isinstance(classify(error(5, "database is locked")), StoreBusyError)
    bug = error(1, 'near "SELEC": syntax error')
    assert classify(bug) is bug
    assert isinstance(classify(sqlite3.OperationalError("database or disk is full")), StoreDiskError)
    assert all(issubclass(kind, StoreError) for kind in (StoreDiskError, StoreReadOnlyError, StoreDamagedError))


def test_a_read_only_database_says_so(tmp_path: Path) -> None:
    """A database opened read-only by SQLite (as a read-only file is for an unprivileged user)."""
    from app.core.history.store import StoreReadOnlyError

    db = tmp_path / "chats.sqlite3"
    store = ChatStore(db)
    chat = store.create_chat(title="kept")
    store.close()
    store = ChatStore(db)
    store._db.execute("PRAGMA query_only = 1")  # SQLite's own read-only switch: SQLITE_READONLY on every write
    with pytest.raises(StoreReadOnlyError, match="read-only"):
        store.add_message(chat, None, "user", "not written")
    assert store.chat(chat).title == "kept"
    store.close()
