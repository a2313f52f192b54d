"""The chat transcript: a table view of one column whose row heights the view sets itself.

A QListView re-asks every row's size when one row grows, which makes streaming O(chat length).
Here each row's height is computed once per change of that row (or of the view's width) and set
on the vertical header, so appending text to the last message costs the same in a chat of 10
messages or of 10,000.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
)

from app.ui.chat_model import ChatItem, ChatRoles, MessageState
from app.ui.message_layout import MessageDocuments
from app.ui.widgets import MessageEditor

H_MARGIN = 16
V_MARGIN = 6
PADDING = 10
USER_BUBBLE_RATIO = 0.78
CARET = " ▍"
EDIT_EXTRA_LINES = 3  # room to type below a message being edited
ERROR_COLOR = QColor("#d9534f")


@dataclass
class _Layout:
    revision: int
    width: int
    editing: bool
    body: MessageDocuments
    bubble_width: int
    height: int


def stats_line(item: ChatItem) -> str:
    """The small print under a message."""
    if item.state == MessageState.STREAMING:
        return f"Reading the conversation… {item.reading}" if item.reading and not item.text else "Generating…"
    if item.state == MessageState.ERROR:
        return f"Error: {item.error}"
    parts: list[str] = ["left out of the last prompt: the context was full"] if item.left_out else []
    stats = item.stats
    if stats is not None and stats.generated_tokens:
        parts += [
            f"{stats.generated_tokens} tokens",
            f"{stats.tokens_per_s:.1f} tok/s",
            f"TTFT {stats.ttft_s * 1000:.0f} ms",
        ]
    if item.state == MessageState.STOPPED:
        parts.append("stopped" if item.text else "stopped before the reply began — right-click › Regenerate")
    elif item.state == MessageState.INTERRUPTED:
        parts.append("interrupted — right-click › Continue to finish it")
    elif stats is not None and stats.finish_reason == "length":
        parts.append("reached the token limit")
    return " · ".join(parts)


class MessageDelegate(QStyledItemDelegate):
    """Lays out and paints one message; keeps each message's documents between paints.

    It also edits a message of yours in place. An edit is never written over the message: it is
    handed on (``edit_submitted``) to be sent as a new version, and the old one stays reachable.
    """

    edit_submitted = Signal(int, str)  # row, new text

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._cache: dict[int, _Layout] = {}
        self.arrow_rects: dict[int, tuple[QRect, QRect]] = {}  # uid -> (previous, next), where last painted
        self.editing_uid: int | None = None

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
        line = _line_height(_small_font(option.font))
        rect = option.rect
        top = rect.top() + V_MARGIN + line  # below the "You" header
        width, height = rect.width() - 2 * H_MARGIN, rect.bottom() - V_MARGIN - top
        editor.setGeometry(QRect(rect.left() + H_MARGIN, top, width, height))

    def destroyEditor(self, editor, index) -> None:
        self.editing_uid = None
        super().destroyEditor(editor, index)

    def eventFilter(self, editor, event: QEvent) -> bool:
        # Clicking elsewhere neither sends nor discards an edit; Tab moves the focus on (no "edit next row").
        if event.type() == QEvent.Type.FocusOut or (
            event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab)
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

    def forget(self, keep: set[int]) -> None:
        for uid in [uid for uid in self._cache if uid not in keep]:
            del self._cache[uid]

    def layout(self, item: ChatItem, width: int, palette: QPalette, font: QFont) -> _Layout:
        cached = self._cache.get(item.uid)
        editing = item.uid == self.editing_uid
        if cached is not None and (cached.revision, cached.width, cached.editing) == (item.revision, width, editing):
            return cached
        is_user = item.role == "user"
        text_width = max(50, width - 2 * H_MARGIN - 2 * PADDING)
        if is_user:
            text_width = int(text_width * USER_BUBBLE_RATIO)
        body = cached.body if cached is not None and cached.width == width else None
        if body is None:
            body = MessageDocuments(width=text_width, font=QFont(font), palette=QPalette(palette), markdown=not is_user)
        streaming = item.state == MessageState.STREAMING
        text = item.text if item.text or not streaming else "…"
        body.update(text, streaming=streaming, suffix=CARET if streaming else "")
        bubble_width = (min(text_width, body.ideal_width) if is_user else text_width) + 2 * PADDING
        line = _line_height(_small_font(font))
        footer = bool(stats_line(item)) or item.sibling_count > 1
        height = 2 * V_MARGIN + line + body.height + 2 * PADDING + (line if footer else 0)
        if editing:
            height += EDIT_EXTRA_LINES * _line_height(font)
        layout = _Layout(item.revision, width, editing, body, bubble_width, height)
        self._cache[item.uid] = layout
        return layout

    def row_height(self, index: QModelIndex, width: int, palette: QPalette, font: QFont) -> int:
        return self.layout(index.data(ChatRoles.ITEM), width, palette, font).height

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        layout = self.layout(index.data(ChatRoles.ITEM), option.rect.width(), option.palette, option.font)
        return QSize(layout.width, layout.height)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        item: ChatItem = index.data(ChatRoles.ITEM)
        rect: QRect = option.rect
        palette: QPalette = option.palette
        layout = self.layout(item, rect.width(), palette, option.font)
        small = _small_font(option.font)
        line = _line_height(small)
        is_user = item.role == "user"
        left = rect.right() - H_MARGIN - layout.bubble_width if is_user else rect.left() + H_MARGIN
        align = Qt.AlignmentFlag.AlignRight if is_user else Qt.AlignmentFlag.AlignLeft
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if item.left_out:
            painter.setOpacity(0.45)

        top = rect.top() + V_MARGIN
        painter.setFont(small)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        header = "You" if is_user else (item.model_name or "Assistant")
        painter.drawText(QRect(left, top, layout.bubble_width, line), align | Qt.AlignmentFlag.AlignVCenter, header)
        top += line

        bubble = QRect(left, top, layout.bubble_width, layout.body.height + 2 * PADDING)
        # The view hands out options without a highlight colour (see ChatView.initViewItemOption).
        highlight = (option.widget.palette() if option.widget is not None else palette).color(
            QPalette.ColorRole.Highlight
        )
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
        self._draw_body(painter, layout.body, bubble.left() + PADDING, bubble.top() + PADDING)

        footer = stats_line(item)
        footer_rect = QRect(left + PADDING, bubble.bottom() + 1, layout.bubble_width - PADDING, line)
        painter.setFont(small)
        if item.sibling_count > 1:
            metrics = QFontMetrics(small)
            versions = f"{item.sibling_index + 1}/{item.sibling_count}"
            arrow = metrics.horizontalAdvance("‹") + 8
            width = metrics.horizontalAdvance(versions) + 2 * arrow
            x = footer_rect.right() - width if is_user else footer_rect.left()
            previous = QRect(x, footer_rect.top(), arrow, line)
            label = QRect(x + arrow, footer_rect.top(), width - 2 * arrow, line)
            following = QRect(x + width - arrow, footer_rect.top(), arrow, line)
            painter.setPen(palette.color(QPalette.ColorRole.Link))
            painter.drawText(previous, Qt.AlignmentFlag.AlignCenter, "‹")
            painter.drawText(following, Qt.AlignmentFlag.AlignCenter, "›")
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(label, Qt.AlignmentFlag.AlignCenter, versions)
            self.arrow_rects[item.uid] = (previous, following)
            if is_user:
                footer_rect.setRight(x - 8)
            else:
                footer_rect.setLeft(x + width + 8)
        if footer:
            error = item.state == MessageState.ERROR
            painter.setPen(ERROR_COLOR if error else palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(footer_rect, align | Qt.AlignmentFlag.AlignVCenter, footer)
        painter.restore()

    @staticmethod
    def _draw_body(painter: QPainter, body: MessageDocuments, x: int, y: int) -> None:
        """Draw only the documents, and within them only the blocks, that are on screen.

        Most of a long reply is off screen: the first visible document is found by bisection and
        ``QTextDocument.drawContents`` with a clip rectangle paints only the blocks inside it (in
        the application palette's colours, which the theme sets).
        """
        device = QRectF(painter.clipBoundingRect()) if painter.hasClipping() else QRectF(painter.window())
        visible = painter.transform().inverted()[0].mapRect(device)
        first = max(0, bisect.bisect_right(body.offsets, visible.top() - y) - 1)
        for index in range(first, len(body.documents)):
            top = y + body.offsets[index]
            if top > visible.bottom():
                break
            document = body.documents[index]
            clip = QRectF(0, 0, document.textWidth(), document.size().height()).intersected(
                visible.translated(-x, -top)
            )
            if clip.isEmpty():
                continue
            painter.translate(x, top)
            document.drawContents(painter, clip)
            painter.translate(-x, -top)


def _small_font(font: QFont) -> QFont:
    small = QFont(font)
    small.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
    return small


def _line_height(font: QFont) -> int:
    return QFontMetrics(font).height() + 2


class ChatView(QTableView):
    """Shows a ChatModel; keeps following the newest text while the user is at the bottom."""

    version_requested = Signal(int, int)  # row, -1 (previous) or +1 (next)
    menu_requested = Signal(int, QPoint)  # row, global position
    edit_submitted = Signal(int, str)  # row, the new text of a message edited in place

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.message_delegate = MessageDelegate(self)
        self.setItemDelegate(self.message_delegate)
        self.setShowGrid(False)
        self.setWordWrap(True)
        self.setFrameShape(QTableView.Shape.NoFrame)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # Double-click or F2 on a message of yours edits it in place (the model says which rows may be edited).
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.message_delegate.edit_submitted.connect(self.edit_submitted)
        self.message_delegate.closeEditor.connect(self._editor_closed)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.verticalScrollBar().setSingleStep(24)
        self.horizontalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().hide()
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setMinimumSectionSize(1)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._show_menu)
        copy = QAction("Copy message", self)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_selected)
        self.addAction(copy)
        self._copy_action = copy
        self._layout_width = 0
        self._relayout_timer = QTimer(self, singleShot=True, interval=40)
        self._relayout_timer.timeout.connect(self.relayout_all)

    def initViewItemOption(self, option: QStyleOptionViewItem) -> None:
        """No highlight colour in the options: the style would fill a selected row edge to edge with it.

        A selected message gets an outline from the delegate instead.
        """
        super().initViewItemOption(option)
        for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
            option.palette.setColor(group, QPalette.ColorRole.Highlight, Qt.GlobalColor.transparent)

    def setModel(self, model) -> None:
        old = self.model()
        if old is not None:
            old.rowsInserted.disconnect(self._rows_inserted)
            old.dataChanged.disconnect(self._data_changed)
            old.modelReset.disconnect(self.relayout_all)
        super().setModel(model)
        model.rowsInserted.connect(self._rows_inserted)
        model.dataChanged.connect(self._data_changed)
        model.modelReset.connect(self.relayout_all)
        self.relayout_all()

    def _text_width(self) -> int:
        return self.viewport().width()

    def _set_heights(self, first: int, last: int) -> None:
        model, width = self.model(), self._text_width()
        palette, font = self.palette(), self.font()
        header = self.verticalHeader()
        for row in range(first, last + 1):
            height = self.message_delegate.row_height(model.index(row, 0), width, palette, font)
            if header.sectionSize(row) != height:
                header.resizeSection(row, height)

    def relayout_all(self) -> None:
        model = self.model()
        if model is None:
            return
        self._layout_width = self._text_width()
        at_bottom = self._at_bottom()
        keep = {model.index(r, 0).data(ChatRoles.ITEM).uid for r in range(model.rowCount())}
        self.message_delegate.forget(keep)
        if model.rowCount():
            self._set_heights(0, model.rowCount() - 1)
        if at_bottom:
            self.scroll_to_end()

    def _rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        self._set_heights(first, last)
        self.scroll_to_end()

    def _data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, _roles=()) -> None:
        at_bottom = self._at_bottom()
        self._set_heights(top_left.row(), bottom_right.row())
        if at_bottom:
            self.scroll_to_end()

    def _at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def scroll_to_end(self) -> None:
        self.updateGeometries()  # row resizes otherwise reach the scroll bar on the next timer tick
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._text_width() != self._layout_width:
            self._relayout_timer.start()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.message_delegate.forget(set())
            self._relayout_timer.start()

    def start_editing(self, row: int) -> bool:
        """Open the in-place editor on a message of yours; False where that row cannot be edited now."""
        index = self.model().index(row, 0)
        if not self.model().flags(index) & Qt.ItemFlag.ItemIsEditable:
            return False
        self.setCurrentIndex(index)
        self.edit(index)
        self._set_heights(row, row)
        self.updateEditorGeometries()
        self.scrollTo(index)
        return self.state() == QAbstractItemView.State.EditingState

    def editor(self) -> MessageEditor | None:
        """The open in-place editor, if any."""
        return self.viewport().findChild(MessageEditor)

    def _editor_closed(self, _editor, _hint) -> None:
        self.message_delegate.editing_uid = None
        index = self.currentIndex()
        if index.isValid():
            self._set_heights(index.row(), index.row())

    def copy_selected(self) -> None:
        indexes = self.selectionModel().selectedRows() if self.selectionModel() else []
        if indexes:
            QGuiApplication.clipboard().setText(indexes[0].data(Qt.ItemDataRole.DisplayRole) or "")

    def _show_menu(self, position) -> None:
        index = self.indexAt(position)
        if index.isValid():
            self.selectRow(index.row())
            self.menu_requested.emit(index.row(), self.viewport().mapToGlobal(position))

    def mousePressEvent(self, event) -> None:
        index = self.indexAt(event.position().toPoint())
        if index.isValid() and event.button() == Qt.MouseButton.LeftButton:
            rects = self.message_delegate.arrow_rects.get(index.data(ChatRoles.ITEM).uid)
            if rects is not None:
                for step, rect in zip((-1, 1), rects, strict=True):
                    if rect.adjusted(-4, -4, 4, 4).contains(event.position().toPoint()):
                        self.version_requested.emit(index.row(), step)
                        return
        super().mousePressEvent(event)
