"""Code blocks in the chat: Copy copies the exact code, long lines scroll sideways, closed blocks are coloured."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QTextFormat, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.ui.chat.chat_model import ChatItem, MessageState
from app.ui.chat.chat_view import ChatView
from app.ui.chat.code_blocks import CodeBlockView
from tests.chat_harness import ChatHarness

LONG_LINE = "result = compute(" + ", ".join(f"argument_{i}" for i in range(40)) + ")  # END"
CODE = 'def greet(name):\n\treturn "hello, " + name   \n\n' + LONG_LINE + "\nprint('ünïcode ✓')"
REPLY = f"## Example\n\n```python\n{CODE}\n```\n\nThat is all."


@pytest.fixture
def chat(qtbot):
    model = ChatHarness()  # the window's chat path: a session and its list model
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 600)
    view.setModel(model.model)
    view.show()
    qtbot.waitExposed(view)
    model.append(ChatItem(role="user", text="Show me some code."))
    model.append(ChatItem(role="assistant", text=REPLY, message_id=2))
    view.scrollToTop()
    QApplication.processEvents()
    return model, view


def _fragments(block: CodeBlockView) -> list[tuple[str, QTextFormat]]:
    found = []
    text_block = block.document.begin()
    while text_block.isValid():
        iterator = text_block.begin()
        while not iterator.atEnd():
            fragment = iterator.fragment()
            found.append((fragment.text(), fragment.charFormat()))
            iterator += 1
        text_block = text_block.next()
    return found


def _rendered(view: ChatView, row: int, number: int = 0) -> CodeBlockView:
    """A code block after the view has painted it (a block is coloured when first painted)."""
    view.scrollTo(view.model().index(row, 0))
    view.viewport().grab()
    return view.code_block_origin(row, number)[0]


def _colour_of(block: CodeBlockView, text: str) -> QColor | None:
    for fragment, text_format in _fragments(block):
        if text in fragment:
            return (
                text_format.foreground().color()
                if text_format.hasProperty(QTextFormat.Property.ForegroundBrush)
                else None
            )
    raise AssertionError(f"{text!r} not in the block")


def test_the_copy_button_copies_the_code_exactly(chat, qtbot) -> None:
    _model, view = chat
    block, origin = view.code_block_origin(1, 0)
    assert block.language == "python" and not block.copied
    QGuiApplication.clipboard().clear()
    with qtbot.waitSignal(view.copied) as copied:
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=origin + block.copy_rect().center())
    assert copied.args == [CODE]
    assert QGuiApplication.clipboard().text() == CODE  # tabs, trailing spaces, blank lines and all
    assert block.copied  # the header says "Copied" ...
    qtbot.waitUntil(lambda: not block.copied, timeout=5000)  # ... for a moment


def test_a_long_line_scrolls_into_view_and_nothing_is_clipped(chat, qtbot) -> None:
    _model, view = chat
    block, origin = view.code_block_origin(1, 0)
    assert block.content_width > block.inner_width  # the line is wider than the block ...
    line = block.document.findBlockByNumber(3)
    assert line.text() == LONG_LINE and line.layout().lineCount() == 1  # ... is not wrapped ...
    assert block.max_scroll + block.inner_width >= line.layout().lineAt(0).naturalTextWidth()
    code_area = block.code_rect()
    assert code_area.height() >= int(block.document.size().height())  # ... and every line has its height
    assert block.height >= code_area.bottom() + block.track_rect().height()  # the scroll bar sits under the code

    # the wheel (sideways, or Shift+wheel) scrolls it to the end of the line
    where = QPointF(origin + code_area.center())
    for _ in range(200):
        event = QWheelEvent(
            where, view.viewport().mapToGlobal(where), QPoint(), QPoint(0, -120),
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.ShiftModifier, Qt.ScrollPhase.NoScrollPhase, False,
        )  # fmt: skip
        QApplication.sendEvent(view.viewport(), event)
        if block.scroll_x == block.max_scroll:
            break
    assert block.scroll_x == block.max_scroll > 0
    assert view.verticalScrollBar().value() == 0  # the chat itself did not move

    # the end of the line is painted: ink in the last few pixels of the code's first long line
    image = view.viewport().grab().toImage()
    rect = code_area.translated(origin)
    line_top = rect.top() + int(line.layout().position().y())
    line_height = int(line.layout().boundingRect().height())
    blank = block.document.findBlockByNumber(2)  # the empty line: background only
    background = image.pixelColor(rect.right() - 2, rect.top() + int(blank.layout().position().y()) + 2)
    ink = [
        image.pixelColor(x, y)
        for x in range(rect.right() - 30, rect.right())
        for y in range(line_top, line_top + line_height)
        if image.pixelColor(x, y) != background
    ]
    assert ink, "the end of the long line is not drawn"

    # dragging the thumb back to the left scrolls back
    thumb = block.thumb_rect().translated(origin)
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=thumb.center())
    QTest.mouseMove(view.viewport(), thumb.center() - QPoint(2000, 0))
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=thumb.center() - QPoint(2000, 0))
    assert block.scroll_x == 0

    # and the keyboard: Shift+Right on the focused message scrolls its code
    view.setCurrentIndex(view.model().index(1, 0))
    view.activateWindow()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=2000)
    QTest.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert block.scroll_x == block.inner_width // 2
    QTest.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert block.scroll_x == 0


def test_a_closed_block_is_coloured_and_an_open_one_is_plain(chat, qtbot) -> None:
    model, view = chat
    block = _rendered(view, 1)
    keyword, string = _colour_of(block, "def"), _colour_of(block, '"hello, "')
    assert keyword is not None and string is not None and keyword != string

    # streaming: the open block is plain; once its fence closes it is coloured (before the reply ends)
    model.append(ChatItem(role="assistant", state=MessageState.STREAMING))
    for piece in ["Sure:\n\n```python\n", "def ", "run():\n", '    return "x"\n']:
        model.append_to_last(piece)
    open_block = _rendered(view, 2)
    assert not open_block.closed
    assert all(not fmt.hasProperty(QTextFormat.Property.ForegroundBrush) for _t, fmt in _fragments(open_block))
    model.append_to_last("```\n")
    model.append_to_last("More text")
    closed_block = _rendered(view, 2)
    assert closed_block.closed and closed_block.code == 'def run():\n    return "x"'
    assert _colour_of(closed_block, "def") != _colour_of(closed_block, '"x"')
    assert model.last().state == MessageState.STREAMING


def test_theme_switch_recolours_with_the_dark_style(chat, qtbot) -> None:
    from app.ui.theme import dark_palette

    _model, view = chat
    light = _rendered(view, 1)
    view.setPalette(dark_palette())
    view.relayout_all()
    dark = _rendered(view, 1)
    assert dark is not light
    assert _colour_of(dark, "def") != _colour_of(light, "def")


def test_a_long_chat_colours_only_the_blocks_it_shows(chat, qtbot) -> None:
    model, view = chat
    model.extend([ChatItem(role="assistant", text=REPLY, message_id=10 + i) for i in range(30)])
    view.scroll_to_end()
    view.viewport().grab()
    coloured = [view.code_block_origin(row, 0)[0].coloured for row in range(1, model.rowCount())]
    assert coloured[-1] and not coloured[0]  # the newest is on screen and coloured; the oldest was never lexed
