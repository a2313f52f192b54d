"""The main window as a user drives it (offscreen): pick, type, Enter, watch, stop."""

from pathlib import Path

from PySide6.QtCore import Qt

from app.ui.chat.chat_model import MessageState
from app.ui.chat.chat_view import stats_line


def load_first_model(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.model_picker.count() == 2)  # the placeholder and the starter model
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.model_picker.setCurrentIndex(1)
        window.model_picker.activated.emit(1)


def test_type_enter_reply_streams_in_and_stats_show(qtbot, library_with_model: Path, window) -> None:
    load_first_model(qtbot, window)
    assert window.send_button.isEnabled()
    qtbot.keyClicks(window.input, "Hello, who are you?")
    with qtbot.waitSignal(window.reply_finished, timeout=60_000) as done:
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
        assert window.send_button.text() == "Stop"
    reply = done.args[0]
    assert reply.role == "assistant" and reply.state == MessageState.DONE
    assert len(reply.text.split()) >= 5
    assert [item.role for item in window.chat_model.items] == ["user", "assistant"]
    assert window.chat_model.items[0].text == "Hello, who are you?"
    assert window.input.toPlainText() == ""
    assert window.send_button.text() == "Send"
    assert window.speed_label.text().endswith("tok/s") and window.speed_label.text() != "— tok/s"
    assert window.ttft_label.text().startswith("TTFT ") and "ms" in window.ttft_label.text()
    assert window.context_label.text().startswith("context ") and "/ 2,048" in window.context_label.text()
    assert window.chat_view.rowHeight(1) > 40


def test_shift_enter_is_a_new_line(qtbot, window) -> None:
    qtbot.keyClicks(window.input, "one")
    qtbot.keyClick(window.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.input, "two")
    assert window.input.toPlainText() == "one\ntwo"
    assert window.chat_model.rowCount() == 0


def test_stop_and_escape_keep_the_partial_reply(qtbot, library_with_model: Path, window) -> None:
    load_first_model(qtbot, window)
    window.persona.max_tokens.setValue(1500)
    window.persona.temperature.setValue(0.8)
    window.input.setPlainText("Tell me a very long story about a lighthouse keeper.")
    with qtbot.waitSignal(window.client.tokens, timeout=30_000):
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
    qtbot.wait(150)
    with qtbot.waitSignal(window.reply_finished, timeout=5_000) as done:
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert done.args[0].state == MessageState.STOPPED
    assert done.args[0].text.strip()
    assert window.send_button.text() == "Send"
    # and the Stop button does the same on the next reply
    window.input.setPlainText("Another one, please.")
    with qtbot.waitSignal(window.client.tokens, timeout=30_000):
        window.chat.send()
    with qtbot.waitSignal(window.reply_finished, timeout=5_000) as done:
        qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    assert done.args[0].state == MessageState.STOPPED


def test_a_failed_load_shows_a_banner_and_the_app_stays_usable(
    qtbot, library_with_model: Path, truncated_model: Path, window
) -> None:
    with qtbot.waitSignal(window.model_failed, timeout=10_000):
        window.model_bar.load_model(str(truncated_model))
    assert window.banner.isVisible()
    assert "truncated" in window.banner.message
    assert not window.send_button.isEnabled()
    load_first_model(qtbot, window)
    assert not window.banner.isVisible()


def test_new_chat_clears_and_sending_without_a_model_explains(qtbot, window) -> None:
    window.input.setPlainText("hi")
    window.chat.send()
    assert window.banner.isVisible() and "Pick a model" in window.banner.message
    assert window.chat_model.rowCount() == 0
    window.new_chat_action.trigger()
    assert window.pages.currentWidget() is window.welcome


def test_empty_library_says_how_to_get_a_model(qtbot, window) -> None:
    qtbot.waitUntil(lambda: "No models yet" in window.welcome.text())
    assert window.model_picker.count() == 1


def test_a_long_message_shows_reading_progress_and_esc_stops_it_there(qtbot, library_with_model: Path, window) -> None:
    load_first_model(qtbot, window)
    window.persona.max_tokens.setValue(8)
    shown: list[str] = []
    window.statusBar().messageChanged.connect(shown.append)
    window.input.setPlainText("Summarise this. " + "The Roman Empire lasted long. " * 100)
    with qtbot.waitSignal(window.client.prompt_progress, timeout=30_000):
        window.chat.send()
    qtbot.waitUntil(lambda: any(" % of " in message for message in shown), timeout=10_000)
    reading = next(message for message in shown if " % of " in message)
    assert reading.startswith("Reading the conversation… ") and reading.endswith("tokens (Esc to stop)")
    footer = stats_line(window.chat_model.last())  # the reply's own small print says it too
    assert footer.startswith("Reading the conversation… ") and footer.endswith(" tokens")
    with qtbot.waitSignal(window.reply_finished, timeout=5_000) as done:
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert done.args[0].state == MessageState.STOPPED and done.args[0].text == ""
    assert stats_line(done.args[0]) == "stopped before the reply began — right-click › Regenerate"
    assert window.send_button.text() == "Send" and not window.statusBar().currentMessage().startswith("Reading")
    with qtbot.waitSignal(window.reply_finished, timeout=60_000) as again:
        window.chat.regenerate()  # what the footer suggests
    assert again.args[0].text and (again.args[0].sibling_index, again.args[0].sibling_count) == (1, 2)
