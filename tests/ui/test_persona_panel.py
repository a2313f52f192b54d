"""Presets in the GUI: pick, create, edit, delete, import by drop, and the live prompt preview."""

import json
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.core.personas.builtin import EDWARD_ELRIC_SYSTEM_PROMPT, HERMES_2_SYSTEM_PROMPT
from app.ui.chat.chat_model import MessageState
from app.ui.personas.preset_editor import PresetEditor


def pick(window, name: str) -> None:
    index = window.persona.picker.findText(name, Qt.MatchFlag.MatchStartsWith)
    assert index >= 0, name
    window.persona.picker.setCurrentIndex(index)
    window.persona.picker.activated.emit(index)


def test_starts_on_hermes_2_and_picking_edward_sets_prompt_and_greeting(window) -> None:
    assert window.persona.preset.id == "hermes-2"
    assert window.persona.system_prompt.toPlainText() == HERMES_2_SYSTEM_PROMPT
    pick(window, "Edward Elric")
    assert window.persona.system_prompt.toPlainText() == EDWARD_ELRIC_SYSTEM_PROMPT
    items = window.chat_model.items
    assert len(items) == 1 and items[0].role == "assistant" and "Edward Elric" in items[0].text
    assert window.persona.temperature.value() == 0.8
    assert window.settings.preset == "edward-elric"


def test_edward_elric_chats_end_to_end_in_the_gui(qtbot, library_with_model: Path, window) -> None:
    pick(window, "Edward Elric")
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.model_bar.load_model(str(library_with_model))
    window.persona.temperature.setValue(0.0)
    window.input.setPlainText("What is alchemy?")
    with qtbot.waitSignal(window.reply_finished, timeout=60_000) as done:
        window.chat.send()
    reply = done.args[0]
    assert reply.state == MessageState.DONE and reply.text.strip()
    assert reply.model_name.endswith("· Edward Elric")
    assert [i.role for i in window.chat_model.items] == ["assistant", "user", "assistant"]


def test_create_edit_delete_a_preset(qtbot, window, monkeypatch) -> None:
    def fill_and_accept(name: str, prompt: str, temperature: float):
        def exec_(editor: PresetEditor) -> int:
            editor.name.setText(name)
            editor.system_prompt.setPlainText(prompt)
            editor.temperature.setValue(temperature)
            editor.prompt_format.setCurrentIndex(editor.prompt_format.findData("llama-3"))
            return 1

        monkeypatch.setattr(PresetEditor, "exec", exec_)

    fill_and_accept("Pirate", "Talk like a pirate.", 1.1)
    window.persona.new_action.trigger()
    assert window.persona.preset.name == "Pirate" and not window.persona.preset.builtin
    assert window.persona.system_prompt.toPlainText() == "Talk like a pirate."
    assert (window.paths.presets_dir / "pirate.json").exists()
    assert window.persona.picker.currentText() == "Pirate  (yours)"

    fill_and_accept("Pirate Captain", "Talk like a pirate captain.", 0.9)
    window.persona.edit_action.trigger()
    stored = json.loads((window.paths.presets_dir / "pirate.json").read_text())
    assert stored["name"] == "Pirate Captain" and stored["sampling"]["temperature"] == 0.9
    assert stored["prompt_format"] == "llama-3"

    window.persona.delete_preset(confirm=False)
    assert not (window.paths.presets_dir / "pirate.json").exists()
    assert window.persona.picker.findText("Pirate Captain", Qt.MatchFlag.MatchStartsWith) == -1
    assert window.persona.preset.id == "hermes-2"


def test_built_ins_open_read_only(qtbot, window) -> None:
    editor = PresetEditor(window.persona.preset, window)
    qtbot.addWidget(editor)
    assert editor.system_prompt.isReadOnly()
    assert not editor.prompt_format.isEnabled()
    # issue 25: in a view, no typing hint reads like a value; no template field for a format that is not Custom
    assert editor.stop.text() == "" and editor.stop.placeholderText() == ""
    assert editor.prompt_format.currentData() != "custom" and not editor.custom_template.isVisibleTo(editor)


def test_the_preview_shows_the_exact_prompt_and_follows_changes(qtbot, window) -> None:
    window.side_tabs.setCurrentIndex(1)
    qtbot.keyClicks(window.input, "Hello, who are you?")
    qtbot.waitUntil(lambda: "Hello, who are you?" in window.preview.toPlainText(), timeout=3000)
    text = window.preview.toPlainText()
    assert text.startswith(f"<|im_start|>system\n{HERMES_2_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n")
    assert text.endswith("<|im_start|>assistant\n")
    assert "No model loaded" in window.preview_notes.text()

    window.persona.library.create(
        replace(window.persona.preset, id="", name="Llama talk", prompt_format="mistral-instruct")
    )
    window.persona.refresh()
    pick(window, "Llama talk")
    qtbot.waitUntil(lambda: window.preview.toPlainText().startswith("<s>[INST] "), timeout=3000)
    assert "merged into the first user message" in window.preview_notes.text()


def test_dropping_a_character_card_imports_it(qtbot, window, tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    card.write_text(
        json.dumps({"name": "Nova", "description": "{{char}} is a pilot.", "first_mes": "Ready, {{user}}?"})
    )
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(card))])
    drop = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    window.dropEvent(drop)
    assert window.persona.preset.name == "Nova"
    assert "Nova is a pilot." in window.persona.system_prompt.toPlainText()
    assert window.chat_model.items[0].text == "Ready, User?"


def test_a_bad_dropped_file_shows_a_banner_and_changes_nothing(qtbot, window, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    before = [p.id for p in window.persona.library.presets()]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(bad))])
    window.dropEvent(
        QDropEvent(
            QPointF(1, 1), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
        )
    )
    assert window.banner.isVisible() and "bad.png" in window.banner.message
    assert [p.id for p in window.persona.library.presets()] == before
