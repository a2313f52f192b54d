"""Lays out and paints one message of the chat view, and edits a message of yours in place.

Where things are (the header, the bubble, the version arrows, each code block) is computed from
the message's cached layout by ``geometry``, both to paint and to answer a click: nothing is
remembered from the last paint, so nothing goes stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QHelpEvent, QKeyEvent, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QAbstractItemView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
)

from app.ui.chat.attachments import Thumbnails
from app.ui.chat.chat_input import MessageEditor
from app.ui.chat.chat_model import ChatItem, ChatRoles, MessageState
from app.ui.chat.documents import source_lines
from app.ui.chat.image_viewer import paint_strip, strip_rects, strip_size
from app.ui.chat.message_actions import BAR_HEIGHT
from app.ui.chat.message_layout import FRAME_BUDGET_S, MessageDocuments
from app.ui.chat.thought_block import ThoughtBlock, build_thought
from app.ui.theme import color

H_MARGIN = 16
V_MARGIN = 6
PADDING = 10
USER_BUBBLE_RATIO = 0.78
CARET = " ▍"
EDIT_EXTRA_LINES = 3  # room to type below a message being edited


@dataclass
class Layout:
    revision: int
    width: int
    editing: bool
    expanded: bool
    shown_all: bool
    body: MessageDocuments
    bubble_width: int
    height: int
    thought: ThoughtBlock | None = None  # a thinking model's reasoning, above the answer
    images_height: int = 0  # the attached images' thumbnails, at the top of the bubble


@dataclass
class Geometry:
    """Where the parts of one message are, in the view's viewport coordinates."""

    header: QRect
    bubble: QRect
    body_x: int  # where the body's pieces start
    body_y: int
    footer: QRect
    arrows: tuple[QRect, QRect, QRect] | None  # previous, "n/m", next
    thought: QRect | None = None  # the reasoning's "▸ Thought for …" line, which toggles it
    images: tuple[QRect, ...] = ()  # the attached images' thumbnails (a click shows one at full size)
    sources: tuple[QRect, ...] = ()  # under the bubble: a reply's sources, a question's documents (source_lines)


def stats_line(item: ChatItem) -> str:
    """The small print under a message."""
    if item.state == MessageState.STREAMING:
        if item.waiting:
            return item.waiting
        if item.thinking:
            return "Thinking…"
        # one state, one word: the status bar says the same (until the first token, the prompt is being read)
        return f"Reading the conversation… {item.reading}".rstrip() if not item.text else "Generating…"
    if item.state == MessageState.ERROR:
        return f"Error: {item.error}"
    parts: list[str] = ["left out of the last prompt: the context was full"] if item.left_out else []
    stats = item.stats
    # (how long it thought is on the reasoning block's own line, above the answer)
    if item.thought_only:
        parts.append("ended while thinking: no answer")
    if stats is not None and stats.generated_tokens:
        parts += [
            f"{stats.generated_tokens} tokens",
            f"{stats.tokens_per_s:.1f} tok/s",
            f"TTFT {stats.ttft_s * 1000:.0f} ms",
        ]
        if stats.restored_tokens:
            new = max(0, stats.prompt_tokens - stats.restored_tokens)
            parts.append(f"{stats.restored_tokens:,} cached · {new:,} new prompt tokens")
    if item.state == MessageState.STOPPED:
        parts.append("stopped" if item.text else "stopped before the reply began — right-click › Regenerate")
    elif item.state == MessageState.INTERRUPTED:
        parts.append("interrupted — right-click › Continue to finish it")
    elif stats is not None and stats.finish_reason == "length":
        parts.append("reached the token limit")
    return " · ".join(parts)


def small_font(font: QFont) -> QFont:
    small = QFont(font)
    small.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
    return small


def line_height(font: QFont) -> int:
    return QFontMetrics(font).height() + 2


def header_height(font: QFont) -> int:
    return max(line_height(small_font(font)), BAR_HEIGHT + 2)  # room for the action bar


def _on_screen(rect: QRect, painter: QPainter) -> QRect:
    """``rect`` cut to what is painted, plus a margin that keeps its rounded corners off screen (painting a rounded
    rectangle costs its full height, clipped or not)."""
    if not painter.hasClipping():
        return rect
    clip = painter.clipBoundingRect().toAlignedRect().adjusted(0, -20, 0, 20)
    top, bottom = max(rect.top(), clip.top()), min(rect.bottom(), clip.bottom())
    return QRect(QPoint(rect.left(), top), QPoint(rect.right(), bottom)) if top < bottom else rect


class MessageDelegate(QStyledItemDelegate):
    """Keeps each message's layout between paints (keyed on its uid and revision).

    An edit is never written over the message: it is handed on (``edit_submitted``) to be sent as
    a new version, and the old one stays reachable.
    """

    edit_submitted = Signal(int, str)  # row, new text
    layout_pending = Signal()  # a big message is laid out in part: the view lays out more on its next turns

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._cache: dict[int, Layout] = {}
        self.editing_uid: int | None = None
        self.expanded: set[int] = set()  # replies whose reasoning is shown (uids)
        self.shown_all: set[int] = set()  # big messages shown whole ("Show all"; uids)
        self.thumbnails: Thumbnails | None = None  # the attached images, drawn small (the window sets it)
        self.avatar_for: Callable[[ChatItem], QPixmap | None] = lambda _item: None  # a group reply's speaker

    # editing in place
    def createEditor(self, parent, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex):
        editor = MessageEditor(parent)
        editor.setFont(option.font)
        row = QPersistentModelIndex(index)
        editor.submitted.connect(lambda: self._submit(editor, row))
        self.editing_uid = index.data(ChatRoles.ITEM).uid
        return editor

    def setEditorData(self, editor, index: QModelIndex | QPersistentModelIndex) -> None:
        if not editor.document().isModified():  # the view calls this again on data changes: keep the typing
            editor.setPlainText(index.data(Qt.ItemDataRole.DisplayRole) or "")
            editor.moveCursor(editor.textCursor().MoveOperation.End)

    def setModelData(self, editor, model, index) -> None:
        """Nothing is written over the message (see the class notes)."""

    def updateEditorGeometry(self, editor, option: QStyleOptionViewItem, index) -> None:
        rect = option.rect
        top = rect.top() + V_MARGIN + header_height(option.font)  # below the "You" header
        width, height = rect.width() - 2 * H_MARGIN, rect.bottom() - V_MARGIN - top
        editor.setGeometry(QRect(rect.left() + H_MARGIN, top, width, height))

    def destroyEditor(self, editor, index) -> None:
        self.editing_uid = None
        super().destroyEditor(editor, index)

    def eventFilter(self, editor, event: QEvent) -> bool:
        # Clicking elsewhere neither sends nor discards an edit; Tab moves the focus on (no "edit next row").
        if event.type() == QEvent.Type.FocusOut or (
            event.type() == QEvent.Type.KeyPress
            and cast(QKeyEvent, event).key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab)
        ):
            return False
        return super().eventFilter(editor, event)

    def _submit(self, editor: MessageEditor, row: QPersistentModelIndex) -> None:
        text = editor.toPlainText().strip()
        if not text:
            return
        self.closeEditor.emit(editor, QAbstractItemDelegate.EndEditHint.NoHint)
        if row.isValid():
            self.edit_submitted.emit(row.row(), text)

    # layout
    def forget(self, keep: set[int]) -> None:
        for uid in [uid for uid in self._cache if uid not in keep]:
            del self._cache[uid]

    def forget_widths(self, width: int) -> None:
        """Drop layouts made at another width (they would be laid out again anyway)."""
        for uid in [uid for uid, layout in self._cache.items() if layout.width != width]:
            del self._cache[uid]

    def cached_height(self, item: ChatItem, width: int) -> int | None:
        """The message's height if its layout at ``width`` is cached and current, else None (no layout done)."""
        cached = self._cache.get(item.uid)
        return cached.height if cached is not None and self._current(cached, item, width) else None

    def _current(self, cached: Layout, item: ChatItem, width: int) -> bool:
        uid = item.uid
        key = (item.revision, width, uid == self.editing_uid, uid in self.expanded, uid in self.shown_all)
        return (cached.revision, cached.width, cached.editing, cached.expanded, cached.shown_all) == key

    def pending(self) -> set[int]:
        """The uids of messages laid out in part (big ones: the rest comes a few blocks per turn)."""
        return {uid for uid, layout in self._cache.items() if layout.body.pending}

    def resume(self, uid: int, budget_s: float) -> bool:
        """Lay out more of a big message for about ``budget_s``; its height follows. True if some is left."""
        layout = self._cache.get(uid)
        if layout is None:
            return False
        before = layout.body.height
        more = layout.body.resume(budget_s)
        layout.height += layout.body.height - before
        return more

    def layout(self, item: ChatItem, width: int, palette: QPalette, font: QFont) -> Layout:
        cached = self._cache.get(item.uid)
        if cached is not None and self._current(cached, item, width):
            return cached
        editing, expanded = item.uid == self.editing_uid, item.uid in self.expanded
        shown_all = item.uid in self.shown_all
        is_user = item.role == "user"
        text_width = max(50, width - 2 * H_MARGIN - 2 * PADDING)
        if is_user:
            text_width = int(text_width * USER_BUBBLE_RATIO)
        body = cached.body if cached is not None and cached.width == width else None
        if body is None:
            body = MessageDocuments(width=text_width, font=QFont(font), palette=QPalette(palette), markdown=not is_user)
        streaming = item.state == MessageState.STREAMING
        text = item.text if item.text or not streaming else "…"
        body.update(
            text, streaming=streaming, suffix=CARET if streaming else "", show_all=shown_all, budget_s=FRAME_BUDGET_S
        )
        if body.pending:
            self.layout_pending.emit()
        bubble_width = (min(text_width, body.ideal_width) if is_user else text_width) + 2 * PADDING
        images_width, images_height = strip_size(len(item.images), text_width)
        bubble_width = max(bubble_width, images_width + 2 * PADDING)
        footer = bool(stats_line(item)) or item.sibling_count > 1
        line = line_height(small_font(font))
        thought = build_thought(
            item,
            expanded=expanded,
            previous=cached.thought if cached is not None else None,
            width=text_width,
            font=small_font(font),
            palette=palette,
            line=line,
        )
        height = 2 * V_MARGIN + header_height(font) + body.height + 2 * PADDING + (line if footer else 0)
        height += (thought.height if thought is not None else 0) + images_height + len(source_lines(item)) * line
        if editing:
            height += EDIT_EXTRA_LINES * line_height(font)
        layout = Layout(
            item.revision, width, editing, expanded, shown_all, body, bubble_width, height, thought, images_height
        )
        self._cache[item.uid] = layout
        return layout

    def row_height(self, index: QModelIndex, width: int, palette: QPalette, font: QFont) -> int:
        return self.layout(index.data(ChatRoles.ITEM), width, palette, font).height

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        layout = self.layout(index.data(ChatRoles.ITEM), option.rect.width(), option.palette, option.font)
        return QSize(layout.width, layout.height)

    def geometry(self, item: ChatItem, layout: Layout, rect: QRect, font: QFont) -> Geometry:
        small = small_font(font)
        line = line_height(small)
        is_user = item.role == "user"
        left = rect.right() - H_MARGIN - layout.bubble_width if is_user else rect.left() + H_MARGIN
        header = QRect(left, rect.top() + V_MARGIN, layout.bubble_width, header_height(font))
        above = (layout.thought.height if layout.thought is not None else 0) + layout.images_height
        bubble = QRect(left, header.bottom() + 1, layout.bubble_width, above + layout.body.height + 2 * PADDING)
        sources = tuple(
            QRect(left + PADDING, bubble.bottom() + 1 + n * line, layout.bubble_width - PADDING, line)
            for n in range(len(source_lines(item)))
        )
        footer = QRect(left + PADDING, bubble.bottom() + 1 + len(sources) * line, layout.bubble_width - PADDING, line)
        arrows = None
        if item.sibling_count > 1:
            metrics = QFontMetrics(small)
            arrow = metrics.horizontalAdvance("‹") + 10
            width = metrics.horizontalAdvance(f"{item.sibling_count}/{item.sibling_count}") + 2 * arrow
            x = footer.right() - width if is_user else footer.left()
            arrows = (
                QRect(x, footer.top(), arrow, line),
                QRect(x + arrow, footer.top(), width - 2 * arrow, line),
                QRect(x + width - arrow, footer.top(), arrow, line),
            )
            if is_user:
                footer.setRight(x - 8)
            else:
                footer.setLeft(x + width + 8)
        x, y = bubble.left() + PADDING, bubble.top() + PADDING
        images = tuple(strip_rects(len(item.images), layout.bubble_width - 2 * PADDING, x, y))
        thought = layout.thought.label_rect(x, y + layout.images_height) if layout.thought is not None else None
        return Geometry(header, bubble, x, y + above, footer, arrows, thought, images, sources)

    def source_tip(self, item: ChatItem, option: QStyleOptionViewItem, pos: QPoint) -> str:
        """The tooltip at ``pos`` on a message's sources: the passage's excerpt (or the file's path); "" elsewhere."""
        where = self.geometry(item, self.layout(item, option.rect.width(), option.palette, option.font), option.rect,
                              option.font)  # fmt: skip
        for (label, tip), line in zip(source_lines(item), where.sources, strict=True):
            if line.contains(pos):
                return f"{label}\n{tip}" if tip else label
        return ""

    def helpEvent(
        self,
        event: QHelpEvent,
        view: QAbstractItemView,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> bool:
        item = index.data(ChatRoles.ITEM) if index.isValid() else None
        if event.type() == QEvent.Type.ToolTip and isinstance(item, ChatItem):
            tip = self.source_tip(item, option, event.pos())
            if tip:
                QToolTip.showText(event.globalPos(), tip, view)
                return True
        return super().helpEvent(event, view, option, index)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        item: ChatItem = index.data(ChatRoles.ITEM)
        palette: QPalette = option.palette
        layout = self.layout(item, option.rect.width(), palette, option.font)
        where = self.geometry(item, layout, option.rect, option.font)
        small = small_font(option.font)
        is_user = item.role == "user"
        align = Qt.AlignmentFlag.AlignRight if is_user else Qt.AlignmentFlag.AlignLeft
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if item.left_out:
            painter.setOpacity(0.45)

        painter.setFont(small)
        painter.setPen(muted)
        header = "You" if is_user else (item.model_name or "Assistant")
        header_rect = QRect(where.header)
        avatar = None if is_user else self.avatar_for(item)
        if avatar is not None:  # a group chat's reply: its speaker's face, then its name (before the model's)
            model = item.model_name.removesuffix(f" · {item.speaker}").removesuffix(item.speaker)
            header = f"{item.speaker} · {model}" if model else item.speaker
            side = header_rect.height()
            painter.drawPixmap(QRect(header_rect.left(), header_rect.top(), side, side), avatar)
            header_rect.setLeft(header_rect.left() + side + 4)
        painter.drawText(header_rect, align | Qt.AlignmentFlag.AlignVCenter, header)

        # The view hands out options without a highlight colour (see ChatView.initViewItemOption).
        highlight = (option.widget.palette() if option.widget is not None else palette).color(
            QPalette.ColorRole.Highlight
        )
        bubble = _on_screen(where.bubble, painter)  # a big message's bubble can be 100,000 px tall
        if is_user:
            accent = QColor(highlight)
            accent.setAlpha(40)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(accent)
            painter.drawRoundedRect(bubble, 10, 10)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(highlight)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(bubble.adjusted(0, 0, -1, -1), 10, 10)
        if layout.thought is not None and where.thought is not None:
            layout.thought.paint(painter, where.thought.left(), where.thought.top(), palette, small)
        if where.images:
            paint_strip(painter, self.thumbnails, item.images, where.images, palette)
        layout.body.paint(painter, where.body_x, where.body_y, palette)

        painter.setFont(small)
        if where.arrows is not None:
            previous, label, following = where.arrows
            painter.setPen(palette.color(QPalette.ColorRole.Link))
            painter.drawText(previous, Qt.AlignmentFlag.AlignCenter, "‹")
            painter.drawText(following, Qt.AlignmentFlag.AlignCenter, "›")
            painter.setPen(muted)
            painter.drawText(label, Qt.AlignmentFlag.AlignCenter, f"{item.sibling_index + 1}/{item.sibling_count}")
        painter.setPen(palette.color(QPalette.ColorRole.Link))
        for (source, _tip), rect in zip(source_lines(item), where.sources, strict=True):
            elided = QFontMetrics(small).elidedText(source, Qt.TextElideMode.ElideMiddle, rect.width())
            painter.drawText(rect, align | Qt.AlignmentFlag.AlignVCenter, elided)
        footer = stats_line(item)
        if footer:
            painter.setPen(color("error", palette) if item.state == MessageState.ERROR else muted)
            painter.drawText(where.footer, align | Qt.AlignmentFlag.AlignVCenter, footer)
        painter.restore()
