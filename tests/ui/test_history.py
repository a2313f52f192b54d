"""Chats in the GUI, on the real store and the real engine: send, regenerate, versions, edit, search, delete/undo."""

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.core.history.store import ChatStore
from app.core.paths import resolve_paths
from app.core.settings import Settings
from app.ui.chat.chat_list import ChatListRoles
from app.ui.chat.chat_model import MessageState
from app.ui.chat.chat_view import stats_line


@pytest.fixture
def ready(qtbot, library_with_model: Path, window):
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.model_bar.load_model(str(library_with_model))
    window.persona.max_tokens.setValue(24)
    window.persona.temperature.setValue(0.9)
    return window


def say(qtbot, window, text: str):
    window.input.setPlainText(text)
    with qtbot.waitSignal(window.reply_finished, timeout=60_000) as done:
        window.chat.send()
    return done.args[0]


def test_send_regenerate_switch_versions_and_reopen(qtbot, ready) -> None:
    window = ready
    first = say(qtbot, window, "Name a fruit.")
    assert first.message_id is not None and window.session.chat_id is not None
    chat_id = window.session.chat_id
    assert window.sidebar.model.rowCount() == 1
    assert window.sidebar.model.index(0).data(ChatListRoles.TITLE) == "Name a fruit."
    assert (
        window.sidebar.model.index(0).data().endswith("SmolLM2-135M-Instruct.Q4_1 · Hermes 2 · just now")
    )  # the preset's name, not its id

    window.persona.temperature.setValue(1.5)
    with qtbot.waitSignal(window.reply_finished, timeout=60_000) as done:
        window.chat.regenerate()
    second = done.args[0]
    assert second.message_id != first.message_id
    assert (second.sibling_index, second.sibling_count) == (1, 2)
    assert [i.role for i in window.chat_model.items] == ["user", "assistant"]

    window.chat_view.version_requested.emit(1, -1)  # the ‹ arrow
    shown = window.chat_model.items[1]
    assert (shown.message_id, shown.text, shown.sibling_index) == (first.message_id, first.text, 0)
    window.history.switch_version(1, 1)
    assert window.chat_model.items[1].message_id == second.message_id

    # the prompt sent to the engine follows the active path only: one reply, the shown version
    conversation = window.conversation.session.conversation
    messages = conversation(window.persona.system_prompt.toPlainText())
    assert [m["role"] for m in messages if m["role"] != "system"] == ["user", "assistant"]
    assert messages[-1]["content"] == second.text
    window.history.switch_version(1, -1)
    assert conversation("")[-1]["content"] == first.text
    window.history.switch_version(1, 1)

    question = window.chat_model.items[0].message_id
    window.new_chat()
    assert window.session.chat_id is None and window.chat_model.rowCount() == 0
    window.history.open_chat(chat_id)
    assert [i.message_id for i in window.chat_model.items] == [question, second.message_id]


def test_edit_in_place_and_resend_makes_a_branch(qtbot, ready) -> None:
    window = ready
    say(qtbot, window, "Name a colour.")
    old_user, old_reply = window.chat_model.items
    assert not window.chat_model.flags(window.chat_model.index(1)) & Qt.ItemFlag.ItemIsEditable  # replies: no

    window.chat.edit_message(0)
    editor = window.chat_view.editor()
    assert editor is not None and editor.isVisible() and editor.toPlainText() == "Name a colour."
    assert window.input.toPlainText() == ""  # the input box is left alone
    row_rect = window.chat_view.visualRect(window.chat_model.index(0))
    assert row_rect.contains(editor.geometry())  # the editor sits on its own message, which grew to hold it

    # Clicking elsewhere neither sends nor discards the edit.
    window.input.setFocus()
    qtbot.wait(50)
    assert window.chat_view.editor() is editor and not window.chat.generating

    editor.selectAll()
    qtbot.keyClicks(editor, "Name an animal.")
    with qtbot.waitSignal(window.reply_finished, timeout=60_000):
        qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.chat_view.editor() is None, timeout=2000)
    items = window.chat_model.items
    assert items[0].text == "Name an animal." and (items[0].sibling_index, items[0].sibling_count) == (1, 2)
    assert items[1].message_id != old_reply.message_id
    window.history.switch_version(0, -1)
    assert window.chat_model.items[0].message_id == old_user.message_id
    assert window.chat_model.items[1].message_id == old_reply.message_id  # the old branch, whole
    assert window.store.message_count(window.session.chat_id) == 5  # system + 2 users + 2 replies


def test_escape_cancels_an_edit_and_nothing_is_edited_while_a_reply_streams(qtbot, ready) -> None:
    window = ready
    say(qtbot, window, "Name a city.")
    rows_before = window.chat_model.rowCount()
    window.chat.edit_message(0)
    editor = window.chat_view.editor()
    qtbot.keyClicks(editor, " And a river.")
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.chat_view.editor() is None, timeout=2000)
    assert window.chat_model.items[0].text == "Name a city." and window.chat_model.rowCount() == rows_before
    assert window.store.message_count(window.session.chat_id) == 3

    window.persona.max_tokens.setValue(400)
    window.input.setPlainText("Tell me a long story.")
    with qtbot.waitSignal(window.client.tokens, timeout=30_000):
        window.chat.send()
    assert not window.chat_view.start_editing(0)  # not while the reply streams
    assert window.chat_view.editor() is None
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.chat.stop()
    assert window.chat_view.start_editing(0)  # and again once it is done


def test_stop_then_continue_appends_to_the_same_reply(qtbot, ready) -> None:
    window = ready
    window.persona.max_tokens.setValue(1500)
    window.input.setPlainText("Tell me a long story about a fox.")
    with qtbot.waitSignal(window.client.tokens, timeout=30_000):
        window.chat.send()
    qtbot.wait(200)
    with qtbot.waitSignal(window.reply_finished, timeout=5_000) as stopped:
        window.chat.stop()
    partial = stopped.args[0]
    partial_text = partial.text  # the item object keeps growing below
    assert partial.state == MessageState.STOPPED and partial.can_continue
    window.persona.max_tokens.setValue(12)
    with qtbot.waitSignal(window.reply_finished, timeout=60_000) as continued:
        window.chat.continue_reply()
    reply = continued.args[0]
    assert reply.message_id == partial.message_id
    assert reply.text.startswith(partial_text) and len(reply.text) > len(partial_text)
    assert window.store.message(reply.message_id).content == reply.text


def test_search_delete_and_undo(qtbot, ready) -> None:
    window = ready
    say(qtbot, window, "Tell me about volcanoes.")
    window.new_chat()
    say(qtbot, window, "Tell me about oceans.")
    assert window.sidebar.model.rowCount() == 2
    window.sidebar.search.setText("volcano")
    qtbot.waitUntil(lambda: window.sidebar.model.rowCount() == 1, timeout=2000)
    assert window.sidebar.model.index(0).data(ChatListRoles.TITLE) == "Tell me about volcanoes."
    window.sidebar.search.clear()
    qtbot.waitUntil(lambda: window.sidebar.model.rowCount() == 2, timeout=2000)

    current = window.session.chat_id
    window.history.delete_chat(current)
    assert window.sidebar.model.rowCount() == 1 and window.session.chat_id is None
    assert window.history.undo_button.isVisible()
    window.history.undo_button.click()
    assert window.sidebar.model.rowCount() == 2 and window.session.chat_id == current
    window.history.delete_chat(current)
    window.history.undo_timer.timeout.emit()  # the undo window passes
    assert not window.history.undo_button.isVisible()
    assert [c.id for c in window.store.list_chats()] != [current]
    assert window.store._db.execute("SELECT COUNT(*) FROM chats WHERE id = ?", (current,)).fetchone()[0] == 0


def test_message_menu_offers_copy_code_and_the_right_actions(qtbot, window) -> None:
    window.conversation.new()
    from app.ui.chat.chat_model import ChatItem

    window.conversation.session.items = [
        ChatItem(role="user", text="code please"),
        ChatItem(role="assistant", text="Here:\n\n```python\nprint('hi')\n```\n", message_id=None),
    ]
    window.chat_model.items_reset()
    labels = [a.text() for a in window.history.message_menu(1).actions() if a.text()]
    assert "Copy code block 1 (python)" in labels and "Regenerate" in labels
    copy = next(a for a in window.history.message_menu(1).actions() if a.text().startswith("Copy code block"))
    copy.trigger()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == "print('hi')"
    assert "Edit" in [a.text() for a in window.history.message_menu(0).actions()]


def test_export_and_import_from_the_gui(qtbot, ready, tmp_path: Path) -> None:
    window = ready
    say(qtbot, window, "Hello there")
    chat_id = window.session.chat_id
    window.history.write_export(chat_id, tmp_path / "chat.json", "json")
    window.history.write_export(chat_id, tmp_path / "chat.md", "md")
    assert (tmp_path / "chat.md").read_text().startswith("# Hello there")
    imported = window.history.import_chat(tmp_path / "chat.json")
    assert imported is not None and imported != chat_id
    assert window.chat_model.items[0].text == "Hello there"
    assert window.sidebar.model.rowCount() == 2


@pytest.mark.expect_log(r"is damaged")
def test_a_damaged_history_shows_a_banner_and_keeps_the_file(qtbot, basedir: Path) -> None:
    from app.ui.main_window import MainWindow

    paths = resolve_paths(basedir).ensure()
    paths.chats_db.write_bytes(b"garbage" * 1000)
    window = MainWindow(paths, Settings(context_size=1024))
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.banner.isVisible() and "damaged" in window.banner.message
        assert ChatStore(paths.chats_db).list_chats() == []
        assert list(paths.data.glob("chats.sqlite3.damaged-*"))
    finally:
        window.close()


def test_the_chats_overflow_policy_is_chosen_saved_and_applied(qtbot, ready) -> None:
    window = ready
    window.persona.overflow.setCurrentIndex(window.persona.overflow.findData("drop-oldest"))
    say(qtbot, window, "Hello")
    chat_id = window.session.chat_id
    assert window.store.chat(chat_id).overflow == "drop-oldest"
    window.new_chat()
    window.persona.overflow.setCurrentIndex(0)
    window.history.open_chat(chat_id)
    assert window.persona.overflow.currentData() == "drop-oldest"


@pytest.mark.expect_log(r"could not purge deleted chats")
def test_a_failing_history_database_is_reported_and_loses_nothing_on_screen(qtbot, ready) -> None:
    window = ready
    say(qtbot, window, "First message")
    window.store._db.close()  # from here on every write fails, as on a full disk
    window.input.setPlainText("Second message")
    window.chat.send()
    assert window.banner.isVisible() and "could not be saved" in window.banner.message
    assert window.input.toPlainText() == "Second message"  # nothing typed is lost
    assert next(i.text for i in window.chat_model.items) == "First message"


def test_messages_left_out_to_fit_the_context_are_dimmed_and_counted(qtbot, library_with_model: Path, window) -> None:
    window.settings_store.update(context_size=512)
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.model_bar.load_model(str(library_with_model))
    window.persona.overflow.setCurrentIndex(window.persona.overflow.findData("drop-oldest"))
    window.persona.max_tokens.setValue(8)
    for topic in ("rivers", "mountains", "deserts"):
        say(qtbot, window, f"Tell me about {topic}. " + "Please be thorough and detailed. " * 22)
    left_out = [row for row, item in enumerate(window.chat_model.items) if item.left_out]
    assert left_out and left_out[0] == 0  # the oldest go first ...
    assert left_out == list(range(len(left_out)))  # ... as a run, whole exchanges
    assert window.chat_model.items[len(left_out)].role == "user"
    assert "left out to fit the context (dimmed in the chat)" in window.statusBar().currentMessage()
    assert stats_line(window.chat_model.items[0]).startswith("left out of the last prompt")
    window.persona.max_tokens.setValue(1)
    say(qtbot, window, "Thanks.")  # each reply says afresh what it left out: again the oldest, as a run
    again = [row for row, item in enumerate(window.chat_model.items) if item.left_out]
    assert again == list(range(len(again))) and len(again) >= len(left_out)


def test_the_window_starts_after_a_long_chat_was_deleted(qtbot, basedir: Path) -> None:
    """A 2,000-message chat deleted (its undo window not yet passed) when the app closed: the next start removes it."""
    from app.ui.main_window import MainWindow

    paths = resolve_paths(basedir).ensure()
    store = ChatStore(paths.chats_db)
    chat = store.create_chat(title="A long story")
    kept = store.create_chat(title="Kept")
    store.add_message(kept, None, "user", "still here")
    parent = None
    for index in range(2000):
        parent = store.add_message(chat, parent, "user" if index % 2 == 0 else "assistant", f"line {index}").id
    store.delete_chat(chat)
    store.close()

    window = MainWindow(paths, Settings(context_size=2048))
    qtbot.addWidget(window)
    window.show()
    assert [c.title for c in window.store.list_chats()] == ["Kept"]
    assert window.store.rows("SELECT COUNT(*) FROM messages")[0][0] == 1
    assert "could not be removed" not in window.statusBar().currentMessage()
    window.close()


@pytest.mark.expect_log("readonly|read-only|read only")
def test_rename_and_delete_go_through_the_history_and_a_failed_write_is_said(
    qtbot, window, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QInputDialog

    chat = window.store.create_chat(title="Old title")
    window.sidebar.refresh()
    renamed = []
    window.sidebar.rename_requested.connect(lambda *args: renamed.append(args))
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: ("Harbours", True))
    window.sidebar.rename(chat)  # the chat list's Rename… (and Chat › Rename chat…)
    assert renamed == [(chat, "Harbours")] and window.store.chat(chat).title == "Harbours"
    assert window.sidebar.model.index(0).data(ChatListRoles.TITLE) == "Harbours"

    window.store._db.execute("PRAGMA query_only = ON")  # the history refuses every write, as a read-only file does
    try:
        monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: ("Lakes", True))
        window.sidebar.rename(chat)
        assert "Could not rename the chat" in window.banner.message and window.banner.isVisible()
        assert window.store.chat(chat).title == "Harbours"  # nothing half done
        window.history.delete_chat(chat)
        assert "Could not delete the chat" in window.banner.message
        assert window.sidebar.model.rowCount() == 1 and not window.history.undo_button.isVisible()
    finally:
        window.store._db.execute("PRAGMA query_only = OFF")
    window.history.delete_chat(chat)
    assert window.sidebar.model.rowCount() == 0
