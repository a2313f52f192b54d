"""Roleplay in real chat turns: a chat's lorebooks, user persona and author's note kept with it (real SQLite) and
applied by ChatSession on every turn; what the real engine formats is asserted; the CLI's `chat --chat ID`
keeps them; alternate greetings; `personas` CRUD."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.cli.main import main
from app.core.chat.roleplay_turn import next_prompt
from app.core.chat.session import ChatSession, TurnSettings
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.service import EngineService
from app.core.history.store import ChatStore
from app.core.paths import AppPaths, resolve_paths
from app.core.personas.card_library import import_card_file
from app.core.personas.cards import placeholder_png
from app.core.personas.lorebook_library import LorebookLibrary
from app.core.personas.lorebook_scan import Scanner
from app.core.personas.presets import Preset, PresetLibrary
from app.core.personas.prompt_build import describe_activation
from app.core.personas.roleplay import (
    Roleplay,
    RoleplaySettings,
    RoleplaySources,
    TokenCounter,
    record_with,
    settings_of,
)
from app.core.personas.user_personas import UserPersona, UserPersonaStore
from app.core.prompting.chat_sampling import ChatSampling
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.types import Sampling

CARD: dict[str, Any] = {
    "spec": "chara_card_v3",
    "spec_version": "3.0",
    "data": {
        "name": "Aria",
        "description": "{{char}} sings for {{user}}.",
        "first_mes": "Hello {{user}}, I am {{char}}.",
        "alternate_greetings": ["*{{char}} waves at {{user}}*", "Back again, {{user}}?"],
        "character_book": {
            "scan_depth": 4,
            "entries": [
                {
                    "keys": ["dragon"],
                    "content": "@@depth 1\nDragons sleep under the Grey Mountain.",
                    "insertion_order": 1,
                    "enabled": True,
                    "id": 1,
                    "comment": "Dragons",
                    "extensions": {},
                }
            ],
        },
    },
}
WORLD = {"entries": {"0": {"uid": 0, "key": ["moon"], "content": "The moon is red over Ardent.", "position": 1}}}


def _library(base: Path) -> AppPaths:
    """A data folder with the Aria card (its own lorebook), the World Info book "world" and the persona Sam."""
    paths = resolve_paths(str(base)).ensure()
    (base / "aria.json").write_text(json.dumps(CARD), encoding="utf-8")
    (base / "world.json").write_text(json.dumps(WORLD), encoding="utf-8")
    import_card_file(PresetLibrary(paths.presets_dir), base / "aria.json")
    LorebookLibrary(paths.data).import_file(base / "world.json")
    people = UserPersonaStore(paths.data)
    people.save(UserPersona("Nobody"))
    people.save(UserPersona("Sam", "Sam is a farmer from the valley.", placeholder_png()))
    return paths


def _turn(sources: RoleplaySources, settings: RoleplaySettings) -> TurnSettings:
    preset = sources.presets.get("Aria")
    return TurnSettings(
        system_prompt=preset.system_prompt,
        model="SmolLM2",
        preset=preset.id,
        sampling=Sampling(temperature=0.0, max_tokens=4, seed=1),
        chat_settings=ChatSampling(Sampling(temperature=0.0, max_tokens=4, seed=1)).to_json(),
        roleplay=sources.resolve(preset, settings),
    )


def test_a_chats_roleplay_reaches_the_engine_and_is_kept(tmp_path: Path, service: EngineService) -> None:
    paths = _library(tmp_path / "base")
    sources = RoleplaySources(paths.data, PresetLibrary(paths.presets_dir))
    settings = RoleplaySettings(
        lorebooks=("world",), user_persona="Sam", author_note="[Write in {{user}}'s dialect.]", author_note_every=2
    )
    turn = _turn(sources, settings)
    assert turn.roleplay is not None
    store = ChatStore(paths.chats_db)
    session = ChatSession(store)
    session.tokens = TokenCounter(lambda texts: service.submit(lambda e: [e.count_tokens(t) for t in texts]).result())
    greetings = turn.roleplay.greetings()
    assert greetings == ["Hello Sam, I am Aria.", "*Aria waves at Sam*", "Back again, Sam?"]
    session.new(greetings, chosen=1)
    assert (session.items[0].text, session.items[0].sibling_count) == ("*Aria waves at Sam*", 3)
    session.switch_version(0, 1)  # swiped before the chat exists
    assert session.items[0].text == "Back again, Sam?"

    preview, built = next_prompt(session, turn.system_prompt, turn.roleplay, "Is the dragon awake?")
    request = session.send("Is the dragon awake?", turn)
    assert request.messages == preview  # the preview is what is sent
    assert session.built is not None and built is not None
    assert describe_activation(session.built.activation) == describe_activation(built.activation)
    rendered = service.engine.render_prompt(request.messages).text  # the model's own chat template
    assert "Aria sings for Sam." in rendered and "Sam is a farmer from the valley." in rendered
    # the at-depth entry sits one message from the end: between the greeting and the question
    assert rendered.index("Back again, Sam?") < rendered.index("Dragons sleep") < rendered.index("Is the dragon")
    assert "dialect" not in rendered  # the author's note comes on every 2nd message of the user's
    assert "fired: Aria's lorebook / Dragons — key 'dragon'" in describe_activation(session.built.activation)[0]
    fired = session.built.activation.fired[0]
    assert fired.tokens == service.engine.count_tokens(fired.text)  # counted by the model's tokenizer
    session.run(service, request)

    request = session.send("And the moon?", turn)
    rendered = service.engine.render_prompt(request.messages).text
    assert "The moon is red over Ardent." in rendered and "[Write in Sam's dialect.]" in rendered
    assert "Dragons sleep" in rendered  # the dragon is still within the book's scan depth
    session.run(service, request)
    chat_id = session.chat_id
    assert chat_id is not None

    # reopened: the settings, the greeting's versions, and the same roleplay for the next message
    again = ChatSession(ChatStore(paths.chats_db))
    again.open(chat_id)
    assert settings_of(again.store.chat(chat_id).settings) == settings
    assert ChatSampling.from_json(again.store.chat(chat_id).settings, Sampling()).sampling.max_tokens == 4
    greeting = again.items[0]
    assert (greeting.text, greeting.sibling_index, greeting.sibling_count) == ("Back again, Sam?", 2, 3)
    kept = sources.resolve(sources.presets.get("Aria"), settings_of(again.store.chat(chat_id).settings))
    messages, _ = next_prompt(again, again.system_message.content if again.system_message else "", kept, "moon")
    assert any("The moon is red" in m["content"] for m in messages)
    again.switch_version(0, -1)  # the other greetings are versions of the first message
    assert again.items[0].text == "*Aria waves at Sam*" and len(again.items) == 1
    again.store.close()
    store.close()


def test_settings_records_merge_and_damage_is_ignored() -> None:
    roleplay = RoleplaySettings(lorebooks=("a",), author_note="n", author_note_depth=2)
    sampling = ChatSampling(Sampling(temperature=0.3)).to_json()
    record = record_with(record_with("", roleplay=roleplay), sampling=sampling)
    assert settings_of(record) == roleplay
    assert ChatSampling.from_json(record, Sampling()).sampling.temperature == 0.3
    assert settings_of(record_with(record, sampling=sampling)) == roleplay  # a sampling change keeps the roleplay
    damaged = json.dumps({"roleplay": {"lorebooks": "x", "author_note_depth": -3, "author_note_every": True}})
    assert settings_of(damaged) == RoleplaySettings()
    assert settings_of("{not json") == RoleplaySettings()


def test_a_deleted_lorebook_is_a_note_not_a_failure(tmp_path: Path) -> None:
    paths = _library(tmp_path / "base")
    sources = RoleplaySources(paths.data, PresetLibrary(paths.presets_dir))
    roleplay = sources.resolve(sources.presets.get("Aria"), RoleplaySettings(lorebooks=("gone",), user_persona="Who"))
    assert any("gone" in note for note in roleplay.notes) and any("Who" in note for note in roleplay.notes)
    assert roleplay.user.name == "Nobody"  # the default, in place of the persona no longer there
    built = roleplay.build([{"role": "user", "content": "a dragon"}])
    assert "Dragons sleep" in built.messages[1]["content"]


class Spy:
    """Records the exact text the real engine formats for each generation (its own prompt format), then runs it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.prompts: list[str] = []
        real = LlamaEngine.stream

        def stream(engine: LlamaEngine, messages: Any, *args: Any, **kwargs: Any) -> Any:
            prompt_format = kwargs.get("prompt_format") or (args[2] if len(args) > 2 else None)
            self.prompts.append(engine.render_prompt(messages, prompt_format).text)
            return real(engine, messages, *args, **kwargs)

        monkeypatch.setattr(LlamaEngine, "stream", stream)


def test_cli_chat_keeps_the_chats_roleplay(
    tmp_path: Path, starter_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "base"
    _library(base)
    spy = Spy(monkeypatch)
    common = ["--basedir", str(base), "--model", str(starter_model), "--max-tokens", "3", "--seed", "1"]
    first = ["chat", "--save", "--preset", "Aria", "--lorebook", "world", "--user-persona", "Sam", "--greeting", "2"]
    assert main([*first, *common, "--author-note", "[Stay calm.]", "Tell me of the dragon"]) == 0
    err = capsys.readouterr().err
    assert "fired: Aria's lorebook / Dragons — key 'dragon'" in err
    chat_id = int(err.split("saved in chat ")[1].split()[0])
    assert "*Aria waves at Sam*" in spy.prompts[0] and "Dragons sleep under the Grey Mountain." in spy.prompts[0]
    assert "[Stay calm.]" in spy.prompts[0] and "Aria sings for Sam." in spy.prompts[0]

    # continued without any roleplay option: the chat's own lorebooks, persona and note
    assert main(["chat", "--chat", str(chat_id), *common, "What about the moon?"]) == 0
    assert "key 'moon'" in capsys.readouterr().err
    assert "The moon is red over Ardent." in spy.prompts[1] and "Aria sings for Sam." in spy.prompts[1]
    assert "[Stay calm.]" in spy.prompts[1]

    assert main(["prompt", "--preset", "Aria", "--chat", str(chat_id), "--basedir", str(base), "the moon"]) == 0
    out = capsys.readouterr().out
    assert "The moon is red over Ardent." in out and "*Aria waves at Sam*" in out

    assert main(["chat", "--preset", "Aria", "--greeting", "9", *common, "hi"]) == 1
    assert "Aria has 3 greeting(s)" in capsys.readouterr().err
    assert main(["chat", "--preset", "Aria", "--lorebook", "nope", *common, "hi"]) == 1
    assert "No lorebook named 'nope'" in capsys.readouterr().err
    assert len(spy.prompts) == 2  # refused before any generation


def test_cli_personas_crud(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--basedir", str(tmp_path / "base")]
    avatar = tmp_path / "me.png"
    avatar.write_bytes(placeholder_png())
    assert main(["personas", "add", "Sam", "--description", "A farmer.", "--avatar", str(avatar), *base]) == 0
    assert main(["personas", "add", "Kit", "--description", "A thief.", "--default", *base]) == 0
    assert main(["personas", "add", "kit", *base]) == 1
    assert main(["personas", "edit", "Sam", "--name", "Samwise", "--description", "A gardener.", *base]) == 0
    capsys.readouterr()
    assert main(["personas", "list", *base]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("  Samwise") and "A gardener." in listing[0] and "[avatar]" in listing[0]
    assert listing[1].startswith("* Kit")
    assert main(["personas", "default", "samwise", *base]) == 0
    assert main(["personas", "remove", "Samwise", *base]) == 0
    store = UserPersonaStore(resolve_paths(str(tmp_path / "base")).data)
    assert [p.name for p in store.personas()] == ["Kit"] and store.default == "Kit"
    assert main(["personas", "remove", "Nobody", *base]) == 1
    assert "No user persona named 'Nobody'" in capsys.readouterr().err
    big = tmp_path / "big.png"
    big.write_bytes(placeholder_png() + b"\0" * (2 << 20))
    assert main(["personas", "edit", "Kit", "--avatar", str(big), *base]) == 1
    not_png = tmp_path / "x.png"
    not_png.write_bytes(base64.b64encode(b"not a png"))
    assert main(["personas", "edit", "Kit", "--avatar", str(not_png), *base]) == 1
    assert "must be a PNG" in capsys.readouterr().err
    assert UserPersonaStore(resolve_paths(str(tmp_path / "base")).data).get("Kit").avatar_png == b""
    mcp = ["chat", "--model", "m", "--mcp", str(tmp_path / "mcp.json"), "--user-persona", "Kit", "hi", *base]
    assert main(mcp) == 1  # said, not silently ignored
    assert "do not combine with --mcp yet" in capsys.readouterr().err


def test_author_note_frequency_depth_and_persona_macros() -> None:
    preset = Preset(id="p", name="Aria", system_prompt="You are {{char}}; {{user}} is here.")
    settings = RoleplaySettings(author_note="[{{user}} is tired.]", author_note_depth=1, author_note_every=3)
    roleplay = Roleplay(preset, settings, UserPersona("Sam", "{{user}} farms."), None, Scanner([]))
    conversation: list[ChatMessage] = []
    seen = []
    for turn in range(1, 7):
        conversation.append({"role": "user", "content": f"Question {turn} from {{{{user}}}} to {{{{char}}}}"})
        built = roleplay.build(conversation)
        assert built.messages[0]["content"] == "You are Aria; Sam is here.\n\nSam farms."
        assert built.messages[-1]["content"] == f"Question {turn} from Sam to Aria"
        noted = built.messages[-2]["content"] == "[Sam is tired.]"  # depth 1: just before the last message
        seen.append(noted)
        assert noted == any(m["content"] == "[Sam is tired.]" for m in built.messages)
        conversation.append({"role": "assistant", "content": f"Answer {turn}"})
    assert seen == [False, False, True, False, False, True]
    never = replace(roleplay, settings=replace(settings, author_note_every=0)).build(conversation[:5])
    assert all("tired" not in m["content"] for m in never.messages)
