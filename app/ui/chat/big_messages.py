"""Big messages in the chat view: laid out a few blocks per turn of the event loop, and "Show all".

``MessageDocuments`` lays out the first blocks of a big message (the core's ``big_text.plan``) within a frame's
budget and says it has more (``pending``); ``PendingLayouts`` lays out the rest a budget per turn of the event
loop, setting the row's height as it grows (the view stays at the bottom if it was there), so the GUI thread
never holds a big message for longer than a frame. A message cut for display ends with a "Show all (N more
characters)" line: a click on it, or Enter on the current message, shows the whole text (laid out the same
way). Copy and the history always have the whole text.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QKeyEvent

from app.ui.chat.message_layout import FRAME_BUDGET_S
from app.ui.chat.thought_block import TOGGLE_KEYS

if TYPE_CHECKING:
    from app.ui.chat.chat_view import ChatView


class PendingLayouts:
    """Lays out the rest of big messages, ``FRAME_BUDGET_S`` per turn of the event loop."""

    def __init__(self, view: ChatView) -> None:
        self.view = view
        self.timer = QTimer(view, singleShot=True, interval=0)
        self.timer.timeout.connect(self.step)
        view.message_delegate.layout_pending.connect(self.timer.start)

    def step(self) -> None:
        view, delegate = self.view, self.view.message_delegate
        pending = delegate.pending()
        if not pending or view.model() is None:
            return
        started = time.perf_counter()
        at_bottom = view.verticalScrollBar().value() >= view.verticalScrollBar().maximum() - 4
        header, more = view.verticalHeader(), False
        for row, item in enumerate(view.row_heights.items()):
            if item.uid not in pending:
                continue
            budget = FRAME_BUDGET_S - (time.perf_counter() - started)
            if budget <= 0:
                more = True
                break
            more = delegate.resume(item.uid, budget) or more
            height = delegate.cached_height(item, view.viewport().width())
            if height is not None and header.sectionSize(row) != height:
                header.resizeSection(row, height)
        if at_bottom:
            view.scroll_to_end()
        view.viewport().update()
        if more:
            self.timer.start()

    def busy(self) -> bool:
        """Whether some message is still laid out in part."""
        return bool(self.view.message_delegate.pending())


def show_all_at(view: ChatView, position: QPoint) -> int | None:
    """The row whose "Show all" line is under ``position`` (viewport coordinates), if any."""
    index = view.indexAt(position)
    if not index.isValid():
        return None
    where = view.message_geometry(index.row())
    item = view.item(index.row())
    body = view.message_delegate.layout(item, view.viewport().width(), view.palette(), view.font()).body
    link = body.show_all_rect()
    if link is None or not link.translated(where.body_x, where.body_y).contains(position.toPointF()):
        return None
    return index.row()


def show_all(view: ChatView, row: int) -> bool:
    """Show the whole of a message cut for display; False where nothing of it is hidden."""
    item = view.item(row)
    body = view.message_delegate.layout(item, view.viewport().width(), view.palette(), view.font()).body
    if not body.hidden:
        return False
    view.message_delegate.shown_all.add(item.uid)
    view.row_heights.set_rows(row, row, view.viewport().width())
    view.viewport().update()
    return True


def show_all_key(view: ChatView, event: QKeyEvent) -> bool:
    """Enter on the current message, cut for display, shows all of it."""
    row = view.currentIndex().row()
    if event.key() not in TOGGLE_KEYS[:2] or row < 0 or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
        return False
    return show_all(view, row)
