"""Group chats in the window (offscreen): the members dialog, the speaker bar, replies with their speakers'
names and avatars, Auto turns and a clicked speaker on the real engine, and a reopened group chat."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from app.core.chat.group import Member, members_from_json
from app.ui.chat.chat_model import MessageState
from app.ui.chat.group_chat import GroupDialog

HERMES, EDWARD = Member("hermes-2", "Hermes 2"), Member("edward-elric", "Edward Elric")


def test_members_dialog_needs_two_and_the_bar_shows_the_group(qtbot, window) -> None:
    dialog = GroupDialog(window.persona.library)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.check(["hermes-2"])
    assert not ok.isEnabled()
    dialog.check(["edward-elric"])
    assert ok.isEnabled() and sorted(m.name for m in dialog.members()) == ["Edward Elric", "Hermes 2"]

    assert window.group.bar.isHidden()
    assert window.group.start([HERMES, EDWARD])
    bar = window.group.bar
    assert bar.isVisible() and [b.text() for b in bar.buttons.values()] == ["Hermes 2", "Edward Elric"]
    assert bar.auto.isChecked()
    assert window.persona.system_prompt.isReadOnly()  # each speaker's own card's prompt is used, not this one
    greeting = window.chat_model.items[0]  # Edward's greeting (Hermes 2 has none)
    assert (greeting.speaker, greeting.preset_id) == ("Edward Elric", "edward-elric")
    assert window.chat_view.message_delegate.avatar_for(greeting) is not None
    assert window.group.new_action in window.persona.menu_button.menu().actions()

    window.side_tabs.setCurrentIndex(1)  # the Prompt preview: the next speaker's own prompt, the others named
    window.input.setPlainText("Hermes, hello.")
    qtbot.waitUntil(lambda: "Write the next reply only as Hermes 2" in window.preview.toPlainText())
    assert "Edward Elric: Hey! Name's Edward Elric" in window.preview.toPlainText()
    assert "User: Hermes, hello." in window.preview.toPlainText()
    window.input.clear()
    window.side_tabs.setCurrentIndex(0)

    window.new_chat()  # a one-persona chat again: no bar, no avatars
    assert bar.isHidden() and not window.group.active
    assert not window.persona.system_prompt.isReadOnly()
    assert not window.group.start([HERMES])  # one persona is no group: said in the banner
    assert "two or more" in window.banner.label.text()


def test_auto_turns_a_clicked_speaker_and_reopening(qtbot, library_with_model: Path, window) -> None:
    window.persona.max_tokens.setValue(12)
    qtbot.waitUntil(lambda: window.model_picker.count() == 2)
    with qtbot.waitSignal(window.model_ready, timeout=60_000):
        window.model_picker.setCurrentIndex(1)
        window.model_picker.activated.emit(1)
    assert window.group.start([HERMES, EDWARD])

    def replies() -> list:
        return [i for i in window.chat_model.items if i.role == "assistant" and i.state is not MessageState.STREAMING]

    qtbot.keyClicks(window.input, "Edward, say hi to Hermes.")
    qtbot.keyClick(window.input, Qt.Key.Key_Return)  # Auto: Edward (named) answers, then Hermes 2 in turn
    qtbot.waitUntil(lambda: len(replies()) == 3 and not window.chat.generating, timeout=240_000)
    assert [i.speaker for i in replies()] == ["Edward Elric", "Edward Elric", "Hermes 2"]
    assert all(i.state is MessageState.DONE for i in replies())
    assert "Edward Elric" in window.chat_model.items[2].model_name  # the bubble's header names its speaker

    with qtbot.waitSignal(window.reply_finished, timeout=120_000):
        window.group.bar.buttons["hermes-2"].click()  # nothing typed: Hermes 2 speaks again at once
    qtbot.waitUntil(lambda: not window.chat.generating)
    assert [i.speaker for i in replies()][-1] == "Hermes 2" and len(replies()) == 4

    chat_id = window.session.chat_id
    assert members_from_json(window.store.chat(chat_id).members) == [HERMES, EDWARD]
    window.new_chat()
    assert not window.group.active
    window.history.open_chat(chat_id)
    assert window.group.active and window.group.bar.isVisible()
    assert [i.speaker for i in replies()] == ["Edward Elric", "Edward Elric", "Hermes 2", "Hermes 2"]
