"""A thinking model's reasoning, and a reply's tool steps, above its answer: a one-line toggle, collapsed until clicked.

"▸ Thinking…" while the model thinks, "▸ Thought for 12 s (340 tokens)" once it has; expanded ("▾ …")
the reasoning shows under that line, smaller and muted, and grows as it streams. Which replies are
expanded is the delegate's (by message uid, for as long as the chat is open); a click on the line, or
Enter/Space on the current message, toggles it and the view measures that row again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView

from app.core.prompting.parts import ToolCallPart
from app.core.prompting.tool_parts import step_count, steps_markdown
from app.core.prompting.types import MessageState
from app.ui.chat.message_layout import MessageDocuments

if TYPE_CHECKING:
    from app.ui.chat.chat_model import ChatItem
    from app.ui.chat.chat_view import ChatView

GAP = 6  # pixels between the line and the reasoning, and above the answer
MUTED = 0.6  # the reasoning's opacity
INDENT = 10  # the reasoning sits right of a thin rule
TOGGLE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)


def block_text(item: ChatItem) -> str:
    """What the block shows: the reasoning, then each tool call and its result (read from the reply's parts)."""
    steps = steps_markdown(item.tools) if item.tools else ""
    return f"{item.reasoning.rstrip()}\n\n{steps}" if item.reasoning.strip() and steps else item.reasoning or steps


def thought_label(item: ChatItem, expanded: bool) -> str:
    arrow = "▾" if expanded else "▸"
    steps = step_count(item.tools)  # tool steps share the block
    pending = item.tools[-1] if item.tools and item.state == MessageState.STREAMING else None
    if isinstance(pending, ToolCallPart):  # no result yet: it waits for the user, or runs
        return f"{arrow} Calling {pending.name}…"
    if steps:
        return f"{arrow} Used {'a tool' if steps == 1 else f'{steps} tools'} (click for the calls and results)"
    if item.state == MessageState.STREAMING and not item.text:
        return f"{arrow} Thinking…"
    stats = item.stats
    seconds = f" for {stats.reasoning_s:.0f} s" if stats is not None and stats.reasoning_s >= 1 else ""
    tokens = f" ({stats.reasoning_tokens} tokens)" if stats is not None and stats.reasoning_tokens else ""
    return f"{arrow} Thought{seconds}{tokens}"


@dataclass
class ThoughtBlock:
    """One reply's reasoning block at one width: its line and, expanded, the reasoning laid out."""

    label: str
    label_width: int
    line: int  # the line's height
    body: MessageDocuments | None = None  # the reasoning, when expanded
    source: tuple[str, bool] = ("", False)  # what the body was laid out from (text, streaming)

    @property
    def height(self) -> int:
        return self.line + GAP + (self.body.height + GAP if self.body is not None else 0)

    def label_rect(self, x: int, y: int) -> QRect:
        return QRect(x, y, self.label_width, self.line)

    def paint(self, painter: QPainter, x: int, y: int, palette: QPalette, font: QFont) -> None:
        painter.save()
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(self.label_rect(x, y), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.label)
        if self.body is not None:
            top = y + self.line + GAP
            painter.setOpacity(painter.opacity() * MUTED)
            painter.fillRect(QRect(x + 2, top, 2, self.body.height), palette.color(QPalette.ColorRole.Mid))
            self.body.paint(painter, x + INDENT, top, palette)
        painter.restore()


def build_thought(
    item: ChatItem,
    *,
    expanded: bool,
    previous: ThoughtBlock | None,
    width: int,
    font: QFont,
    palette: QPalette,
    line: int,
) -> ThoughtBlock | None:
    """The block for ``item`` (None without reasoning); an expanded body is reused and fed only what changed."""
    text = block_text(item)
    if not text:
        return None
    label = thought_label(item, expanded)
    block = ThoughtBlock(label, QFontMetrics(font).horizontalAdvance(label) + 12, line)
    if not expanded:
        return block
    body = previous.body if previous is not None and previous.body is not None else None
    if body is None or body.width != width - INDENT:
        body = MessageDocuments(width=width - INDENT, font=QFont(font), palette=QPalette(palette))
    source = (text, item.state == MessageState.STREAMING and not item.text)
    if previous is None or previous.body is not body or previous.source != source:
        body.update(source[0], streaming=source[1])  # an answer's tokens leave a finished thought as it is
    block.body, block.source = body, source
    return block


def toggle_thought(view: ChatView, row: int) -> bool:
    """Expand or collapse the reasoning of the message at ``row``; False where it has none."""
    item = view.item(row)
    if not (item.reasoning or item.tools):
        return False
    view.message_delegate.expanded.symmetric_difference_update({item.uid})
    view.setCurrentIndex(view.model().index(row, 0))  # Enter/Space toggle it again
    view.row_heights.set_rows(row, row, view.viewport().width())  # measured again at once
    view.viewport().update()
    return True


def thought_key(view: ChatView, event: QKeyEvent) -> bool:
    """Enter or Space on the current message toggles its reasoning; False where the key is not ours."""
    row = view.currentIndex().row()
    if event.key() not in TOGGLE_KEYS or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier or row < 0:
        return False
    return view.state() != QAbstractItemView.State.EditingState and toggle_thought(view, row)
