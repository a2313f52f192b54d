"""Group chats: members and speakers kept in a real SQLite history, the speaker's prompt, the next-speaker
policies, exports with names, and a two-character turn on the real engine with the starter model."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.chat.group import (
    GroupError,
    Member,
    Policy,
    members_from_json,
    mentioned,
    named_turns,
    next_speaker,
    tidy,
    unprefixed,
    with_message,
)
from app.core.chat.group_cast import GroupCast
from app.core.chat.items import ChatItem, GroupTurn
from app.core.chat.session import ChatSession, TurnSettings
from app.core.engines.load_options import LoadOptions
from app.core.engines.service import EngineService
from app.core.history import exchange
from app.core.history.schema import MIGRATIONS, SCHEMA_VERSION
from app.core.history.store import ChatStore
from app.core.personas.card_library import import_card_file
from app.core.personas.presets import PresetLibrary
from app.core.personas.roleplay import RoleplaySettings, RoleplaySources
from app.core.prompting.types import MessageState, Sampling

HERMES, EDWARD = Member("hermes-2", "Hermes 2"), Member("edward-elric", "Edward Elric")
BASE = TurnSettings(model="SmolLM2", sampling=Sampling(temperature=0.0, max_tokens=12, seed=1))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChatStore]:
    chats = ChatStore(tmp_path / "chats.db")
    yield chats
    chats.close()


@pytest.fixture
def library(tmp_path: Path) -> PresetLibrary:
    return PresetLibrary(tmp_path / "presets")


@pytest.fixture
def sources(tmp_path: Path, library: PresetLibrary) -> RoleplaySources:
    return RoleplaySources(tmp_path / "data", library)


@pytest.fixture
def cast(sources: RoleplaySources) -> GroupCast:
    return GroupCast.of_presets(sources, ["Hermes 2", "edward-elric"], RoleplaySettings(user_name="Winry"))


def reply(text: str, member: Member) -> ChatItem:
    return ChatItem(role="assistant", text=text, speaker=member.name, preset_id=member.preset_id)


# policies
def test_round_robin_goes_after_the_last_speaker() -> None:
    members = [HERMES, EDWARD]
    assert next_speaker(members, [], Policy.ROUND_ROBIN) == HERMES
    assert next_speaker(members, [ChatItem("user", "hi"), reply("a", HERMES)], Policy.ROUND_ROBIN) == EDWARD
    assert next_speaker(members, [reply("a", HERMES), reply("b", EDWARD)], Policy.ROUND_ROBIN) == HERMES


def test_mention_picks_those_named_in_order_each_once_then_turns() -> None:
    members = [HERMES, EDWARD]
    asked = [reply("greeting", HERMES), ChatItem("user", "edward, what about you? And hermes?")]
    assert mentioned(asked[-1].text, members) == [EDWARD, HERMES]  # a word of the name, any case, in order
    assert next_speaker(members, asked, Policy.MENTION) == EDWARD
    assert next_speaker(members, [*asked, reply("me?", EDWARD)], Policy.MENTION) == HERMES
    both = [*asked, reply("me?", EDWARD), reply("and me", HERMES)]
    assert next_speaker(members, both, Policy.AUTO) == EDWARD  # everyone named has spoken: in turns
    assert mentioned("Hermesian edwards", members) == []  # whole words only


def test_chosen_speaker_must_be_a_member(sources: RoleplaySources) -> None:
    assert next_speaker([HERMES, EDWARD], [], Policy.CHOSEN, chosen="edward elric") == EDWARD
    with pytest.raises(GroupError, match="not in this group chat"):
        next_speaker([HERMES, EDWARD], [], Policy.CHOSEN, chosen="Translator")
    with pytest.raises(GroupError, match="two or more"):
        GroupCast(sources, [HERMES, HERMES])


# the speaker's prompt
def test_others_lines_are_named_user_turns_and_roles_alternate() -> None:
    items = [reply("I am Hermes.", HERMES), ChatItem("user", "Hello both."), reply("Yo.", EDWARD)]
    messages = [{"role": "system", "content": "S"}] + [
        {"role": "user" if i.role == "user" else "assistant", "content": i.text} for i in items
    ]
    as_hermes, rows = named_turns(messages, [-1, 0, 1, 2], items, GroupTurn("Hermes 2", "Winry", "", "hermes-2"))
    assert as_hermes == [
        {"role": "system", "content": "S"},
        {"role": "assistant", "content": "I am Hermes."},
        {"role": "user", "content": "Winry: Hello both.\n\nEdward Elric: Yo."},
    ]
    assert rows == [-1, 0, 1]
    as_edward, _ = named_turns(messages, [-1, 0, 1, 2], items, GroupTurn("Edward Elric", "Winry", "", "edward-elric"))
    assert [m["role"] for m in as_edward] == ["system", "user", "assistant"]
    assert as_edward[1]["content"] == "Hermes 2: I am Hermes.\n\nWinry: Hello both."
    nxt = with_message(as_hermes, "And you?", GroupTurn("Hermes 2", "Winry"))
    assert nxt[-1] == {"role": "user", "content": "Winry: Hello both.\n\nEdward Elric: Yo.\n\nWinry: And you?"}
    assert unprefixed(" Edward Elric: Hey!", "Edward Elric") == "Hey!"
    as_ed = GroupTurn("Edward Elric", "Winry", '[{"id": "hermes-2", "name": "Hermes 2"}]', "edward-elric")
    assert tidy("Edward Elric: Hey.\nWinry", as_ed) == "Hey."  # a cut-off start of your line
    assert tidy("Hey.\nHermes 2:", as_ed) == "Hey." and tidy("Hey.\nHer", as_ed) == "Hey.\nHer"
    assert unprefixed("Hey, Edward Elric: you", "Edward Elric") == "Hey, Edward Elric: you"


def test_speaker_turn_uses_its_card_sampling_and_stops_at_others(cast: GroupCast, library: PresetLibrary) -> None:
    edward = cast.turn(cast.members[1], BASE)
    assert edward.preset == "edward-elric" and edward.group is not None and edward.group.speaker == "Edward Elric"
    assert library.get("edward-elric").system_prompt.strip()[:40] in edward.system_prompt
    assert "Write the next reply only as Edward Elric" in edward.system_prompt
    assert edward.sampling.temperature == 0.8  # Edward's own sampling
    assert "\nHermes 2:" in edward.sampling.stop and "\nWinry:" in edward.sampling.stop
    assert "\nEdward Elric:" not in edward.sampling.stop
    assert edward.roleplay is not None and edward.roleplay.user.name == "Winry"  # the session applies it
    hermes = cast.turn(cast.members[0], BASE, overrides={"temperature": 0.0})
    assert hermes.sampling.temperature == 0.0 and hermes.system_prompt != edward.system_prompt


def test_v3_group_only_greetings_open_the_group(
    tmp_path: Path, library: PresetLibrary, sources: RoleplaySources
) -> None:
    card = {
        "spec": "chara_card_v3",
        "spec_version": "3.0",
        "data": {
            "name": "Mira",
            "description": "A cartographer.",
            "first_mes": "Hello, {{user}}, just you and me.",
            "group_only_greetings": ["Hello, {{user}} and everyone, I am {{char}}."],
        },
    }
    path = tmp_path / "mira.json"
    path.write_text(json.dumps(card))
    mira = import_card_file(library, path).preset
    group = GroupCast.of_presets(sources, [mira.id, "edward-elric"], RoleplaySettings(user_name="Winry"))
    greetings = group.greetings()
    assert [(g.speaker, g.preset_id) for g in greetings] == [("Mira", mira.id), ("Edward Elric", "edward-elric")]
    assert greetings[0].text == "Hello, Winry and everyone, I am Mira."  # the group-only one, not first_mes
    assert greetings[1].text == library.get("edward-elric").greeting


# history
def test_schema_6_migrates_a_schema_5_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript("".join(MIGRATIONS[:5]) + "PRAGMA user_version = 5;")
    old.execute("INSERT INTO chats (id, title, created_at, updated_at) VALUES (1, 'old', 0, 0)")
    old.execute("INSERT INTO messages (chat_id, role, content, created_at) VALUES (1, 'assistant', 'kept', 0)")
    old.commit()
    old.close()
    store = ChatStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION == 6
        assert store.chat(1).members == "" and store.message(1).speaker == "" and store.message(1).content == "kept"
    finally:
        store.close()


def test_reopening_a_group_chat_keeps_members_and_speakers(store: ChatStore, cast: GroupCast) -> None:
    session = ChatSession(store)
    session.new(group_greetings=cast.greetings())
    session.send("Hello, Edward.", cast.turn(cast.members[1], BASE))
    session.finish(_stats())
    session.reply(cast.turn(cast.members[0], BASE))
    session.append("Hermes 2: Greetings.")
    session.finish(_stats())
    assert session.items[-1].text == "Greetings."  # its own name taken off

    reopened = ChatSession(store)
    reopened.open(session.chat_id or 0)
    assert members_from_json(store.chat(reopened.chat_id or 0).members) == cast.members
    speakers = [(item.role, item.speaker, item.preset_id) for item in reopened.items]
    assert speakers == [
        ("assistant", "Edward Elric", "edward-elric"),  # the greeting (Hermes 2 has none)
        ("user", "", ""),
        ("assistant", "Edward Elric", "edward-elric"),
        ("assistant", "Hermes 2", "hermes-2"),
    ]
    assert store.active_path(reopened.chat_id or 0)[0].role == "assistant"  # no one speaker's system prompt kept
    assert next_speaker(cast.members, reopened.items, Policy.ROUND_ROBIN) == cast.members[1]


def test_exports_carry_speaker_names(store: ChatStore, cast: GroupCast) -> None:
    session = ChatSession(store)
    session.send("Hi all.", cast.turn(cast.members[0], BASE))
    session.append("Hello.")
    session.finish(_stats())
    session.reply(cast.turn(cast.members[1], BASE))
    session.append("Hey.")
    session.finish(_stats())
    chat_id = session.chat_id or 0
    markdown = exchange.export_markdown(store, chat_id)
    assert "· Group: Hermes 2, Edward Elric*" in markdown
    assert "## Hermes 2\n\nHello." in markdown and "## Edward Elric\n\nHey." in markdown
    openai = exchange.export_openai(store, chat_id)
    assert [m.get("name") for m in openai] == [None, "Hermes_2", "Edward_Elric"]
    tree = exchange.export_tree(store, chat_id)
    assert [m["speaker"] for m in tree["messages"]] == ["", "Hermes 2", "Edward Elric"]
    copy = exchange.import_tree(store, json.loads(json.dumps(tree)))
    assert [m.speaker for m in store.active_path(copy)] == ["", "Hermes 2", "Edward Elric"]
    assert members_from_json(store.chat(copy).members) == cast.members


def _stats():  # type: ignore[no-untyped-def]
    from app.core.prompting.types import GenerationStats

    return GenerationStats(generated_tokens=1, finish_reason="stop")


# the real engine
def test_two_characters_take_turns_on_the_real_engine(starter_model: Path, store: ChatStore, cast: GroupCast) -> None:
    service = EngineService()
    try:
        service.load(starter_model, LoadOptions(context_size=2048)).result()
        session = ChatSession(store)
        first = cast.members[next(i for i, m in enumerate(cast.members) if m.name == "Hermes 2")]
        request = session.send("Hermes, say hello to Edward.", cast.turn(first, BASE))
        assert request.messages[-1] == {"role": "user", "content": "Winry: Hermes, say hello to Edward."}
        session.run(service, request)
        speaker = next_speaker(cast.members, session.items, Policy.AUTO)
        assert speaker.name == "Edward Elric"
        second = session.reply(cast.turn(speaker, BASE))
        named = second.messages[-1]
        assert named["role"] == "user"
        assert named["content"].startswith("Winry: Hermes, say hello to Edward.\n\nHermes 2: ")
        assert "Write the next reply only as Edward Elric" in second.messages[0]["content"]
        session.run(service, second)
        replies = [item for item in session.items if item.role == "assistant"]
        assert [r.speaker for r in replies] == ["Hermes 2", "Edward Elric"]
        assert all(r.state is MessageState.DONE and r.text.strip() for r in replies)
        stored = store.active_path(session.chat_id or 0)
        assert [(m.speaker, m.preset) for m in stored if m.role == "assistant"] == [
            ("Hermes 2", "hermes-2"), ("Edward Elric", "edward-elric")
        ]  # fmt: skip
    finally:
        service.close()


def test_each_speaker_reads_its_own_cards_lorebook_and_the_chats_note(
    tmp_path: Path, store: ChatStore, library: PresetLibrary, sources: RoleplaySources
) -> None:
    card = {
        "spec": "chara_card_v3",
        "spec_version": "3.0",
        "data": {
            "name": "Mira",
            "description": "{{char}} draws maps for {{user}}.",
            "first_mes": "Hi.",
            "character_book": {"entries": [{"keys": ["harbour"], "content": "The harbour is frozen.", "id": 1}]},
        },
    }
    path = tmp_path / "mira.json"
    path.write_text(json.dumps(card))
    mira = import_card_file(library, path).preset
    settings = RoleplaySettings(user_name="Winry", author_note="Keep it short.", author_note_depth=0)
    group = GroupCast.of_presets(sources, [mira.id, "edward-elric"], settings)
    session = ChatSession(store)
    as_mira = session.send("Tell me about the harbour.", group.turn(group.members[0], BASE))
    text = "\n".join(m["content"] for m in as_mira.messages)
    assert "The harbour is frozen." in text and "Mira draws maps for Winry." in text  # her book, macros resolved
    assert "Keep it short." in text  # the chat's author's note, for every speaker
    session.finish(_stats())
    as_edward = session.reply(group.turn(group.members[1], BASE))
    text = "\n".join(m["content"] for m in as_edward.messages)
    assert "The harbour is frozen." not in text and "Keep it short." in text  # not his card's book
    assert "Write the next reply only as Edward Elric" in as_edward.messages[0]["content"]
