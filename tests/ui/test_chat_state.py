"""Issue 25, defect 6: the chat's state, said once and kept true, on the real engine and model.

After Esc the hover bar offers Regenerate at once; Alt+← / Alt+→ go on switching versions (the message stays the
current one) and the context meter follows the version shown; a Stop before the first token says so; before the
first token the bubble and the status bar say the same word."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.ui.chat.message_delegate import stats_line
from tests.ui.test_main_window import load_first_model
from tests.ui.test_message_actions import _hover, _shown


def test_esc_brings_back_regenerate_and_versions_switch_on(qtbot, library_with_model: Path, window) -> None:
    load_first_model(qtbot, window)
    window.persona.max_tokens.setValue(400)
    window.input.setPlainText("Tell me a long story about a fox.")
    with qtbot.waitSignal(window.client.tokens, timeout=120_000):
        window.chat.send()
    view = window.chat_view
    _hover(view, 1)  # the mouse rests on the reply being written
    assert _shown(view) == ["copy"]
    with qtbot.waitSignal(window.reply_finished, timeout=30_000):
        QTest.keyClick(window.input, Qt.Key.Key_Escape)
    # the mouse has not moved: the bar says what can run now
    assert _shown(view) == ["copy", "regenerate", "continue"]
    assert view.actions_bar.buttons["regenerate"].isEnabled()

    window.persona.max_tokens.setValue(6)
    with qtbot.waitSignal(window.reply_finished, timeout=120_000) as second:
        QTest.keyClick(window.input, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # from the message box
    assert (second.args[0].sibling_index, second.args[0].sibling_count) == (1, 2)
    second_context = window.context_label.text()

    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=5000)
    view.setCurrentIndex(window.chat_model.index(1, 0))
    QTest.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert window.chat_model.item(1).sibling_index == 0
    first_context = window.context_label.text()
    assert first_context != second_context  # the meter follows the version shown (the first reply was longer)
    QTest.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)  # again: the message stayed current
    assert window.chat_model.item(1).sibling_index == 1
    assert window.context_label.text() == second_context


def test_a_stop_before_the_first_token_says_so(qtbot, library_with_model: Path, window) -> None:
    load_first_model(qtbot, window)
    window.input.setPlainText("Summarise this. " + "The Roman Empire lasted long. " * 60)
    window.chat.send()
    reply = window.chat_model.last()
    assert window.statusBar().currentMessage().startswith("Reading the conversation…")
    assert stats_line(reply).startswith("Reading the conversation…")  # the bubble says the same
    with qtbot.waitSignal(window.reply_finished, timeout=30_000) as done:
        QTest.keyClick(window.input, Qt.Key.Key_Escape)
    assert done.args[0].text == ""
    assert window.speed_label.text() == "stopped before the first token"
    assert window.ttft_label.text() == "TTFT —"


def test_the_interrupted_notice_stays_until_dismissed(qtbot, basedir: Path) -> None:
    from app.core.history.store import ChatStore
    from app.core.paths import resolve_paths
    from app.core.prompting.types import MessageState
    from app.core.settings import Settings
    from app.ui.main_window import MainWindow

    paths = resolve_paths(basedir).ensure()
    store = ChatStore(paths.chats_db)  # a reply was being written when the process died
    chat = store.create_chat()
    store.add_message(chat, None, "user", "Hi")
    store.add_message(chat, None, "assistant", "Hel", state=MessageState.STREAMING)
    store.close()
    window = MainWindow(paths, Settings(context_size=2048))
    qtbot.addWidget(window)
    window.show()
    notice = window.interrupted_notice
    assert notice.isVisible() and "interrupted" in notice.text()
    window.statusBar().showMessage("Model loaded", 8000)  # another message does not hide it
    assert notice.isVisible()
    notice.click()
    assert not notice.isVisible()
    window.close()
