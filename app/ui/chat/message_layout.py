"""Markdown layout of one message as a column of pieces: Markdown documents and code blocks.

Prose goes to QTextDocument's Markdown reader; fenced code becomes a ``CodeBlockView`` (header,
Copy, Pygments colours, sideways scrolling). A message that is still streaming is cut into chunks
at blank lines outside code fences and at the fences themselves: every finished chunk is laid out
once and never touched again, and only the open tail is laid out again when text arrives. A code
block is coloured once, when its closing fence arrives; the open tail is shown plain. Appending
text therefore costs the size of the tail, not of the message; when the reply finishes it is laid
out once more as a whole.

Big or hostile text (``app.core.rendering.big_text``) is laid out as the core's plan says: cut for display
(long lines, the message past a cap) with a "Show all" line under it, in blocks of a few milliseconds each,
plain where Markdown would be too costly. ``update`` lays out the first blocks (``budget_s``); the view lays
out the rest a few per turn of its event loop (``resume``), the height of what is left estimated meanwhile.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QFont,
    QFontMetrics,
    QPainter,
    QPalette,
    QTextCursor,
    QTextDocument,
    QTextFrame,
    QTextFrameFormat,
    QTextOption,
    QTextTable,
)

from app.core.rendering import big_text
from app.core.rendering.fences import Fence, closes, opening_fence, split_fences
from app.ui.chat.code_blocks import CodeBlockView

MARKDOWN = QTextDocument.MarkdownFeature.MarkdownDialectGitHub
CHUNK_GAP = 8  # pixels between two pieces of prose (a paragraph's spacing)
CODE_GAP = 12  # pixels above and below a code block
FRAME_BUDGET_S = 0.004  # layout of a big message's blocks per turn of the event loop (at least one block)


@dataclass
class Piece:
    top: int
    height: int
    document: QTextDocument | None = None  # prose
    code: CodeBlockView | None = None  # or a code block
    flush: bool = False  # a plain piece of a planned message: no gap above it when the piece before is one too


@dataclass
class MessageDocuments:
    """The pieces of one message at one width; ``update`` feeds it the message's text."""

    width: int
    font: QFont
    palette: QPalette
    markdown: bool = True
    pieces: list[Piece] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # top of each piece
    height: int = 0
    ideal_width: int = 0
    _frozen_chars: int = 0  # text already laid out in finished chunks ...
    _frozen_pieces: int = 0  # ... as this many pieces
    _frozen_height: int = 0
    _scan_pos: int = 0  # where the search for the next chunk boundary resumes
    _fence: Fence | None = None  # the code fence open at _scan_pos
    _streaming: bool = False
    _text_len: int = 0
    hidden: int = 0  # characters not shown ("Show all" shows them)
    _pending: Iterator[big_text.Block] | None = None  # a big message's blocks not laid out yet ...
    _pending_chars: int = 0  # ... holding this many characters
    _laid_height: int = 0  # the height of what is laid out (``height`` adds an estimate of what is pending)

    @property
    def pending(self) -> bool:
        return self._pending is not None

    @property
    def documents(self) -> list[QTextDocument]:
        """Every piece's text document (a code block's is its code)."""
        return [piece.code.document if piece.code is not None else piece.document for piece in self.pieces]  # type: ignore[misc]

    @property
    def code_blocks(self) -> list[CodeBlockView]:
        return [piece.code for piece in self.pieces if piece.code is not None]

    def update(
        self, text: str, *, streaming: bool, suffix: str = "", show_all: bool = False, budget_s: float | None = None
    ) -> None:
        """Lay out ``text``; a big one in blocks for ``budget_s`` seconds (None: all of them now), see ``resume``."""
        if not (self.markdown and streaming):
            self._whole(text + suffix, show_all=show_all, budget_s=budget_s)
            return
        if not self._streaming or len(text) < self._text_len:
            self._reset()
        self._streaming, self._text_len = True, len(text)
        safe = self._advance(text)
        del self.pieces[self._frozen_pieces :], self.offsets[self._frozen_pieces :]
        self.height = self._frozen_height
        if safe > self._frozen_chars:
            chunk = text[self._frozen_chars : safe]
            if big_text.needs_plan(chunk, markdown=True):  # a whole big chunk arrived at once: cut, never parsed
                self._add_blocks(big_text.plan(chunk, markdown=True).blocks)
            else:
                self._add_text(chunk, final=True)
            self._frozen_chars, self._frozen_pieces, self._frozen_height = safe, len(self.pieces), self.height
        tail = text[self._frozen_chars :]
        if big_text.needs_plan(tail, markdown=True):  # a long open line (or costly Markdown): its start, plain
            self._add_blocks(big_text.plan(tail, markdown=False, cap=big_text.STREAMING_CAP).blocks)
            if suffix.strip():
                self._add_document(self._plain(suffix.strip()))
        else:
            self._add_text(tail + suffix, final=False)
        self._laid_height = self.height

    def resume(self, budget_s: float | None) -> bool:
        """Lay out more of a big message's blocks, for about ``budget_s`` seconds (None: all); True if some are left."""
        started = time.perf_counter()
        self.height = self._laid_height
        while self._pending is not None:
            block = next(self._pending, None)
            if block is None:
                self._pending, self._pending_chars = None, 0
                break
            self._add_block(block)
            self._pending_chars -= len(block.text)
            if budget_s is not None and time.perf_counter() - started >= budget_s:
                break
        self._laid_height = self.height
        if self._pending is not None:
            self.height += self._estimate(self._pending_chars)
        if self.hidden:
            self.height += CHUNK_GAP + self._link_height()
        return bool(self._pending)

    def show_all_rect(self) -> QRectF | None:
        """The "Show all" line under a cut message (message coordinates), or None when all of it is shown."""
        if not self.hidden:
            return None
        line = self._link_height()
        return QRectF(0, self.height - line, QFontMetrics(self.font).horizontalAdvance(self.show_all_label()) + 8, line)

    def show_all_label(self) -> str:
        return f"Show all ({self.hidden:,} more characters)"

    def piece_at(self, y: float) -> tuple[int, Piece] | None:
        """The piece under ``y`` (in the message's coordinates), if any."""
        index = bisect.bisect_right(self.offsets, y) - 1
        if index < 0:
            return None
        piece = self.pieces[index]
        return (index, piece) if y < piece.top + piece.height else None

    def paint(self, painter: QPainter, x: int, y: int, palette: QPalette) -> None:
        """Draw only the pieces, and within them only the lines, that are on screen.

        Most of a long reply is off screen: the first visible piece is found by bisection and
        ``QTextDocument.drawContents`` with a clip rectangle paints only the blocks inside it (in
        the application palette's colours, which the theme sets).
        """
        device = QRectF(painter.clipBoundingRect()) if painter.hasClipping() else QRectF(painter.window())
        visible = painter.transform().inverted()[0].mapRect(device)
        first = max(0, bisect.bisect_right(self.offsets, visible.top() - y) - 1)
        for piece in self.pieces[first:]:
            top = y + piece.top
            if top > visible.bottom():
                break
            if piece.code is not None:
                if top + piece.height >= visible.top():
                    piece.code.paint(painter, x, top, visible, palette)
                continue
            document = piece.document
            assert document is not None
            clip = QRectF(0, 0, document.textWidth(), piece.height).intersected(visible.translated(-x, -top))
            if clip.isEmpty():
                continue
            painter.translate(x, top)
            document.drawContents(painter, clip)
            painter.translate(-x, -top)
        link = self.show_all_rect()
        if link is not None:
            painter.save()
            painter.setFont(self.font)
            painter.setPen(palette.color(QPalette.ColorRole.Link))
            painter.drawText(
                link.translated(x, y), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.show_all_label()
            )
            painter.restore()

    def _whole(self, text: str, *, show_all: bool = False, budget_s: float | None = None) -> None:
        scrolls = [code.scroll_x for code in self.code_blocks]
        self._reset()
        if big_text.needs_plan(text, markdown=self.markdown):
            planned = big_text.plan(text, markdown=self.markdown, show_all=show_all)
            self.hidden, self._pending, self._pending_chars = planned.hidden, planned.blocks, planned.shown
            self.resume(budget_s)
            self.ideal_width = self.width
        elif self.markdown:
            self._add_text(text, final=True)
        else:
            self._add_document(self._plain(text))
        for code, scroll_x in zip(self.code_blocks, scrolls, strict=False):
            code.scroll_to(scroll_x)  # a finished reply keeps where its blocks were scrolled to
        if not self.markdown and len(self.pieces) == 1:  # a plain bubble (yours) is as wide as its text
            self.ideal_width = int(self.pieces[0].document.idealWidth()) + 1  # type: ignore[union-attr]
        self._laid_height = self.height

    def _reset(self) -> None:
        self.pieces, self.offsets = [], []
        self.height = self._frozen_height = self._frozen_chars = self._frozen_pieces = self._scan_pos = 0
        self._text_len = self.hidden = self._laid_height = 0
        self._fence, self._streaming = None, False
        self._pending, self._pending_chars = None, 0

    def _advance(self, text: str) -> int:
        """Scan the new complete lines; return where the last finished chunk ends.

        A chunk ends at a blank line outside code, before a code fence opens, and after it closes.
        """
        safe = self._frozen_chars
        position = self._scan_pos
        while (end := text.find("\n", position)) >= 0:
            line = text[position:end].rstrip("\r")
            if self._fence is not None:
                if closes(line, self._fence):
                    self._fence, safe = None, end + 1
            elif (fence := opening_fence(line)) is not None:
                self._fence = fence
                if position > self._frozen_chars:
                    safe = position
            elif not line.strip() and position > self._frozen_chars:
                safe = end + 1
            position = end + 1
        self._scan_pos = position
        return safe

    def _add_text(self, text: str, *, final: bool) -> None:
        for segment in split_fences(text):
            if not segment.code:
                self._add_document(self._markdown(segment.text))
                continue
            code = CodeBlockView.build(
                segment.text,
                segment.language,
                closed=segment.closed and final,
                width=self.width,
                font=self.font,
                palette=self.palette,
            )
            self._add(Piece(0, code.height, code=code))

    def _add_blocks(self, blocks: Iterable[big_text.Block]) -> None:
        for block in blocks:
            self._add_block(block)

    def _add_block(self, block: big_text.Block) -> None:
        if block.kind == "markdown":
            self._add_document(self._markdown(block.text))
        elif block.kind == "code":
            code = CodeBlockView.build(
                block.text, block.language, closed=block.closed, width=self.width, font=self.font, palette=self.palette
            )
            self._add(Piece(0, code.height, code=code))
        else:
            self._add_document(self._plain(block.text, anywhere=block.anywhere), flush=True)

    def _estimate(self, chars: int) -> int:
        """The height of ``chars`` characters not laid out yet, from their number (no layout)."""
        metrics = QFontMetrics(self.font)
        per_line = max(1, self.width // max(1, metrics.averageCharWidth()))
        return (1 + chars // per_line) * metrics.lineSpacing()

    def _link_height(self) -> int:
        return QFontMetrics(self.font).height() + 4

    def _add_document(self, document: QTextDocument, *, flush: bool = False) -> None:
        self._add(Piece(0, int(document.size().height()), document=document, flush=flush))

    def _add(self, piece: Piece) -> None:
        if self.pieces:
            code_near = piece.code is not None or self.pieces[-1].code is not None
            gap = 0 if piece.flush and self.pieces[-1].flush else CHUNK_GAP
            piece.top = self.height + (CODE_GAP if code_near else gap)
        self.pieces.append(piece)
        self.offsets.append(piece.top)
        self.height = piece.top + piece.height

    def _markdown(self, text: str) -> QTextDocument:
        document = self._new_document()
        document.setMarkdown(text, MARKDOWN)
        if "    " in text or "\t" in text:
            _wrap_indented_code(document, self.palette)
        if "|" in text:
            _style_tables(document, self.palette)
        document.setTextWidth(self.width)
        return document

    def _plain(self, text: str, *, anywhere: bool = False) -> QTextDocument:
        document = self._new_document()
        if anywhere:  # a long run without spaces: Qt's word wrap would look for a break at every line (seconds)
            option = document.defaultTextOption()
            option.setWrapMode(QTextOption.WrapMode.WrapAnywhere)
            document.setDefaultTextOption(option)
        document.setPlainText(text)
        document.setTextWidth(self.width)
        return document

    def _new_document(self) -> QTextDocument:
        document = QTextDocument()
        document.setDefaultFont(self.font)
        document.setDocumentMargin(0)
        return document


def _wrap_indented_code(document: QTextDocument, palette: QPalette) -> None:
    """An indented code block (no fence) is shaded and wraps: nothing is cut off at the edge."""
    shade = palette.color(QPalette.ColorRole.AlternateBase)
    block = document.begin()
    while block.isValid():
        block_format = block.blockFormat()
        if block_format.nonBreakableLines():
            block_format.setBackground(shade)
            block_format.setNonBreakableLines(False)
            QTextCursor(block).setBlockFormat(block_format)
        block = block.next()


def _style_tables(document: QTextDocument, palette: QPalette) -> None:
    """Tables: header cells aligned like their column (Qt leaves them left), a shaded header row, room in the cells."""
    border = palette.color(QPalette.ColorRole.Mid)
    shade = palette.color(QPalette.ColorRole.AlternateBase)
    frames: list[QTextFrame] = [document.rootFrame()]
    while frames:
        frame = frames.pop()
        frames.extend(frame.childFrames())
        if not isinstance(frame, QTextTable):
            continue
        table_format = frame.format()
        table_format.setCellPadding(5)
        table_format.setCellSpacing(0)
        table_format.setBorderCollapse(True)
        table_format.setBorder(1)
        table_format.setBorderBrush(QBrush(border))
        table_format.setBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_Solid)
        frame.setFormat(table_format)
        for column in range(frame.columns()):
            header = frame.cellAt(0, column)
            cell_format = header.format()
            cell_format.setBackground(shade)
            header.setFormat(cell_format)
            if frame.rows() < 2:
                continue
            alignment = frame.cellAt(1, column).firstCursorPosition().blockFormat().alignment()
            cursor = header.firstCursorPosition()
            block_format = cursor.blockFormat()
            block_format.setAlignment(alignment)
            cursor.setBlockFormat(block_format)
