"""Going back to a long chat in the window (issue 20): the real engine restores the chat's saved state, reads only
what is new, and the reply's footer says how much came from the cache ("N cached · M new prompt tokens")."""

from __future__ import annotations

from pathlib import Path

from app.ui.chat.message_delegate import stats_line
from tests.ui.test_main_window import load_first_model

FACTS = " ".join(f"Fact {i}: the harbour number {i} has {i * 7 % 13} boats." for i in range(30))  # ~450 tokens


def say(qtbot, window, text: str):
    window.input.setPlainText(text)
    with qtbot.waitSignal(window.reply_finished, timeout=120_000) as done:
        window.chat.send()
    return done.args[0]


def test_back_to_a_long_chat_reads_only_what_is_new(qtbot, library_with_model: Path, window) -> None:
    load_first_model(qtbot, window)
    window.persona.max_tokens.setValue(8)
    first = say(qtbot, window, f"Remember these facts. {FACTS} Which harbour has the most boats?")
    assert first.stats.restored_tokens == 0 and first.stats.prompt_tokens > 300
    long_chat = window.session.chat_id
    assert "cached" not in stats_line(first)

    window.new_chat()
    say(qtbot, window, "Hello.")  # another chat: the engine's context now holds that one
    window.history.open_chat(long_chat)
    again = say(qtbot, window, "And the fewest?")
    restored, prompt = again.stats.restored_tokens, again.stats.prompt_tokens
    assert restored > first.stats.prompt_tokens  # the first turn and its reply came from the saved state
    assert f"{restored:,} cached · {prompt - restored:,} new prompt tokens" in stats_line(again)
