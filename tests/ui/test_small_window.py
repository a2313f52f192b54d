"""A 900×600 window (issue 25, item 7): the side column's labels are not clipped, and opening its longest section
scrolls the column instead of growing the window past the screen."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractButton, QLabel, QScrollArea, QWidget


def _clipped(page: QWidget, window: QWidget) -> list[str]:
    found = []
    for widget in [*page.findChildren(QLabel), *page.findChildren(QAbstractButton)]:
        if not widget.isVisibleTo(window) or (isinstance(widget, QLabel) and widget.wordWrap()):
            continue
        needed = widget.minimumSizeHint().width() if isinstance(widget, QLabel) else widget.sizeHint().width()
        if widget.width() < needed:
            found.append(f"{type(widget).__name__} {widget.text()!r}: {widget.width()} px of {needed}")
    return found


def test_the_side_column_fits_a_900_by_600_window(window, qtbot) -> None:
    window.resize(900, 600)
    window.persona.sampling_panel.more.setChecked(True)  # the longest the column gets
    qtbot.waitUntil(window.persona.sampling_panel.advanced.isVisible)
    qtbot.wait(50)
    assert window.height() <= 600, "the side column grew the window instead of scrolling"
    area = window.side_tabs.widget(0)
    assert isinstance(area, QScrollArea) and area.verticalScrollBar().maximum() > 0  # it scrolls: it is longer
    viewport = area.viewport().width()
    for index in range(window.side_tabs.count()):
        window.side_tabs.setCurrentIndex(index)
        qtbot.wait(20)
        page = window.side_tabs.currentWidget()
        assert _clipped(page, window) == []
    for button in window.persona.findChildren(QAbstractButton):  # nothing hides under the scroll bar
        if button.isVisibleTo(window):
            right = button.mapTo(window.persona, button.rect().topRight()).x()
            assert right <= viewport, f"{button.text() or button.toolTip()!r} ends at {right} of {viewport}"
