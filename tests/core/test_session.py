"""ChatSession driven headless (no Qt) with the real engine, the real starter model and a real SQLite history."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.chat.session import ChatSession, TurnError, TurnSettings
from app.core.engines.interface import ContextFullError
from app.core.engines.load_options import LoadOptions
from app.core.engines.service import EngineService, GenerationRequest
from app.core.history.store import ChatStore, StoreError
from app.core.prompting.types import FinishReason, MessageState, ResponseState, Sampling

GREEDY = TurnSettings(
    system_prompt="You are a helpful assistant.",
    model="SmolLM2",
    preset="plain",
    speaker="SmolLM2 · Plain",
    sampling=Sampling(temperature=0.0, max_tokens=24, seed=1),
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChatStore]:
    chats = ChatStore(tmp_path / "chats.db")
    yield chats
    chats.close()


class Recorder:
    """A SessionListener that keeps what it heard."""

    def __init__(self) -> None:
        self.states: list[ResponseState] = []
        self.events: list[str] = []
        self.failures: list[str] = []

    def items_reset(self) -> None:
        self.events.append("reset")

    def item_inserted(self, row: int) -> None:
        self.events.append(f"insert {row}")

    def item_changed(self, row: int) -> None:
        self.events.append(f"change {row}")

    def state_changed(self, state: ResponseState) -> None:
        self.states.append(state)

    def save_failed(self, message: str) -> None:
        self.failures.append(message)


def test_send_records_the_turn_and_streams_the_reply(service: EngineService, store: ChatStore) -> None:
    listener = Recorder()
    session = ChatSession(store, listener)
    request = session.send("Name a colour.", GREEDY)
    assert session.response_state is ResponseState.READING_PROMPT
    assert [m["role"] for m in request.messages] == ["system", "user"]
    # the user's message and the empty streaming reply are in the history before any token
    path = store.active_path(session.chat_id)
    assert [(m.role, m.state) for m in path] == [("system", "done"), ("user", "done"), ("assistant", "streaming")]

    stats = session.run(service, request)
    reply = session.items[-1]
    assert reply.state is MessageState.DONE and reply.text.strip()
    assert stats.generated_tokens > 0 and reply.stats is stats
    assert store.active_path(session.chat_id)[-1].content == reply.text
    assert store.active_path(session.chat_id)[-1].state == "done"
    assert listener.states[0] is ResponseState.READING_PROMPT
    assert ResponseState.GENERATING in listener.states and listener.states[-1] is ResponseState.IDLE


def test_stop_mid_stream_keeps_the_partial_reply_as_stopped(service: EngineService, store: ChatStore) -> None:
    session = ChatSession(store)
    long_turn = TurnSettings(sampling=Sampling(temperature=0.8, max_tokens=600, seed=3), model="m")
    request = session.send("Write a long story about the sea.", long_turn)
    pieces: list[str] = []
    stats = session.run(service, request, on_piece=pieces.append, should_stop=lambda: len(pieces) >= 8)
    assert stats.finish_reason == FinishReason.CANCELLED
    reply = session.items[-1]
    assert not session.save_error
    assert reply.state is MessageState.STOPPED and reply.text == "".join(pieces)
    saved = store.active_path(session.chat_id)[-1]
    assert saved.state == "stopped" and saved.content == reply.text
    assert reply.can_continue
    assert stats.generated_tokens < 600


def test_regenerate_adds_a_sibling_and_keeps_the_old_reply(service: EngineService, store: ChatStore) -> None:
    session = ChatSession(store)
    session.run(service, session.send("Say hello.", GREEDY))
    first = session.items[-1]
    turn = TurnSettings(sampling=Sampling(temperature=1.2, max_tokens=16, seed=99), model="m")
    session.run(service, session.regenerate(turn))
    second = session.items[-1]
    assert second.message_id != first.message_id
    assert (second.sibling_index, second.sibling_count) == (1, 2)
    parent = store.message(second.message_id).parent_id
    assert store.message(first.message_id).parent_id == parent  # siblings: the same user message
    session.switch_version(len(session.items) - 1, -1)
    assert session.items[-1].message_id == first.message_id and session.items[-1].text == first.text


def test_continue_carries_on_from_a_stopped_reply(service: EngineService, store: ChatStore) -> None:
    session = ChatSession(store)
    short = TurnSettings(sampling=Sampling(temperature=0.0, max_tokens=6, seed=1), model="m")
    session.run(service, session.send("Count from one to twenty in words.", short))
    cut = session.items[-1]
    assert cut.stats is not None and cut.stats.finish_reason == "length" and cut.can_continue
    before = cut.text
    request = session.continue_last(short)
    assert request.continue_text == before
    assert request.messages[-1]["role"] == "user"  # the partial reply is not sent as a finished turn
    session.run(service, request)
    assert session.items[-1].message_id == cut.message_id
    assert session.items[-1].text.startswith(before) and len(session.items[-1].text) > len(before)


def test_edit_and_resend_branches_from_the_same_point(service: EngineService, store: ChatStore) -> None:
    session = ChatSession(store)
    session.run(service, session.send("Name a fruit.", GREEDY))
    old_user, old_reply = session.items
    session.run(service, session.edit(0, "Name a vegetable.", GREEDY))
    new_user, new_reply = session.items
    assert new_user.text == "Name a vegetable." and (new_user.sibling_index, new_user.sibling_count) == (1, 2)
    assert new_user.message_id != old_user.message_id and new_reply.message_id != old_reply.message_id
    session.switch_version(0, -1)
    assert [i.message_id for i in session.items] == [old_user.message_id, old_reply.message_id]


def test_context_policy_drops_the_oldest_and_marks_them(starter_model: Path, store: ChatStore) -> None:
    small_context = EngineService()
    try:
        small_context.load(starter_model, LoadOptions(context_size=512)).result()
        session = ChatSession(store)
        turn = TurnSettings(sampling=Sampling(temperature=0.0, max_tokens=4), model="m", context_policy="drop-oldest")
        session.run(small_context, session.send("word " * 300, turn))
        session.run(small_context, session.send("word " * 300, turn))
        stats = session.run(small_context, session.send("And now: what is 2 + 2?", turn))
        assert stats.dropped_messages >= 1 and stats.prompt_tokens <= 512
        left_out = [row for row, item in enumerate(session.items) if item.left_out]
        assert left_out and left_out[0] == 0
        # with the "stop" policy the same chat is refused, and the refusal is kept with the reply
        stop = TurnSettings(sampling=turn.sampling, model="m", context_policy="stop")
        request = session.send("word " * 300, stop)
        with pytest.raises(ContextFullError):
            session.run(small_context, request)
        assert session.items[-1].state is MessageState.ERROR and "context" in session.items[-1].error
    finally:
        small_context.close()


def test_a_failed_generation_is_kept_as_an_error(service: EngineService, store: ChatStore) -> None:
    session = ChatSession(store)
    broken = TurnSettings(prompt_format=("custom", "{{ messages[0].content | no_such_filter }}"), model="m")
    request = session.send("Hello", broken)
    with pytest.raises(Exception):  # noqa: B017 (which HermesError depends on the format's own check)
        session.run(service, request)
    reply = session.items[-1]
    assert reply.state is MessageState.ERROR and reply.error
    saved = store.active_path(session.chat_id)[-1]
    assert saved.state == "error" and saved.stats.get("error") == reply.error
    assert session.response_state is ResponseState.IDLE
    # the session is usable afterwards
    session.run(service, session.send("Hello again", GREEDY))
    assert session.items[-1].state is MessageState.DONE


def test_without_a_store_the_session_keeps_the_chat_in_memory(service: EngineService) -> None:
    session = ChatSession(None)
    session.run(service, session.send("Hi", GREEDY))
    session.run(service, session.regenerate(GREEDY))
    assert [i.role for i in session.items] == ["user", "assistant"]
    assert session.items[1].sibling_count == 2  # an in-memory history: versions as with a file
    session.run(service, session.edit(0, "Hello", GREEDY))
    assert session.items[0].text == "Hello" and session.items[0].sibling_count == 2
    assert session.store.path == Path(":memory:")


def test_a_second_turn_cannot_start_while_one_is_running(store: ChatStore) -> None:
    session = ChatSession(store)
    session.send("Hi", GREEDY)
    with pytest.raises(TurnError, match="still being written"):
        session.send("Again", GREEDY)
    with pytest.raises(TurnError):
        session.regenerate(GREEDY)


def test_a_history_that_cannot_be_written_refuses_the_turn_and_changes_nothing(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chats.db")
    session = ChatSession(store)
    store._db.close()  # every write fails from here, as on a full disk
    with pytest.raises(StoreError, match="could not be saved"):
        session.send("Hi", GREEDY)
    assert session.items == [] and session.response_state is ResponseState.IDLE


def test_requests_queue_first_come_first_served(service: EngineService) -> None:
    order: list[str] = []
    first = service.generate(
        GenerationRequest([{"role": "user", "content": "One"}], Sampling(max_tokens=8, temperature=0)),
        lambda _t: order.append("first"),
    )
    second = service.generate(
        GenerationRequest([{"role": "user", "content": "Two"}], Sampling(max_tokens=8, temperature=0)),
        lambda _t: order.append("second"),
    )
    second.result(120)
    first.result(120)
    assert order and order.index("second") > max(i for i, who in enumerate(order) if who == "first")
    assert first.started_at is not None and second.started_at is not None
    assert second.started_at >= first.started_at


def test_a_cancelled_queued_request_never_starts(service: EngineService) -> None:
    started = threading.Event()
    hold = service.submit(lambda _engine: started.wait(30))  # the engine is busy until released
    queued = service.generate(
        GenerationRequest([{"role": "user", "content": "Hi"}], Sampling(max_tokens=8)), lambda _t: None
    )
    queued.cancel()
    started.set()
    hold.result(30)
    stats = queued.result(30)
    assert stats.finish_reason == FinishReason.CANCELLED and stats.generated_tokens == 0
