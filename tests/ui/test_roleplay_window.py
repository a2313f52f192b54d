"""Roleplay in the window: the user-persona picker, the Roleplay tab (lorebooks, author's note), a card's alternate
greetings swiped before the chat exists, the preview listing the entries that fire, the real engine receiving
exactly that prompt, and the chat keeping its roleplay when it is opened again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.core.engines.llama_engine import LlamaEngine
from app.core.personas.cards import placeholder_png
from app.core.personas.lorebook_library import LorebookLibrary
from app.core.personas.roleplay import settings_of
from app.core.personas.user_personas import UserPersona, UserPersonaStore
from app.ui.personas.user_persona_picker import UserPersonaDialog

CARD = {
    "spec": "chara_card_v3",
    "spec_version": "3.0",
    "data": {
        "name": "Aria",
        "description": "{{char}} sings for {{user}}.",
        "first_mes": "Hello {{user}}, I am {{char}}.",
        "alternate_greetings": ["*{{char}} waves at {{user}}*"],
        "character_book": {
            "entries": [
                {"keys": ["dragon"], "content": "@@depth 1\nDragons sleep under the Grey Mountain.",
                 "insertion_order": 1, "enabled": True, "id": 1, "comment": "Dragons", "extensions": {}}
            ]
        },
    },
}  # fmt: skip
WORLD = {"entries": {"0": {"uid": 0, "key": ["moon"], "content": "The moon is red over Ardent.", "position": 1}}}


def _choose_persona(window: Any, name: str) -> None:
    combo = window.user_persona.combo
    index = combo.findData(name)
    assert index >= 0, name
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def _tick(window: Any, book: str) -> None:
    items = window.roleplay_panel.books.findItems(book, Qt.MatchFlag.MatchExactly)
    assert items, book
    items[0].setCheckState(Qt.CheckState.Checked)


def test_a_chats_roleplay_in_the_window(
    qtbot: Any, window: Any, library_with_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []
    real = LlamaEngine.stream

    def stream(engine: LlamaEngine, messages: Any, *args: Any, **kwargs: Any) -> Any:
        prompts.append(engine.render_prompt(messages, kwargs.get("prompt_format")).text)
        return real(engine, messages, *args, **kwargs)

    monkeypatch.setattr(LlamaEngine, "stream", stream)
    (tmp_path / "aria.json").write_text(json.dumps(CARD), encoding="utf-8")
    (tmp_path / "world.json").write_text(json.dumps(WORLD), encoding="utf-8")
    LorebookLibrary(window.paths.data).import_file(tmp_path / "world.json")
    people = UserPersonaStore(window.paths.data)
    people.save(UserPersona("Kit", "A thief."))
    people.save(UserPersona("Sam", "Sam is a farmer from the valley.", placeholder_png()))
    window.user_persona.refresh()
    assert window.user_persona.current() == "Kit"  # the default

    window.persona.import_file(tmp_path / "aria.json")
    assert window.preset.name == "Aria"
    greeting = window.chat_model.items[0]
    assert (greeting.text, greeting.sibling_count) == ("Hello Kit, I am Aria.", 2)
    _choose_persona(window, "Sam")  # the untouched chat's greeting follows
    assert window.chat_model.items[0].text == "Hello Sam, I am Aria."
    window.chat_view.version_requested.emit(0, 1)  # swiped to the alternate greeting
    assert window.chat_model.items[0].text == "*Aria waves at Sam*"

    assert "Aria's lorebook" in window.roleplay_panel.own.text()
    _tick(window, "world")
    window.roleplay_panel.note.setPlainText("[Answer in one line.]")
    window.side_tabs.setCurrentWidget(window.prompt_preview)
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.load_model(str(library_with_model))
    qtbot.keyClicks(window.input, "Tell me of the dragon and the moon")
    qtbot.waitUntil(lambda: "Dragons sleep" in window.preview.toPlainText() and "moon" in window.preview.toPlainText())
    qtbot.waitUntil(lambda: "Tell me of the dragon and the moon" in window.preview.toPlainText())
    preview = window.preview.toPlainText()
    notes = window.preview_notes.text()
    assert "Lorebook entries: 2 fired" in notes
    assert "fired: Aria's lorebook / Dragons — key 'dragon'" in notes and "fired: world / moon — key 'moon'" in notes
    assert "Aria sings for Sam." in preview and "Sam is a farmer from the valley." in preview
    assert "[Answer in one line.]" in preview and "*Aria waves at Sam*" in preview

    with qtbot.waitSignal(window.reply_finished, timeout=60_000):
        window.send()
    assert prompts[-1] == preview  # the engine formats exactly what the preview showed
    assert "lore" in window.context_label.text()
    chat_id = window.conversation.chat_id
    assert chat_id is not None
    kept = settings_of(window.store.chat(chat_id).settings)
    assert kept.lorebooks == ("world",) and kept.user_persona == "Sam" and kept.author_note == "[Answer in one line.]"

    window.new_chat()  # a new chat starts plain: the default persona, no lorebook of its own, no note
    assert window.roleplay_panel.checked() == () and window.roleplay_panel.note.toPlainText() == ""
    assert window.user_persona.current() == "Kit"
    window.history.open_chat(chat_id)  # and the old one comes back with its own
    assert window.roleplay_panel.checked() == ("world",) and window.user_persona.current() == "Sam"
    assert window.roleplay_panel.note.toPlainText() == "[Answer in one line.]"
    assert window.chat_model.items[0].text == "*Aria waves at Sam*"
    assert window.chat_model.items[0].sibling_count == 2
    window.roleplay_panel.note_every.setValue(2)  # a change is kept with the open chat at once
    assert settings_of(window.store.chat(chat_id).settings).author_note_every == 2
    sea = {"entries": {"0": {"uid": 0, "key": ["sea"], "content": "The sea is calm.", "position": 1}}}
    (tmp_path / "sea.json").write_text(json.dumps(sea), encoding="utf-8")
    LorebookLibrary(window.paths.data).import_file(tmp_path / "sea.json")  # another page adds a book
    window.side_tabs.setCurrentWidget(window.roleplay_panel)  # listed when the tab comes into view
    assert [window.roleplay_panel.books.item(row).text() for row in range(2)] == ["sea", "world"]
    assert window.roleplay_panel.checked() == ("world",)


def test_manage_personas_dialog(qtbot: Any, window: Any) -> None:
    dialog = UserPersonaDialog(window.paths.data, window)
    qtbot.addWidget(dialog)
    dialog.name.setText("Sam")
    dialog.description.setPlainText("A farmer.")
    dialog._set_avatar(placeholder_png())
    assert dialog.save()
    dialog.new()
    dialog.name.setText("sam")
    assert not dialog.save() and "already have a persona" in dialog.problem.text()
    dialog.name.setText("Kit")
    dialog.default.setChecked(True)
    assert dialog.save()
    dialog.list.setCurrentRow(0)
    assert dialog.name.text() == "Sam" and dialog.avatar
    dialog.name.setText("Samwise")
    assert dialog.save()
    store = UserPersonaStore(window.paths.data)
    assert [p.name for p in store.personas()] == ["Samwise", "Kit"] and store.default == "Kit"
    assert store.get("Samwise").avatar_png == placeholder_png()
    dialog.list.setCurrentRow(1)
    dialog.delete()
    assert [p.name for p in UserPersonaStore(window.paths.data).personas()] == ["Samwise"]
    dialog.new()
    dialog.name.setText("")
    assert not dialog.save() and "needs a name" in dialog.problem.text()
    window.user_persona.refresh()
    assert window.user_persona.combo.count() == 1 and window.user_persona.current() == "Samwise"
