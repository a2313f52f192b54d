"""A message's actions show on hover and for the focused message; each one does its job or says so."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.core.prompting.types import GenerationStats
from app.ui.chat.chat_model import ChatItem, MessageState
from app.ui.chat.chat_view import ChatView
from tests.chat_harness import ChatHarness


@pytest.fixture
def chat(qtbot):
    model = ChatHarness()  # the window's chat path: a session and its list model
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 600)
    view.setModel(model.model)
    view.show()
    qtbot.waitExposed(view)
    model.append(ChatItem(role="user", text="What is 2 + 2?", message_id=1))
    model.append(ChatItem(role="assistant", text="It is 4.", message_id=2, sibling_index=1, sibling_count=3))
    QApplication.processEvents()
    return model, view


def _hover(view: ChatView, row: int) -> None:
    where = view.message_geometry(row).bubble.center()
    QTest.mouseMove(view.viewport(), where)
    QApplication.processEvents()


def _shown(view: ChatView) -> list[str]:
    bar = view.actions_bar
    return [name for name, button in bar.buttons.items() if bar.isVisible() and button.isVisible()]


def test_hover_shows_the_actions_of_that_message(chat, qtbot) -> None:
    _model, view = chat
    view.clearFocus()  # (the focus shows the bar over the current message: see the keyboard test)
    QApplication.processEvents()
    assert not view.actions_bar.isVisible()
    _hover(view, 1)
    assert _shown(view) == ["copy", "regenerate"] and view.actions_bar.row == 1
    bar = view.actions_bar.geometry()
    header = view.message_geometry(1).header
    assert header.top() <= bar.center().y() <= header.bottom()  # in the message's header line, over no text
    assert not bar.intersects(view.message_geometry(1).bubble)
    _hover(view, 0)
    assert _shown(view) == ["copy", "edit"] and view.actions_bar.row == 0
    QApplication.sendEvent(view, QEvent(QEvent.Type.Leave))  # the pointer leaves the chat
    assert not view.actions_bar.isVisible()


def test_each_action_does_its_job(chat, qtbot) -> None:
    model, view = chat
    _hover(view, 1)
    buttons = view.actions_bar.buttons
    with qtbot.waitSignal(view.regenerate_requested) as regenerate:
        QTest.mouseClick(buttons["regenerate"], Qt.MouseButton.LeftButton)
    assert regenerate.args == [1]
    QGuiApplication.clipboard().clear()
    QTest.mouseClick(buttons["copy"], Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "It is 4."

    _hover(view, 0)  # edit: with nobody listening, the view opens its in-place editor
    QTest.mouseClick(buttons["edit"], Qt.MouseButton.LeftButton)
    assert view.editor() is not None and view.editor().toPlainText() == "What is 2 + 2?"
    assert not view.actions_bar.isVisible()  # out of the editor's way
    QTest.keyClick(view.editor(), Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: view.editor() is None, timeout=2000)
    asked: list[int] = []
    view.edit_requested.connect(asked.append)  # a listener (the window) takes over
    _hover(view, 0)
    QTest.mouseClick(buttons["edit"], Qt.MouseButton.LeftButton)
    assert asked == [0] and view.editor() is None

    # a reply that was stopped can be continued; the version arrows step through versions
    model.finish_last(MessageState.STOPPED, GenerationStats(generated_tokens=3, finish_reason="stop"))
    _hover(view, 1)
    assert _shown(view) == ["copy", "regenerate", "continue"]
    with qtbot.waitSignal(view.continue_requested) as cont:
        QTest.mouseClick(buttons["continue"], Qt.MouseButton.LeftButton)
    assert cont.args == [1]
    previous, _label, following = view.message_geometry(1).arrows
    with qtbot.waitSignal(view.version_requested) as version:
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=following.center())
    assert version.args == [1, 1]
    with qtbot.waitSignal(view.version_requested) as version:
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=previous.center())
    assert version.args == [1, -1]


def test_nothing_runs_while_a_reply_streams(chat, qtbot) -> None:
    model, view = chat
    model.append(ChatItem(role="user", text="And 3 + 3?"))
    model.append(ChatItem(role="assistant", state=MessageState.STREAMING, text="It"))
    _hover(view, 2)
    assert _shown(view) == ["copy", "edit"] and not view.actions_bar.buttons["edit"].isEnabled()
    _hover(view, 3)
    assert _shown(view) == ["copy"]  # no regenerate for a reply still being written
    _hover(view, 1)
    assert _shown(view) == ["copy"]  # nor for an older one
    assert not view.trigger("edit", 2) and view.editor() is None


def test_the_keyboard_reaches_every_action(chat, qtbot) -> None:
    model, view = chat
    view.activateWindow()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=2000)
    view.setCurrentIndex(model.index(1, 0))
    assert _shown(view) == ["copy", "regenerate"] and view.actions_bar.row == 1
    with qtbot.waitSignal(view.regenerate_requested) as regenerate:
        QTest.keyClick(view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert regenerate.args == [1]
    with qtbot.waitSignal(view.version_requested) as version:
        QTest.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert version.args == [1, -1]
    QTest.keyClick(view, Qt.Key.Key_Up)  # arrows move between messages; the bar follows
    assert view.currentIndex().row() == 0 and _shown(view) == ["copy", "edit"]
    QTest.keyClick(view, Qt.Key.Key_Tab)  # Tab goes to the message's actions
    focused = QApplication.focusWidget()
    assert focused is view.actions_bar.buttons["copy"] and view.actions_bar.isVisible()
    assert focused.accessibleName() == "Copy the message"
    QGuiApplication.clipboard().clear()
    QTest.keyClick(focused, Qt.Key.Key_Space)
    assert QGuiApplication.clipboard().text() == "What is 2 + 2?"
    QTest.keyClick(focused, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is view.actions_bar.buttons["edit"]
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
    assert view.editor() is not None


def test_the_right_click_menu_is_kept(chat, qtbot) -> None:
    _model, view = chat
    where = view.message_geometry(1).bubble.center()
    with qtbot.waitSignal(view.menu_requested) as menu:
        view.customContextMenuRequested.emit(where)
    assert menu.args[0] == 1 and menu.args[1] == view.viewport().mapToGlobal(where)
    view.setCurrentIndex(view.model().index(0, 0))
    with qtbot.waitSignal(view.menu_requested) as menu:  # the menu key: no position, the current message
        view.customContextMenuRequested.emit(QPoint(-50, -50))
    assert menu.args[0] == 0
