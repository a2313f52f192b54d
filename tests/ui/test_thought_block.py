"""A reply that thought shows a collapsed "Thought for …" line above its answer; a click or Enter opens it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.core.prompting.parts import Thought
from app.core.prompting.types import GenerationStats
from app.ui.chat.chat_model import ChatItem, MessageState
from app.ui.chat.chat_view import ChatView
from app.ui.chat.thought_block import thought_label
from tests.chat_harness import ChatHarness

REASONING = "The user asks about the sky.\n\nRayleigh scattering favours short wavelengths. " * 6


@pytest.fixture
def chat(qtbot):
    model = ChatHarness()
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 600)
    view.setModel(model.model)
    view.show()
    qtbot.waitExposed(view)
    model.append(ChatItem(role="user", text="Why is the sky blue?", message_id=1))
    stats = GenerationStats(generated_tokens=400, reasoning_tokens=340, reasoning_s=12.2, finish_reason="stop")
    model.append(ChatItem(role="assistant", text="Blue light scatters most.", reasoning=REASONING, stats=stats))
    QApplication.processEvents()
    return model, view


def _click(view: ChatView, row: int) -> None:
    rect = view.message_geometry(row).thought
    assert rect is not None
    hit = view.hit(rect.center())
    assert hit is not None and (hit.row, hit.kind) == (row, "thought")
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_a_click_on_the_line_expands_and_collapses_the_reasoning(chat) -> None:
    _model, view = chat
    assert view.message_geometry(0).thought is None  # your message has no thought
    assert thought_label(view.item(1), expanded=False) == "▸ Thought for 12 s (340 tokens)"
    collapsed = view.rowHeight(1)
    answer_y = view.message_geometry(1).body_y
    _click(view, 1)
    expanded = view.rowHeight(1)
    assert expanded > collapsed + 50  # the reasoning is laid out, and the row measured again
    assert view.message_geometry(1).body_y > answer_y + 50  # the answer moved down below it
    layout = view.message_delegate.layout(view.item(1), view.viewport().width(), view.palette(), view.font())
    assert layout.thought is not None and layout.thought.label.startswith("▾ Thought")
    _click(view, 1)
    assert view.rowHeight(1) == collapsed and view.message_geometry(1).body_y == answer_y


def test_enter_toggles_the_current_reply_and_copy_takes_the_answer_only(chat) -> None:
    _model, view = chat
    view.setFocus()
    view.setCurrentIndex(view.model().index(1, 0))
    collapsed = view.rowHeight(1)
    QTest.keyClick(view, Qt.Key.Key_Return)
    assert view.rowHeight(1) > collapsed
    QTest.keyClick(view, Qt.Key.Key_Space)
    assert view.rowHeight(1) == collapsed
    QGuiApplication.clipboard().clear()
    assert view.trigger("copy", 1)
    assert QGuiApplication.clipboard().text() == "Blue light scatters most."
    view.copy_selected()
    assert QGuiApplication.clipboard().text() == "Blue light scatters most."


def test_the_block_grows_live_while_the_model_thinks(chat) -> None:
    model, view = chat
    model.append(ChatItem(role="user", text="And at sunset?"))
    model.append(ChatItem(role="assistant", state=MessageState.STREAMING))
    model.append_to_last(Thought("Sunset light crosses more air."))
    QApplication.processEvents()
    layout = view.message_delegate.layout(view.item(3), view.viewport().width(), view.palette(), view.font())
    assert layout.thought is not None and layout.thought.label == "▸ Thinking…"
    _click(view, 3)
    before = view.rowHeight(3)
    for _ in range(8):
        model.append_to_last(Thought("\n\nBlue is scattered away on the long path, and red is left over."))
    QApplication.processEvents()
    assert view.rowHeight(3) > before  # expanded, the reasoning grows as it streams
    model.append_to_last("Red.")
    model.finish_last(MessageState.DONE, GenerationStats(generated_tokens=40, reasoning_tokens=30, reasoning_s=2.0))
    layout = view.message_delegate.layout(view.item(3), view.viewport().width(), view.palette(), view.font())
    assert layout.thought is not None and layout.thought.label == "▾ Thought for 2 s (30 tokens)"
    assert view.item(3).text == "Red." and "Sunset" in view.item(3).reasoning
    assert view.rowHeight(3) == layout.height  # measured again after the last change
