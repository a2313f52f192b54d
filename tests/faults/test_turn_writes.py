"""A turn's writes (the chat row, its system prompt, the greetings, your message, the reply's start) are one
transaction: a write refused half-way leaves the history, the chat shown and the session exactly as they were.

The refusal is SQLite's own: a trigger another connection adds to the real database file refuses the reply's
start (the last write of a turn), so every write before it has already run when the turn fails.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.chat.session import ChatSession, TurnSettings
from app.core.history.store import ChatStore, StoreBusyError, StoreError
from app.core.prompting.types import FinishReason, GenerationStats, ResponseState, Sampling

TURN = TurnSettings(
    system_prompt="You are a helpful assistant.", model="SmolLM2", preset="plain", sampling=Sampling(max_tokens=8)
)
DONE = GenerationStats(generated_tokens=2, finish_reason=FinishReason.STOP)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "chats.sqlite3"


@pytest.fixture
def store(db: Path) -> Iterator[ChatStore]:
    chats = ChatStore(db)
    yield chats
    chats.close()


class Heard:
    """A SessionListener that counts the view refreshes it is asked for."""

    def __init__(self) -> None:
        self.resets = 0
        self.states: list[ResponseState] = []

    def items_reset(self) -> None:
        self.resets += 1

    def item_inserted(self, row: int) -> None:
        pass

    def item_changed(self, row: int) -> None:
        pass

    def state_changed(self, state: ResponseState) -> None:
        self.states.append(state)

    def save_failed(self, message: str) -> None:
        pass


def refuse_replies(db: Path, refuse: bool = True) -> None:
    """From another connection, as another process would: make SQLite refuse (or again accept) a reply's start."""
    other = sqlite3.connect(db)
    try:
        if refuse:
            other.execute(
                "CREATE TRIGGER refuse_replies BEFORE INSERT ON messages WHEN NEW.role = 'assistant' "
                "AND NEW.state = 'streaming' BEGIN SELECT RAISE(ABORT, 'the reply cannot be written'); END"
            )
        else:
            other.execute("DROP TRIGGER refuse_replies")
        other.commit()
    finally:
        other.close()


def table(db: Path) -> list[tuple[object, ...]]:
    """Every chat and message as stored (read by another connection: what is committed)."""
    other = sqlite3.connect(db)
    try:
        chats = other.execute("SELECT id, title, active_leaf, settings FROM chats ORDER BY id").fetchall()
        messages = other.execute("SELECT id, parent_id, role, content, state FROM messages ORDER BY id").fetchall()
        return [*chats, *messages]
    finally:
        other.close()


def shown(session: ChatSession) -> list[tuple[object, ...]]:
    return [(i.role, i.text, i.message_id, i.state, i.sibling_index, i.sibling_count) for i in session.items]


def answered(session: ChatSession, text: str) -> None:
    session.append(text)
    session.finish(DONE)


def test_a_first_turn_refused_half_way_leaves_no_chat_and_the_greetings_still_offered(
    db: Path, store: ChatStore
) -> None:
    heard = Heard()
    session = ChatSession(store, heard)
    session.new(["Hello there.", "Well met, traveller."], speaker="Guide", chosen=1)
    refuse_replies(db)

    with pytest.raises(StoreError, match=r"The chat could not be saved .*the reply cannot be written"):
        session.send("What is a glacier?", TURN)

    assert table(db) == []  # no chat row, no system prompt, no greetings, no question: all or nothing
    assert session.chat_id is None and session.system_message is None
    assert shown(session) == [("assistant", "Well met, traveller.", None, "done", 1, 2)]
    assert session.response_state is ResponseState.IDLE and not session.busy
    assert heard.resets >= 2  # the view was told to show the chat as it was
    session.switch_version(0, -1)  # the fresh chat's greetings are still a swipe apart
    assert session.items[0].text == "Hello there."

    refuse_replies(db, refuse=False)
    session.send("What is a glacier?", TURN)  # the same turn again, now written whole
    answered(session, "Ice.")
    stored = store.active_path(session.chat_id or 0)
    assert [(m.role, m.content) for m in stored] == [
        ("system", "You are a helpful assistant."),
        ("assistant", "Hello there."),
        ("user", "What is a glacier?"),
        ("assistant", "Ice."),
    ]
    assert len(store.siblings(stored[1].id)) == 2  # both greetings kept as versions, the one shown active
    assert [item.message_id for item in session.items] == [m.id for m in stored[1:]]


def test_sending_regenerating_and_editing_in_a_saved_chat_refused_change_nothing(db: Path, store: ChatStore) -> None:
    session = ChatSession(store)
    session.send("Name a desert.", TURN)
    answered(session, "The Sahara.")
    session.send("And another?", TURN)
    answered(session, "The Gobi.")
    before, on_screen = table(db), shown(session)
    refuse_replies(db)

    with pytest.raises(StoreError):
        session.send("And a third?", TURN)
    assert (table(db), shown(session)) == (before, on_screen)
    with pytest.raises(StoreError):
        session.regenerate(TURN)
    assert (table(db), shown(session)) == (before, on_screen)
    with pytest.raises(StoreError):
        session.edit(2, "And a cold one?", TURN)
    assert (table(db), shown(session)) == (before, on_screen)
    edited_system = TurnSettings(system_prompt="You answer in one word.", sampling=TURN.sampling)
    with pytest.raises(StoreError):
        session.send("And a third?", edited_system)  # the system prompt's change is part of the turn too
    assert (table(db), shown(session)) == (before, on_screen)
    assert session.system_message is not None and session.system_message.content == TURN.system_prompt
    assert not session.busy

    refuse_replies(db, refuse=False)
    session.regenerate(TURN)  # and each works once SQLite takes it again
    answered(session, "The Atacama.")
    assert [item.text for item in session.items] == ["Name a desert.", "The Sahara.", "And another?", "The Atacama."]
    assert session.items[-1].sibling_count == 2


def test_a_turn_waits_for_another_writer_then_gives_up_having_changed_nothing(db: Path) -> None:
    store = ChatStore(db, busy_timeout=0.2)
    session = ChatSession(store)
    session.send("Name a river.", TURN)
    answered(session, "The Nile.")
    before, on_screen = table(db), shown(session)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing, and not done within the busy timeout
    try:
        with pytest.raises(StoreBusyError):
            session.send("And another?", TURN)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (table(db), shown(session)) == (before, on_screen)
    session.send("And another?", TURN)
    answered(session, "The Amazon.")
    assert [m.content for m in store.active_path(session.chat_id or 0)][-2:] == ["And another?", "The Amazon."]
    store.close()


def test_transactions_nest_as_savepoints(db: Path, store: ChatStore) -> None:
    chat = store.create_chat(title="nesting")
    with store.transaction():
        kept = store.add_message(chat, None, "user", "kept")  # a transaction of its own, inside this one
        with pytest.raises(StoreError), store.transaction():
            store.add_message(chat, kept.id, "assistant", "rolled back alone")
            raise StoreError("the inner part fails; the outer one goes on")
        assert table(db)[1:] == []  # nothing committed yet: another connection sees none of it
    assert [m.content for m in store.active_path(chat)] == ["kept"]

    with pytest.raises(RuntimeError), store.transaction():
        store.add_message(chat, kept.id, "assistant", "gone with the outer one")
        raise RuntimeError("the outer one fails")
    assert [m.content for m in store.active_path(chat)] == ["kept"]
    assert len(table(db)) == 2  # the chat and its one message
