"""Every sampling setting per chat in the side panel, with the preset's values as defaults (issue 25, 9).

The values reach the real engine: a fixed seed makes a sampled reply the same again, another seed changes it,
and a JSON schema makes the reply valid JSON for that schema. The chat keeps its settings; Reset to preset
brings the preset's back.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt

from app.ui.chat.chat_model import MessageState
from tests.ui.test_main_window import load_first_model

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}


def send(qtbot, window, text: str):
    qtbot.keyClicks(window.input, text)
    with qtbot.waitSignal(window.reply_finished, timeout=120_000) as done:
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
    return done.args[0]


def regenerate(qtbot, window):
    with qtbot.waitSignal(window.reply_finished, timeout=120_000) as done:
        window.chat.regenerate()
    return done.args[0]


def test_the_panel_shows_the_preset_and_resets_to_it(qtbot, window) -> None:
    panel = window.persona.sampling_panel
    preset = window.persona.preset.sampling
    assert (panel.top_p.value(), panel.top_k.value(), panel.min_p.value()) == (
        preset.top_p, preset.top_k, preset.min_p)  # fmt: skip
    assert panel.seed.text() == "Random"
    assert panel.reset_button.isEnabled()  # the fixture set the temperature and max tokens
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert window.persona.sampling() == preset and not panel.reset_button.isEnabled()
    qtbot.mouseClick(panel.more, Qt.MouseButton.LeftButton)
    assert panel.advanced.isVisible()
    panel.top_k.setValue(3)
    panel.seed.setValue(42)
    panel.stop.setPlainText("END\\n")
    assert panel.reset_button.isEnabled()
    assert window.persona.sampling() == preset.with_overrides(top_k=3, seed=42, stop=("END\n",))
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert window.persona.sampling() == preset and panel.seed.text() == "Random"
    assert not panel.reset_button.isEnabled()


def test_a_seed_reaches_the_engine_and_makes_a_sampled_reply_reproducible(
    qtbot, library_with_model: Path, window
) -> None:
    load_first_model(qtbot, window)
    panel = window.persona.sampling_panel
    panel.temperature.setValue(1.5)
    panel.top_k.setValue(0)  # the whole vocabulary: only the seed decides
    panel.max_tokens.setValue(24)
    panel.seed.setValue(1234)
    first = send(qtbot, window, "Write a sentence about the sea.")
    assert first.state == MessageState.DONE and first.text
    again = regenerate(qtbot, window)
    assert again.text == first.text  # the same seed, the same sampled reply
    panel.seed.setValue(99)
    other = regenerate(qtbot, window)
    assert other.text != first.text
    # the chat keeps its settings: a new chat and back again shows them
    chat_id = window.session.chat_id
    window.new_chat()
    panel.seed.setValue(7)
    window.history.open_chat(chat_id)
    assert panel.seed.value() == 99 and panel.temperature.value() == 1.5 and panel.top_k.value() == 0


def test_a_json_schema_makes_the_reply_valid_json_for_it(qtbot, library_with_model: Path, window) -> None:
    load_first_model(qtbot, window)
    panel = window.persona.sampling_panel
    panel.max_tokens.setValue(96)
    panel.structured.setChecked(True)
    panel.schema.setPlainText('{"type": "object", "properties": ')  # not valid yet: said, and nothing is sent
    assert "not valid JSON" in panel.problem.text()
    qtbot.keyClicks(window.input, "Name a big city.")
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    assert "not valid JSON" in window.banner.message
    assert window.input.toPlainText() == "Name a big city." and window.chat_model.rowCount() == 0
    window.input.clear()
    panel.schema.setPlainText(json.dumps(SCHEMA))
    assert panel.problem.isHidden()
    reply = send(qtbot, window, "Name a big city and its population.")
    value = json.loads(reply.text)
    assert set(value) == {"city", "population"}
    assert isinstance(value["city"], str) and len(value["city"]) <= 30 and isinstance(value["population"], int)


def test_a_schema_over_the_bounds_is_refused_before_anything_is_sent(qtbot, window) -> None:
    panel = window.persona.sampling_panel
    panel.structured.setChecked(True)
    panel.schema.setPlainText(json.dumps({"type": "string", "maxLength": 1_000_000}))
    assert "maxLength" in panel.problem.text()
