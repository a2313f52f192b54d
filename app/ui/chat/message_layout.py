"""Markdown layout of one message as a column of pieces: Markdown documents and code blocks.

Prose goes to QTextDocument's Markdown reader; fenced code becomes a ``CodeBlockView`` (header,
Copy, Pygments colours, sideways scrolling). A message that is still streaming is cut into chunks
at blank lines outside code fences and at the fences themselves: every finished chunk is laid out
once and never touched again, and only the open tail is laid out again when text arrives. A code
block is coloured once, when its closing fence arrives; the open tail is shown plain. Appending
text therefore costs the size of the tail, not of the message; when the reply finishes it is laid
out once more as a whole.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from PySide6.QtCore import QRectF
from PySide6.QtGui import (
    QBrush,
    QFont,
    QPainter,
    QPalette,
    QTextCursor,
    QTextDocument,
    QTextFrame,
    QTextFrameFormat,
    QTextTable,
)

from app.core.rendering.fences import Fence, closes, opening_fence, split_fences
from app.ui.chat.code_blocks import CodeBlockView

MARKDOWN = QTextDocument.MarkdownFeature.MarkdownDialectGitHub
CHUNK_GAP = 8  # pixels between two pieces of prose (a paragraph's spacing)
CODE_GAP = 12  # pixels above and below a code block


@dataclass
class Piece:
    top: int
    height: int
    document: QTextDocument | None = None  # prose
    code: CodeBlockView | None = None  # or a code block


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

    @property
    def documents(self) -> list[QTextDocument]:
        """Every piece's text document (a code block's is its code)."""
        return [piece.code.document if piece.code is not None else piece.document for piece in self.pieces]  # type: ignore[misc]

    @property
    def code_blocks(self) -> list[CodeBlockView]:
        return [piece.code for piece in self.pieces if piece.code is not None]

    def update(self, text: str, *, streaming: bool, suffix: str = "") -> None:
        if not (self.markdown and streaming):
            self._whole(text + suffix)
            return
        if not self._streaming or len(text) < self._text_len:
            self._reset()
        self._streaming, self._text_len = True, len(text)
        safe = self._advance(text)
        del self.pieces[self._frozen_pieces :], self.offsets[self._frozen_pieces :]
        self.height = self._frozen_height
        if safe > self._frozen_chars:
            self._add_text(text[self._frozen_chars : safe], final=True)
            self._frozen_chars, self._frozen_pieces, self._frozen_height = safe, len(self.pieces), self.height
        self._add_text(text[self._frozen_chars :] + suffix, final=False)

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

    def _whole(self, text: str) -> None:
        scrolls = [code.scroll_x for code in self.code_blocks]
        self._reset()
        if self.markdown:
            self._add_text(text, final=True)
        else:
            self._add_document(self._plain(text))
        for code, scroll_x in zip(self.code_blocks, scrolls, strict=False):
            code.scroll_to(scroll_x)  # a finished reply keeps where its blocks were scrolled to
        if not self.markdown:  # only a plain bubble (yours) is as wide as its text
            self.ideal_width = int(self.pieces[0].document.idealWidth()) + 1  # type: ignore[union-attr]

    def _reset(self) -> None:
        self.pieces, self.offsets = [], []
        self.height = self._frozen_height = self._frozen_chars = self._frozen_pieces = self._scan_pos = 0
        self._text_len = 0
        self._fence, self._streaming = None, False

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

    def _add_document(self, document: QTextDocument) -> None:
        self._add(Piece(0, int(document.size().height()), document=document))

    def _add(self, piece: Piece) -> None:
        if self.pieces:
            code_near = piece.code is not None or self.pieces[-1].code is not None
            piece.top = self.height + (CODE_GAP if code_near else CHUNK_GAP)
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

    def _plain(self, text: str) -> QTextDocument:
        document = self._new_document()
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
