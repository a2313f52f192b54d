"""A chat's own sampling: the side panel's words read and checked, and the record kept with the chat (issue 25, 9)."""

from __future__ import annotations

import json

import pytest

from app.core.chat.session import ChatSession, SilentListener, TurnSettings
from app.core.errors import HermesError
from app.core.history.store import ChatStore
from app.core.prompting.chat_sampling import (
    MAX_STOPS,
    ChatSampling,
    SamplingInputError,
    format_stop,
    parse_schema,
    parse_stop,
)
from app.core.prompting.gbnf_bounds import GrammarRefused
from app.core.prompting.types import Sampling

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def test_stop_strings_one_per_line_with_escapes_round_trip() -> None:
    stops = parse_stop("###\n\nUser:\\n\nC:\\\\path\ttab\\t\n###")
    assert stops == ("###", "User:\n", "C:\\path\ttab\t")
    assert parse_stop(format_stop(stops)) == stops


def test_too_many_or_too_long_stop_strings_are_refused_with_the_limit() -> None:
    with pytest.raises(SamplingInputError, match=f"limit is {MAX_STOPS}"):
        parse_stop("\n".join(f"s{i}" for i in range(MAX_STOPS + 1)))
    with pytest.raises(SamplingInputError, match="characters long"):
        parse_stop("x" * 500)


def test_a_json_schema_is_parsed_and_bounded() -> None:
    assert parse_schema("") is None
    assert parse_schema(json.dumps(SCHEMA)) == SCHEMA
    with pytest.raises(SamplingInputError, match="not valid JSON"):
        parse_schema('{"type": "object",')
    with pytest.raises(GrammarRefused, match="maxLength"):  # schema_bounds: n nested groups in the grammar
        parse_schema(json.dumps({"type": "string", "maxLength": 100_000}))
    with pytest.raises(GrammarRefused, match="must be an object"):
        parse_schema("[1, 2]")
    with pytest.raises(HermesError, match="nests deeper"):
        parse_schema("[" * 10_000 + "]" * 10_000)


def test_the_record_round_trips_and_a_bad_one_falls_back_to_the_preset() -> None:
    preset = Sampling(temperature=0.3, top_k=20)
    chat = ChatSampling(preset.with_overrides(top_p=0.5, seed=7, stop=("END",), min_p=0.1), json.dumps(SCHEMA))
    assert ChatSampling.from_json(chat.to_json(), preset) == chat
    assert ChatSampling.from_json("", preset) == ChatSampling(preset)
    assert ChatSampling.from_json("{not json", preset) == ChatSampling(preset)
    damaged = json.dumps({"sampling": {"top_p": 7, "top_k": "many", "seed": -3, "temperature": 1.5}, "schema": 4})
    assert ChatSampling.from_json(damaged, preset) == ChatSampling(preset.with_overrides(temperature=1.5))


def test_the_session_keeps_the_chat_s_sampling_and_sends_the_schema(tmp_path) -> None:
    store = ChatStore(tmp_path / "chats.sqlite3")
    session = ChatSession(store, SilentListener())
    record = ChatSampling(Sampling(seed=5), json.dumps(SCHEMA)).to_json()
    request = session.send("hi", TurnSettings(json_schema=SCHEMA, chat_settings=record))
    assert request.json_schema == SCHEMA
    assert session.chat_id is not None and store.chat(session.chat_id).settings == record
    from app.core.history import exchange

    copy = exchange.import_tree(store, exchange.export_tree(store, session.chat_id))  # an export keeps them
    assert store.chat(copy).settings == record
    store.set_chat_settings(session.chat_id, "{}")
    assert store.chat(session.chat_id).settings == "{}"
    store.close()
