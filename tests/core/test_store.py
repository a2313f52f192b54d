"""The chat store on real SQLite: schema and migration, the message tree, search, export/import, damage."""

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from app.core.history import exchange
from app.core.history.saver import StreamingSaver
from app.core.history.store import MIGRATIONS, SCHEMA_VERSION, ChatStore, StoreError


@pytest.fixture
def store(tmp_path: Path) -> ChatStore:
    return ChatStore(tmp_path / "chats.sqlite3")


def conversation(store: ChatStore) -> tuple[int, list[int]]:
    chat = store.create_chat(model="SmolLM2", preset="hermes-2")
    system = store.add_message(chat, None, "system", "Be brief.")
    user = store.add_message(chat, system.id, "user", "Name a colour of the sky")
    reply = store.add_message(chat, user.id, "assistant", "Blue.", stats={"generated_tokens": 2})
    return chat, [system.id, user.id, reply.id]


def test_schema_is_created_with_wal_and_foreign_keys(store: ChatStore) -> None:
    assert store.schema_version == SCHEMA_VERSION == 6
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.has_fts


def test_a_version_1_database_is_upgraded_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    old.execute(
        "INSERT INTO chats (id, title, model, created_at, updated_at, active_leaf) VALUES (1, 'Old chat', 'm', 1, 2, 2)"
    )
    old.execute("INSERT INTO messages VALUES (1, 1, NULL, 'user', 'hello from version one', 1)")
    old.execute("INSERT INTO messages VALUES (2, 1, 1, 'assistant', 'hi back', 2)")
    old.commit()
    old.close()
    store = ChatStore(path)
    assert store.schema_version == SCHEMA_VERSION
    assert [(m.role, m.content, m.state) for m in store.active_path(1)] == [
        ("user", "hello from version one", "done"),
        ("assistant", "hi back", "done"),
    ]
    assert store.chat(1).title == "Old chat" and store.chat(1).overflow == "stop"
    assert [c.id for c in store.list_chats("version one")] == [1]  # the search index was built from old rows


def test_a_newer_database_is_refused_without_touching_it(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    future = sqlite3.connect(path)
    future.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    future.close()
    with pytest.raises(StoreError, match="newer Hermes Studio"):
        ChatStore(path)
    assert path.exists()


def test_title_comes_from_the_first_user_message(store: ChatStore) -> None:
    chat, _ = conversation(store)
    assert store.chat(chat).title == "Name a colour of the sky"
    store.rename_chat(chat, "Colours")
    assert store.chat(chat).title == "Colours"


def test_regenerate_and_edit_make_siblings_and_switching_changes_the_active_path(store: ChatStore) -> None:
    chat, (system, user, first_reply) = conversation(store)
    second_reply = store.add_message(chat, user, "assistant", "Azure.")  # regenerate
    path = store.active_path(chat)
    assert [m.content for m in path] == ["Be brief.", "Name a colour of the sky", "Azure."]
    assert (path[-1].sibling_index, path[-1].sibling_count) == (1, 2)

    edited = store.add_message(chat, system, "user", "Name a colour of grass")  # edit and resend
    grass = store.add_message(chat, edited.id, "assistant", "Green.")
    assert [m.content for m in store.active_path(chat)][1:] == ["Name a colour of grass", "Green."]
    assert store.active_path(chat)[1].sibling_count == 2

    store.switch_version(edited.id, -1)  # back to the sky branch, its latest reply
    assert [m.content for m in store.active_path(chat)][1:] == ["Name a colour of the sky", "Azure."]
    store.switch_version(second_reply.id, -1)
    assert store.active_path(chat)[-1].id == first_reply
    store.switch_to(grass.id)
    assert store.active_path(chat)[-1].content == "Green."
    assert store.message_count(chat) == 6  # nothing was lost


def test_deleting_a_message_deletes_its_branch_and_shows_a_sibling(store: ChatStore) -> None:
    chat, (_system, user, first_reply) = conversation(store)
    second = store.add_message(chat, user, "assistant", "Azure.")
    store.add_message(chat, second.id, "user", "And at night?")
    store.delete_message(second.id)
    assert store.active_path(chat)[-1].id == first_reply
    assert store.message_count(chat) == 3


def test_search_finds_titles_and_message_text(store: ChatStore) -> None:
    chat, _ = conversation(store)
    other = store.create_chat()
    store.add_message(other, None, "user", "Tell me about volcanoes")
    assert [c.id for c in store.list_chats("blue")] == [chat]
    assert [c.id for c in store.list_chats("volcano")] == [other]  # prefix match
    assert [c.id for c in store.list_chats("colour")] == [chat]
    assert store.list_chats("nothing-like-this") == []
    assert [c.id for c in store.list_chats()] == [other, chat]  # newest first
    assert store.list_chats('"; DROP TABLE chats; --') == []


def test_delete_chat_with_undo_then_purge(store: ChatStore) -> None:
    chat, _ = conversation(store)
    store.delete_chat(chat)
    assert store.list_chats() == []
    store.undelete_chat(chat)
    assert [c.id for c in store.list_chats()] == [chat]
    store.delete_chat(chat)
    assert store.purge_deleted() == 1
    assert store._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0  # cascaded


def test_export_import_round_trip_keeps_the_tree(store: ChatStore, tmp_path: Path) -> None:
    chat, (_system, user, _reply) = conversation(store)
    store.add_message(chat, user, "assistant", "Azure.", state="stopped", stats={"generated_tokens": 1})
    exported = json.loads(json.dumps(exchange.export_tree(store, chat)))
    other = ChatStore(tmp_path / "other.sqlite3")
    imported = exchange.import_tree(other, exported)

    def shape(s: ChatStore, chat_id: int):
        tree = exchange.export_tree(s, chat_id)
        ids = {m["id"]: index for index, m in enumerate(tree["messages"])}
        return (
            [(ids.get(m["parent"]), m["role"], m["content"], m["state"], m["stats"]) for m in tree["messages"]],
            ids[tree["active_leaf"]],
            tree["title"],
        )

    assert shape(other, imported) == shape(store, chat)
    assert exchange.export_openai(other, imported) == exchange.export_openai(store, chat)
    assert exchange.export_openai(store, chat)[-1] == {"role": "assistant", "content": "Azure."}
    markdown = exchange.export_markdown(store, chat)
    assert markdown.startswith("# Name a colour of the sky") and "## Assistant\n\nAzure." in markdown


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"format": "something-else"},
        {"format": "hermes-studio-chat", "messages": "no"},
        {"format": "hermes-studio-chat", "messages": [{"id": 1, "parent": None, "role": "robot", "content": "x"}]},
        {"format": "hermes-studio-chat", "messages": [{"id": 1, "parent": 7, "role": "user", "content": "x"}]},
    ],
)
def test_bad_imports_are_refused_and_change_nothing(store: ChatStore, bad) -> None:
    with pytest.raises(StoreError):
        exchange.import_tree(store, bad)
    assert store.list_chats() == []


@pytest.mark.expect_log("is damaged")
def test_a_damaged_database_is_kept_and_a_fresh_one_started(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = ChatStore(path)
    assert store.recovered_from is not None and store.recovered_from.exists()
    assert store.recovered_from.read_bytes().startswith(b"this is not a database")
    assert store.list_chats() == []
    chat = store.create_chat()
    assert store.chat(chat).id == chat


def test_a_concurrent_reader_sees_committed_writes_while_the_writer_writes(store: ChatStore) -> None:
    chat = store.create_chat()
    message = store.add_message(chat, None, "assistant", "", state="streaming")
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        reader = sqlite3.connect(store.path, timeout=5)
        while not stop.is_set():
            row = reader.execute("SELECT length(content) FROM messages WHERE id = ?", (message.id,)).fetchone()
            seen.append(row[0])
        reader.close()

    thread = threading.Thread(target=read)
    thread.start()
    text = ""
    for index in range(200):
        text += f"token{index} "
        store.update_message(message.id, content=text)
    time.sleep(0.05)
    stop.set()
    thread.join()
    assert seen and seen == sorted(seen)  # never a torn or older value after a newer one
    assert seen[-1] == len(text)


def test_streaming_saver_writes_at_most_every_interval_and_always_at_the_end(store: ChatStore) -> None:
    chat = store.create_chat()
    message = store.add_message(chat, None, "assistant", "", state="streaming")
    saver = StreamingSaver(store, message.id, interval=0.05)
    writes = 0
    text = ""
    started = time.monotonic()
    while time.monotonic() - started < 0.3:
        text += "x"
        writes += saver.update(text)
    assert 3 <= writes <= 8
    saver.finish(text + "!", "done", {"generated_tokens": len(text)})
    final = store.message(message.id)
    assert (final.content, final.state, final.stats["generated_tokens"]) == (text + "!", "done", len(text))


def test_a_reply_left_streaming_is_marked_interrupted_on_open(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    first = ChatStore(path)
    chat = first.create_chat()
    message = first.add_message(chat, None, "assistant", "half a repl", state="streaming")
    first.close()
    again = ChatStore(path)
    assert again.interrupted == 1
    assert again.message(message.id).state == "interrupted"


def test_record_chat_writes_a_whole_exchange_or_nothing(store: ChatStore) -> None:
    chat = store.record_chat(
        [("system", "Be brief."), ("user", "Name a colour"), ("assistant", "Red."), ("user", "Another?")],
        "Blue.",
        stats={"generated_tokens": 2},
        model="SmolLM2",
        preset="hermes-2",
    )
    path = store.active_path(chat)
    assert [(m.role, m.content) for m in path][-2:] == [("user", "Another?"), ("assistant", "Blue.")]
    assert path[-1].model == "SmolLM2" and path[-1].stats == {"generated_tokens": 2}
    assert store.chat(chat).title == "Name a colour"
    with pytest.raises(sqlite3.IntegrityError):  # a role the schema refuses, after two good rows
        store.record_chat([("system", "x"), ("user", "y"), ("narrator", "z")], "never saved")
    assert [c.id for c in store.list_chats()] == [chat]
    assert store.rows("SELECT COUNT(*) FROM messages")[0][0] == 5


def test_record_chat_keeps_the_replys_reasoning_apart(store: ChatStore) -> None:
    chat = store.record_chat([("user", "Why?")], "Because.", reasoning="Let me think about it.")
    reply = store.active_path(chat)[-1]
    assert (reply.content, reply.reasoning) == ("Because.", "Let me think about it.")
    assert store.active_path(store.record_chat([("user", "Hi")], "Hello."))[-1].reasoning == ""


@pytest.mark.expect_log("is damaged", "not a Hermes Studio chat history", "does not hold its tables")
@pytest.mark.parametrize("kind", ["another app's", "user_version 1", "user_version -1"])
def test_a_database_that_is_not_ours_is_kept_aside_and_a_fresh_one_started(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "chats.sqlite3"
    other = sqlite3.connect(path)
    if kind == "another app's":
        other.execute("CREATE TABLE chats (name TEXT)")
        other.execute("INSERT INTO chats VALUES ('theirs')")
    else:
        other.execute(f"PRAGMA user_version = {kind.rsplit(maxsplit=1)[-1]}")
    other.commit()
    other.close()
    store = ChatStore(path)
    assert store.recovered_from is not None and store.recovered_from.exists()
    assert store.schema_version == SCHEMA_VERSION and store.list_chats() == []
    if kind == "another app's":
        kept = sqlite3.connect(store.recovered_from)
        assert kept.execute("SELECT name FROM chats").fetchall() == [("theirs",)]  # nothing of theirs was lost
