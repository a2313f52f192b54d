"""Reasoning through the real engine, session and SQLite history: a copy of the starter model whose template opens
<think>, the history's migration to parts, the next turn's prompt without old reasoning, the exports."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.chat.session import ChatSession, TurnSettings
from app.core.engines.load_options import LoadOptions
from app.core.engines.service import EngineService
from app.core.history import exchange
from app.core.history.saver import StreamingSaver
from app.core.history.schema import MIGRATIONS, SCHEMA_VERSION
from app.core.history.store import ChatStore
from app.core.prompting.parts import ReasoningOptions
from app.core.prompting.prompt_formats import AUTO
from app.core.prompting.types import FinishReason, MessageState, Sampling

TURN = TurnSettings(model="SmolLM2-think", sampling=Sampling(temperature=0.0, max_tokens=40, seed=1))
# Forces the small model to think, close its thought and answer, so the split runs on real tokens.
FORCED = 'root ::= "Sky means blue." "</think>" "\\n\\nBlue."'


@pytest.fixture(scope="module")
def service(thinking_model: Path) -> Iterator[EngineService]:
    engine = EngineService()
    engine.load(thinking_model, LoadOptions(context_size=2048)).result()
    yield engine
    engine.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChatStore]:
    chats = ChatStore(tmp_path / "chats.db")
    yield chats
    chats.close()


def test_a_thinking_reply_is_split_saved_and_left_out_of_the_next_prompt(
    service: EngineService, store: ChatStore
) -> None:
    session = ChatSession(store)
    request = dataclasses.replace(session.send("Colour of the sky?", TURN), grammar=FORCED)
    stats = session.run(service, request)
    reply = session.items[-1]
    assert (reply.reasoning, reply.text) == ("Sky means blue.", "Blue.")
    assert 0 < stats.reasoning_tokens < stats.generated_tokens and stats.reasoning_s > 0
    saved = store.active_path(session.chat_id or 0)[-1]
    assert (saved.reasoning, saved.content, saved.state) == ("Sky means blue.", "Blue.", "done")
    assert saved.stats["reasoning_tokens"] == stats.reasoning_tokens

    reopened = ChatSession(store)
    reopened.open(session.chat_id or 0)
    assert reopened.items[-1].reasoning == "Sky means blue."
    follow_up = reopened.send("And grass?", TURN)
    assert all("Sky means" not in m["content"] for m in follow_up.messages)
    prompt = service.submit(lambda engine: engine.render_prompt(follow_up.messages)).result()
    assert "Blue.<|im_end|>" in prompt.text and "Sky means" not in prompt.text
    assert prompt.text.endswith("<think>\n") and prompt.reasoning == "think-open"
    reopened.run(service, dataclasses.replace(follow_up, sampling=Sampling(max_tokens=4)))


def test_a_reply_cut_off_while_thinking_keeps_its_reasoning_and_says_so(
    service: EngineService, store: ChatStore
) -> None:
    session = ChatSession(store)
    stats = session.run(
        service, session.send("Tell me a story.", dataclasses.replace(TURN, sampling=Sampling(max_tokens=12)))
    )
    reply = session.items[-1]
    assert stats.finish_reason == FinishReason.LENGTH
    assert reply.text == "" and reply.reasoning and reply.thought_only
    assert store.active_path(session.chat_id or 0)[-1].reasoning == reply.reasoning


def test_thinking_off_renders_the_closed_thought_and_the_reply_is_all_answer(
    service: EngineService, store: ChatStore
) -> None:
    session = ChatSession(store)
    turn = dataclasses.replace(TURN, reasoning=ReasoningOptions(enable_thinking=False), sampling=Sampling(max_tokens=8))
    request = session.send("Hi", turn)
    prompt = service.submit(
        lambda engine: engine.render_prompt(request.messages, engine.prompt_format(AUTO).with_options(turn.reasoning))
    ).result()
    assert prompt.text.endswith("<think>\n\n</think>\n\n")
    session.run(service, request)
    assert session.items[-1].reasoning == "" and session.items[-1].text


def test_a_schema_3_database_opens_unchanged_and_takes_parts(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("".join(MIGRATIONS[:3]) + "PRAGMA user_version = 3;")
    old.execute("INSERT INTO chats (id, title, created_at, updated_at, active_leaf) VALUES (1, 'Old', 1, 2, 2)")
    old.execute(
        "INSERT INTO messages (id, chat_id, parent_id, role, content, created_at) VALUES (1, 1, NULL, 'user', 'hi', 1)"
    )
    old.execute(
        "INSERT INTO messages (id, chat_id, parent_id, role, content, created_at, stats) "
        "VALUES (2, 1, 1, 'assistant', '<think>raw old thought</think>hello', 2, '{\"generated_tokens\": 3}')"
    )
    old.commit()
    old.close()
    store = ChatStore(path)
    assert store.schema_version == SCHEMA_VERSION  # migrated to the newest
    path_ = store.active_path(1)
    assert [(m.content, m.reasoning) for m in path_] == [("hi", ""), ("<think>raw old thought</think>hello", "")]
    session = ChatSession(store)
    session.open(1)
    assert session.items[-1].text == "<think>raw old thought</think>hello"  # as it was: nothing rewritten
    store.update_message(2, reasoning="new thought")
    assert store.message(2).reasoning == "new thought"
    store.close()


def test_a_damaged_parts_row_is_shown_as_text_with_a_note(store: ChatStore) -> None:
    chat = store.create_chat()
    user = store.add_message(chat, None, "user", "hi")
    reply = store.add_message(chat, user.id, "assistant", "answer")
    store.rows("SELECT 1")  # the store's own connection, then a raw write as another release might have left it
    raw = sqlite3.connect(store.path)
    raw.execute("UPDATE messages SET parts = '[{broken' WHERE id = ?", (reply.id,))
    raw.commit()
    raw.close()
    session = ChatSession(store)
    session.open(chat)
    item = session.items[-1]
    assert item.text == "answer" and item.reasoning == "[{broken" and "could not be read" in item.note
    assert exchange.export_tree(store, chat)["messages"][-1]["parts"] == "[{broken"


def test_the_streaming_saver_keeps_reasoning_crash_safe(store: ChatStore) -> None:
    chat = store.create_chat()
    reply = store.add_message(chat, None, "assistant", "", state=MessageState.STREAMING)
    saver = StreamingSaver(store, reply.id, interval=0.0)
    assert saver.update("", "thinking so far")
    assert not saver.update("", "thinking so far")  # nothing new, nothing written
    assert saver.update("A", "thinking so far")
    store.close()
    reopened = ChatStore(store.path)  # as after kill -9: the streaming row is interrupted, its parts kept
    message = reopened.message(reply.id)
    assert (message.state, message.content, message.reasoning) == ("interrupted", "A", "thinking so far")
    reopened.close()


def test_exports_keep_reasoning_apart(store: ChatStore, tmp_path: Path) -> None:
    chat = store.create_chat(title="Think")
    user = store.add_message(chat, None, "user", "Colour?")
    store.add_message(chat, user.id, "assistant", "Blue.", parts=())
    reply_id = store.active_path(chat)[-1].id
    store.update_message(reply_id, reasoning="The sky scatters blue light.")
    assert exchange.export_openai(store, chat)[-1] == {
        "role": "assistant",
        "content": "Blue.",
        "reasoning_content": "The sky scatters blue light.",
    }
    markdown = exchange.export_markdown(store, chat)
    assert "<details>\n<summary>Thinking</summary>\n\nThe sky scatters blue light.\n\n</details>\n\nBlue." in markdown
    tree = json.loads(json.dumps(exchange.export_tree(store, chat)))
    assert tree["messages"][-1]["parts"] == [{"type": "reasoning", "text": "The sky scatters blue light."}]
    copy = exchange.import_tree(store, tree)
    assert store.active_path(copy)[-1].reasoning == "The sky scatters blue light."
