"""The chat view's row heights, in proportion to what is on screen (issue 27).

Laying out a message (Markdown, code blocks) costs about half a millisecond; a chat of 2,000 messages
laid out whole takes a second, and again at every change of width. Here a row's height is exact only
once the row has come near the viewport; until then it is estimated from the text's length (no
layout). When rows are measured, the view keeps what the user looks at in place: the bottom if it was
at the bottom, else the first visible row at the same height on screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont, QFontMetrics

from app.core.prompting.types import MessageState
from app.ui.chat.chat_model import ChatItem, ChatRoles
from app.ui.chat.message_delegate import (
    H_MARGIN,
    PADDING,
    USER_BUBBLE_RATIO,
    V_MARGIN,
    header_height,
    line_height,
    small_font,
)

if TYPE_CHECKING:
    from PySide6.QtWidgets import QTableView

    from app.ui.chat.message_delegate import MessageDelegate

EXACT_ALWAYS = 4  # a change of this many rows or fewer is measured at once, seen or not
REFINE_ROUNDS = 8  # measuring can bring more rows into view; at most this many rounds per call
MARGIN_ROWS_PER_TURN = 6  # rows off screen measured per turn of the event loop (a few ms)


class Estimator:
    """Estimates messages' heights at one width and font without laying them out (a few microseconds each)."""

    def __init__(self, width: int, font: QFont) -> None:
        metrics = QFontMetrics(font)
        text_width = max(50, width - 2 * H_MARGIN - 2 * PADDING)
        char = max(1, metrics.averageCharWidth())
        self.per_line = {False: max(1, text_width // char), True: max(1, int(text_width * USER_BUBBLE_RATIO) // char)}
        self.line = metrics.lineSpacing()
        self.base = 2 * V_MARGIN + header_height(font) + 2 * PADDING
        self.footer = line_height(small_font(font))

    def height(self, item: ChatItem) -> int:
        """Its lines wrapped at the average character width, plus the header, padding and footer.

        Counted in C (the text's length and its line breaks), not line by line: a few microseconds for
        any message, since a chat of 2,000 messages is estimated whole at each open and change of width."""
        text = item.text or "…"
        lines = 1 + text.count("\n") + len(text) // self.per_line[item.role == "user"]
        footer = self.footer if _has_footer(item) else 0
        thought = 2 * self.footer if item.reasoning or item.tools else 0  # the block's line, collapsed (thought_block)
        return self.base + lines * self.line + footer + thought


def _has_footer(item: ChatItem) -> bool:
    """Whether the message has a line of small print (``stats_line`` non-empty, or version arrows), cheaply."""
    if item.sibling_count > 1 or item.left_out or item.thought_only:
        return True
    if item.state in (MessageState.STREAMING, MessageState.ERROR, MessageState.STOPPED, MessageState.INTERRUPTED):
        return True
    stats = item.stats
    return stats is not None and (bool(stats.generated_tokens) or stats.finish_reason == "length")


def estimate_height(item: ChatItem, width: int, font: QFont) -> int:
    """A message's height without laying it out."""
    return Estimator(width, font).height(item)


class RowHeights:
    """Sets a ChatView's row heights: estimated for rows far from the viewport, exact near it.

    The rows on screen are measured at once (before they are painted); a screenful above and below them
    a few rows per turn of the event loop, so scrolling finds them ready without a stall.
    """

    def __init__(self, view: QTableView, delegate: MessageDelegate) -> None:
        self.view = view
        self.delegate = delegate
        self._refining = False
        self._margin_timer = QTimer(view, singleShot=True, interval=0)
        self._margin_timer.timeout.connect(self._refine_margin)

    def items(self) -> list[ChatItem]:
        model = self.view.model()
        items = getattr(model, "items", None)  # a ChatModel hands its list over at once
        if isinstance(items, list) and len(items) == model.rowCount():
            return items
        return [model.index(row, 0).data(ChatRoles.ITEM) for row in range(model.rowCount())]

    def _near(self, margin: int) -> tuple[int, int]:
        """The rows on screen, with ``margin`` pixels more each way."""
        view, count = self.view, self.view.model().rowCount()
        height = view.viewport().height()
        first = view.rowAt(0)
        first = 0 if first < 0 else first
        last = view.rowAt(height - 1)
        last = count - 1 if last < 0 else last
        if margin:
            header = view.verticalHeader()
            while first > 0 and header.sectionViewportPosition(first) > -margin:
                first -= 1
            while (
                last < count - 1 and header.sectionViewportPosition(last) + header.sectionSize(last) < height + margin
            ):
                last += 1
        return first, last

    def _exact(self, row: int, item: ChatItem, width: int) -> None:
        view = self.view
        height = self.delegate.layout(item, width, view.palette(), view.font()).height
        if view.verticalHeader().sectionSize(row) != height:
            view.verticalHeader().resizeSection(row, height)

    def set_rows(self, first: int, last: int, width: int) -> None:
        """Rows that changed: exact where few changed, else estimated (refine() then measures those on screen)."""
        view = self.view
        items = self.items()
        if last - first + 1 <= EXACT_ALWAYS:
            for row in range(first, last + 1):
                self._exact(row, items[row], width)
            return
        header = view.verticalHeader()
        resize, estimate = header.resizeSection, Estimator(width, view.font()).height
        cached = self.delegate.cached_height
        # The view's per-row slot (sectionResized → repaint what moved) would run for every row: it is told once.
        blocked = header.blockSignals(True)
        try:
            for row in range(first, last + 1):
                item = items[row]
                height = cached(item, width)
                resize(row, estimate(item) if height is None else height)  # (Qt skips an unchanged size)
        finally:
            header.blockSignals(blocked)
        view.updateGeometries()
        view.viewport().update()

    def refine(self, width: int) -> None:
        """Measure the rows on screen whose heights are estimates, keeping the view where it was."""
        self._refine(width, 0, limit=None)
        self._margin_timer.start()

    def _refine_margin(self) -> None:
        if self._refine(self.view.viewport().width(), self.view.viewport().height(), limit=MARGIN_ROWS_PER_TURN):
            self._margin_timer.start()  # more to measure: on the next turn of the event loop

    def _refine(self, width: int, margin: int, limit: int | None) -> bool:
        """Returns whether rows were left to measure (``limit`` reached)."""
        view = self.view
        model = view.model()
        if self._refining or model is None or not model.rowCount() or width <= 0:
            return False
        self._refining = True
        try:
            bar = view.verticalScrollBar()
            items = self.items()
            for _ in range(REFINE_ROUNDS):
                at_bottom = bar.value() >= bar.maximum() - 4
                anchor = max(0, view.rowAt(0))
                anchor_y = view.rowViewportPosition(anchor)
                first, last = self._near(margin)
                todo = [row for row in range(first, last + 1) if self.delegate.cached_height(items[row], width) is None]
                if limit is not None:
                    todo = sorted(todo, key=lambda row: abs(row - anchor))[:limit]  # nearest the screen first
                for row in todo:
                    self._exact(row, items[row], width)
                if not todo:
                    return False
                view.updateGeometries()
                if at_bottom:
                    bar.setValue(bar.maximum())
                else:
                    bar.setValue(bar.value() + view.rowViewportPosition(anchor) - anchor_y)
                if limit is not None:
                    return True
            return False
        finally:
            self._refining = False
