"""The chat transcript: a table view of one column whose row heights the view sets itself.

A QListView re-asks every row's size when one row grows, which makes streaming O(chat length).
Here each row's height is computed once per change of that row (or of the view's width) and set
on the vertical header, so appending text to the last message costs the same in a chat of 10
messages or of 10,000.

A message's actions (copy, edit, regenerate, continue) show over it on hover, and over the
current message while the view has the keyboard focus (Tab reaches them; each has a shortcut).
Code blocks answer the mouse themselves: Copy, and sideways scrolling of long lines.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics, QGuiApplication, QPalette
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyleOptionViewItem, QTableView

from app.core.rendering.highlight import warm_up
from app.ui.chat import view_keys
from app.ui.chat.big_messages import PendingLayouts, show_all, show_all_at, show_all_key
from app.ui.chat.chat_input import MessageEditor
from app.ui.chat.chat_model import ChatItem, ChatRoles
from app.ui.chat.code_blocks import CodeBlockView
from app.ui.chat.message_actions import MessageActionBar, available
from app.ui.chat.message_delegate import H_MARGIN, PADDING, Geometry, MessageDelegate, small_font, stats_line
from app.ui.chat.row_heights import RowHeights
from app.ui.chat.thought_block import thought_key, toggle_thought
from app.ui.chat.view_hits import CLICKABLE, Hit, HitKind, hit_in

__all__ = ["ChatView", "Hit", "HitKind", "stats_line"]
COPIED_MS = 1500  # how long a code block's header says "Copied"
WARM_UP_MS = 3000  # after start-up: Pygments is ready before the first reply with code
WHEEL_STEP = 40  # pixels a code block scrolls sideways per wheel notch


class ChatView(QTableView):
    """Shows a ChatModel; keeps following the newest text while the user is at the bottom."""

    version_requested = Signal(int, int)  # row, -1 (previous) or +1 (next)
    menu_requested = Signal(int, QPoint)  # row, global position
    edit_submitted = Signal(int, str)  # row, the new text of a message edited in place
    edit_requested = Signal(int)  # row; when nothing listens, the view opens the editor itself
    regenerate_requested = Signal(int)  # row (the last reply)
    continue_requested = Signal(int)  # row (the last reply, stopped or cut short)
    copied = Signal(str)  # what went to the clipboard (a message or a code block)
    image_clicked = Signal(int, int)  # row, which of its images: show it at full size
    source_clicked = Signal(int, int)  # row, which of the reply's sources: open the passage

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.message_delegate = MessageDelegate(self)
        self.setItemDelegate(self.message_delegate)
        self.row_heights = RowHeights(self, self.message_delegate)  # exact near the viewport, estimated elsewhere
        self.pending_layouts = PendingLayouts(self)  # big messages: the rest of their blocks, a frame's worth a turn
        self.setShowGrid(False)
        self.setWordWrap(True)
        self.setFrameShape(QTableView.Shape.NoFrame)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setTabKeyNavigation(False)  # Tab leaves the transcript (to the message's actions), arrows move in it
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
        self.setMouseTracking(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._show_menu)
        self.setAccessibleName("Conversation")
        self.actions_bar = MessageActionBar(self.viewport())
        self.actions_bar.hide()
        self.actions_bar.triggered.connect(lambda name: self.trigger(name, self.actions_bar.row))
        self._actions_timer = QTimer(self, singleShot=True, interval=0)  # after the focus has landed
        self._actions_timer.timeout.connect(self._update_actions)
        self.actions_bar.focus_left.connect(self._actions_timer.start)
        self.key_actions = view_keys.key_actions(self)  # the menu bar's too (Edit, View, Chat)
        self._copy_action = self.key_actions["copy"]
        self._hover_row = -1
        self._drag: tuple[CodeBlockView, int, float] | None = None  # block, row, grab offset in the thumb
        self._copied_timer = QTimer(self, singleShot=True, interval=COPIED_MS)
        self._copied_timer.timeout.connect(self._clear_copied)
        self._copied_block: CodeBlockView | None = None
        self._layout_width = 0
        self._relayout_timer = QTimer(self, singleShot=True, interval=40)
        self._relayout_timer.timeout.connect(self.relayout_all)
        QTimer.singleShot(WARM_UP_MS, self, warm_up)  # when idle, not when the first code block arrives

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
        self.selectionModel().currentRowChanged.connect(lambda *_: self._update_actions())
        self.relayout_all()

    def _text_width(self) -> int:
        return self.viewport().width()

    def _set_heights(self, first: int, last: int) -> None:
        self.row_heights.set_rows(first, last, self._text_width())
        if self.actions_bar.isVisible():
            self._update_actions()

    def relayout_all(self) -> None:
        model = self.model()
        if model is None:
            return
        at_bottom = self._at_bottom()
        keep = {item.uid for item in self.row_heights.items()}
        self.message_delegate.forget(keep)
        self._drag = None
        for _ in range(2):  # again if the scroll bar came or went meanwhile (the width changed)
            self._layout_width = self._text_width()
            self.message_delegate.forget_widths(self._layout_width)
            if model.rowCount():
                self._set_heights(0, model.rowCount() - 1)
            if at_bottom:
                self.scroll_to_end()
            self.row_heights.refine(self._layout_width)
            if self._text_width() == self._layout_width:
                break
        self._update_actions()

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

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self.row_heights.refine(self._text_width())
        if self.actions_bar.isVisible():
            self._update_actions()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._text_width() != self._layout_width:
            self.row_heights.refine(self._text_width())  # what is on screen now, the rest when resizing pauses
            self._relayout_timer.start()
        elif event.size().height() > event.oldSize().height():
            self.row_heights.refine(self._layout_width)  # rows that came into view

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.message_delegate.forget(set())
            self._relayout_timer.start()

    # where things are
    def item(self, row: int) -> ChatItem:
        return self.model().index(row, 0).data(ChatRoles.ITEM)

    def message_geometry(self, row: int) -> Geometry:
        """Where the parts of a message are now, in viewport coordinates."""
        index = self.model().index(row, 0)
        item = index.data(ChatRoles.ITEM)
        layout = self.message_delegate.layout(item, self._text_width(), self.palette(), self.font())
        return self.message_delegate.geometry(item, layout, self.visualRect(index), self.font())

    def code_block_origin(self, row: int, number: int) -> tuple[CodeBlockView, QPoint]:
        """A message's ``number``-th code block (from 0) and its top left in viewport coordinates."""
        where = self.message_geometry(row)
        body = self.message_delegate.layout(self.item(row), self._text_width(), self.palette(), self.font()).body
        piece = [piece for piece in body.pieces if piece.code is not None][number]
        assert piece.code is not None
        return piece.code, QPoint(where.body_x, where.body_y + piece.top)

    def hit(self, position: QPoint) -> Hit | None:
        index = self.indexAt(position)
        if not index.isValid():
            return None
        row = index.row()
        item = self.item(row)
        body = self.message_delegate.layout(item, self._text_width(), self.palette(), self.font()).body
        return hit_in(row, position, self.message_geometry(row), body, bool(item.citations))

    # actions
    def trigger(self, name: str, row: int | None = None) -> bool:
        """Run one of a message's actions (the current message by default); False where it cannot run now."""
        if row is None:
            row = self.model().rowCount() - 1 if name in ("regenerate", "continue") else self.currentIndex().row()
        if not 0 <= row < self.model().rowCount():
            return False
        if not self._offered(row).get(name, False):
            return False
        if name == "copy":
            self._copy(self.item(row).text)
        elif name == "edit":
            if self.isSignalConnected(self.metaObject().method(self.metaObject().indexOfSignal("edit_requested(int)"))):
                self.edit_requested.emit(row)
            else:
                self.start_editing(row)
        elif name == "regenerate":
            self.regenerate_requested.emit(row)
        elif name == "continue":
            self.continue_requested.emit(row)
        return True

    def _offered(self, row: int) -> dict[str, bool]:
        busy = bool(getattr(self.model(), "streaming", False))
        return available(self.item(row), last=row == self.model().rowCount() - 1, busy=busy)

    def row_for(self, name: str) -> int:
        """The message an action from the menu bar acts on: the one in focus, else the last that offers it."""
        return view_keys.row_for(self, name)

    def switch_version(self, row: int, step: int) -> None:
        """Ask for another version of a message; the message stays the current one (Alt+→ again goes on)."""
        self.version_requested.emit(row, step)
        model = self.model()
        if model is not None and 0 <= row < model.rowCount():
            self.setCurrentIndex(model.index(row, 0))
            self._update_actions()

    def refresh_actions(self) -> None:
        """A reply started or ended: the action bar shows what can run now (Regenerate after Esc, say)."""
        self._update_actions()

    def _update_actions(self) -> None:
        """Show the action bar over the hovered message, else over the current one while we have the focus."""
        bar = self.actions_bar
        model = self.model()
        row = self._hover_row
        if row < 0 and (self.hasFocus() or bar.has_focus_inside()):
            row = self.currentIndex().row()
        if model is None or not 0 <= row < model.rowCount() or self.state() == QAbstractItemView.State.EditingState:
            bar.hide()
            return
        where = self.message_geometry(row)
        bar.show_for(row, self._offered(row))
        item = self.item(row)
        if item.role == "user":
            you = QFontMetrics(small_font(self.font())).horizontalAdvance("You")
            x = where.header.right() - you - 12 - bar.width()
        else:
            x = where.bubble.right() - PADDING + 1 - bar.width()  # flush with the text's right edge
        bar.move(max(H_MARGIN, x), where.header.top() + (where.header.height() - bar.height()) // 2)

    def focusInEvent(self, event) -> None:
        super().focusInEvent(event)
        if not self.currentIndex().isValid() and self.model() is not None and self.model().rowCount():
            self.setCurrentIndex(self.model().index(self.model().rowCount() - 1, 0))
        self._update_actions()

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self._actions_timer.start()  # the focus may have gone to the action bar

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        if not self.actions_bar.underMouse():
            self._hover_row = -1
            self._update_actions()

    # the mouse
    def mouseMoveEvent(self, event) -> None:
        position = event.position().toPoint()
        if self._drag is not None:
            code, row, grab = self._drag
            if code.scroll_to(code.scroll_for_thumb(position.x() - grab)):
                self._update_row(row)
            return
        hit = self.hit(position)
        row = hit.row if hit is not None else -1
        pointing = hit is not None and hit.kind in CLICKABLE
        self.viewport().setCursor(Qt.CursorShape.PointingHandCursor if pointing else Qt.CursorShape.ArrowCursor)
        if row != self._hover_row:
            self._hover_row = row
            self._update_actions()
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event) -> None:
        position = event.position().toPoint()
        hit = self.hit(position) if event.button() == Qt.MouseButton.LeftButton else None
        shown = show_all_at(self, position) if event.button() == Qt.MouseButton.LeftButton else None
        if shown is not None and show_all(self, shown):
            return
        if hit is not None and hit.kind in (HitKind.PREVIOUS, HitKind.NEXT):
            self.switch_version(hit.row, -1 if hit.kind == HitKind.PREVIOUS else 1)
            return
        if hit is not None and hit.kind == HitKind.THOUGHT:
            toggle_thought(self, hit.row)
            return
        if hit is not None and hit.kind == HitKind.IMAGE:
            self.image_clicked.emit(hit.row, hit.image)
            return
        if hit is not None and hit.kind == HitKind.SOURCE:
            self.source_clicked.emit(hit.row, hit.image)
            return
        if hit is not None and hit.code is not None and hit.origin is not None:
            code, local = hit.code, position - hit.origin
            if hit.kind == HitKind.COPY:
                self.copy_code(hit.row, code)
                return
            if hit.kind == HitKind.THUMB:
                thumb = code.thumb_rect()
                assert thumb is not None
                self._drag = (code, hit.row, float(hit.origin.x() + local.x() - thumb.left()))
                return
            if hit.kind == HitKind.TRACK:
                page = code.inner_width * (1 if local.x() > (code.thumb_rect() or QRect()).center().x() else -1)
                if code.scroll_to(code.scroll_x + page):
                    self._update_row(hit.row)
                return
        super().mousePressEvent(event)

    def keyPressEvent(self, event) -> None:
        # Enter/Space on a reply that thought shows or hides its reasoning; Enter on a cut message shows all of it;
        # Space on a message with images shows them
        if not thought_key(self, event) and not show_all_key(self, event) and not view_keys.images_key(self, event):
            super().keyPressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._drag is not None:
            self._drag = None
            return
        super().mouseReleaseEvent(event)

    def wheelEvent(self, event) -> None:
        """Sideways wheel (or Shift+wheel) over a code block scrolls its long lines."""
        delta = event.angleDelta()
        sideways = (
            delta.x() if delta.x() else (delta.y() if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 0)
        )
        hit = self.hit(event.position().toPoint()) if sideways else None
        if hit is not None and hit.code is not None and hit.code.max_scroll:
            if hit.code.scroll_to(hit.code.scroll_x - sideways * WHEEL_STEP / 120):
                self._update_row(hit.row)
            event.accept()
            return
        super().wheelEvent(event)

    def scroll_code(self, direction: int) -> None:
        """Shift+Left/Right: scroll the current message's wide code blocks sideways."""
        row = self.currentIndex().row()
        if row < 0 or self.state() == QAbstractItemView.State.EditingState:
            return
        body = self.message_delegate.layout(self.item(row), self._text_width(), self.palette(), self.font()).body
        moved = [code.scroll_to(code.scroll_x + direction * code.inner_width // 2) for code in body.code_blocks]
        if any(moved):
            self._update_row(row)

    def _update_row(self, row: int) -> None:
        self.viewport().update(self.visualRect(self.model().index(row, 0)))

    # copying
    def copy_code(self, row: int, code: CodeBlockView) -> None:
        """Put a code block's code on the clipboard, exactly; its header says "Copied" for a moment."""
        self._copy(code.code)
        self._clear_copied()
        code.copied, self._copied_block = True, code
        self._copied_timer.start()
        self._update_row(row)

    def _clear_copied(self) -> None:
        if self._copied_block is not None:
            self._copied_block.copied = False
            self._copied_block = None
            self.viewport().update()

    def _copy(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(text)

    def copy_row(self, row: int) -> None:
        self._copy(self.item(row).text)

    def copy_selected(self) -> None:
        indexes = self.selectionModel().selectedRows() if self.selectionModel() else []
        row = indexes[0].row() if indexes else self.currentIndex().row()
        if row >= 0:
            self._copy(self.item(row).text)

    # editing
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
        self._update_actions()
        return self.state() == QAbstractItemView.State.EditingState

    def editor(self) -> MessageEditor | None:
        """The open in-place editor, if any."""
        return self.viewport().findChild(MessageEditor)

    def _editor_closed(self, _editor, _hint) -> None:
        self.message_delegate.editing_uid = None
        index = self.currentIndex()
        if index.isValid():
            self._set_heights(index.row(), index.row())
        self._update_actions()

    def _show_menu(self, position: QPoint) -> None:
        index = self.indexAt(position)
        if not index.isValid() and self.currentIndex().isValid():  # the menu key: the current message
            index = self.currentIndex()
            position = self.visualRect(index).topLeft() + QPoint(H_MARGIN, H_MARGIN)
        if index.isValid():
            self.selectRow(index.row())
            self.menu_requested.emit(index.row(), self.viewport().mapToGlobal(position))
