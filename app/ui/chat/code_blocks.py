"""A fenced code block inside a message: a header (language, Copy), padded code that scrolls sideways.

Code is never wrapped and never clipped: a line wider than the block scrolls horizontally inside
it (sideways wheel or Shift+wheel, the thin scroll bar drawn under the code, or Shift+Left/Right on
the focused message). A closed block is coloured by
Pygments once, when it is first painted (colours change no geometry, so a long chat opens without
lexing code nobody looks at); a block still streaming is shown plain until its closing fence arrives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetrics,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextOption,
)

from app.core.rendering.highlight import PLAIN, Colour, highlight

HEADER_PAD = 6  # above and below the header's text
CODE_PAD = 12  # around the code
BAR_AREA = 12  # room under the code for the horizontal scroll bar, when one is needed
BAR_HEIGHT = 6
RADIUS = 6
COPY_LABEL, COPIED_LABEL = "Copy", "Copied"

# (header, body, border) for each colour scheme; the text itself uses the palette's colours
_LIGHT = ("#eaedf1", "#f6f8fa", "#d5dae0")
_DARK = ("#2f2f35", "#242428", "#3c3c43")


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def code_font(font: QFont) -> QFont:
    fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    size = font.pointSizeF()
    if size > 0:
        fixed.setPointSizeF(size * 0.95)
    return fixed


def header_font(font: QFont) -> QFont:
    small = QFont(font)
    small.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
    return small


@dataclass
class CodeBlockView:
    """The laid-out block at one width. Geometry methods answer in the block's own coordinates."""

    code: str  # exactly what Copy puts on the clipboard
    language: str
    closed: bool
    document: QTextDocument  # the code, unwrapped; coloured when closed
    width: int
    content_width: int
    header_height: int
    height: int
    label_font: QFont
    scroll_x: int = 0
    copied: bool = False  # "Copied" shows in the header for a moment after a copy
    dark: bool = False  # coloured for a dark background
    coloured: bool = False

    @classmethod
    def build(
        cls, code: str, language: str, *, closed: bool, width: int, font: QFont, palette: QPalette
    ) -> CodeBlockView:
        """Lay the code out plain; a closed block is coloured when it is first painted (``colour``)."""
        document = _document(code, code_font(font))
        label_font = header_font(font)
        header = QFontMetrics(label_font).height() + 2 * HEADER_PAD
        content = math.ceil(document.idealWidth())
        overflow = content > width - 2 * CODE_PAD
        height = header + 2 * CODE_PAD + math.ceil(document.size().height()) + (BAR_AREA if overflow else 0)
        block = cls(code, language, closed, document, width, content, header, height, label_font)
        block.dark = is_dark(palette)
        return block

    def colour(self) -> None:
        """Colour a closed block's code with Pygments, once (opening a long chat colours only what is seen)."""
        if self.coloured or not self.closed:
            return
        self.coloured = True
        cursor = QTextCursor(self.document)
        formats: dict[Colour, QTextCharFormat] = {}
        position = 0  # in UTF-16 units, as the document counts
        for run in highlight(self.document.toPlainText(), self.language, dark=self.dark):
            end = position + len(run.text.encode("utf-16-le")) // 2
            if run.colour != PLAIN:
                text_format = formats.get(run.colour)
                if text_format is None:
                    text_format = formats[run.colour] = _format(run.colour)
                cursor.setPosition(position)
                cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
                cursor.setCharFormat(text_format)
            position = end

    # geometry
    @property
    def inner_width(self) -> int:
        return max(1, self.width - 2 * CODE_PAD)

    @property
    def max_scroll(self) -> int:
        return max(0, self.content_width - self.inner_width)

    def code_rect(self) -> QRect:
        """Where the code is visible (the rest of it is reached by scrolling)."""
        return QRect(
            CODE_PAD, self.header_height + CODE_PAD, self.inner_width, math.ceil(self.document.size().height())
        )

    def copy_rect(self) -> QRect:
        metrics = QFontMetrics(self.label_font)
        width = metrics.height() + 6 + metrics.horizontalAdvance(COPIED_LABEL) + 2 * HEADER_PAD
        return QRect(self.width - width - 4, 0, width, self.header_height)

    def track_rect(self) -> QRect | None:
        if not self.max_scroll:
            return None
        return QRect(CODE_PAD, self.height - BAR_AREA + (BAR_AREA - BAR_HEIGHT) // 2 - 2, self.inner_width, BAR_HEIGHT)

    def thumb_rect(self) -> QRect | None:
        track = self.track_rect()
        if track is None:
            return None
        width = max(24, track.width() * self.inner_width // self.content_width)
        left = track.left() + round((track.width() - width) * self.scroll_x / self.max_scroll)
        return QRect(left, track.top(), width, track.height())

    def scroll_to(self, x: float) -> bool:
        """Scroll the code sideways; False when nothing moved."""
        value = int(min(max(0.0, x), self.max_scroll))
        changed, self.scroll_x = value != self.scroll_x, value
        return changed

    def scroll_for_thumb(self, thumb_left: float) -> float:
        """The scroll position that puts the thumb's left edge at ``thumb_left``."""
        track, thumb = self.track_rect(), self.thumb_rect()
        if track is None or thumb is None or track.width() == thumb.width():
            return 0.0
        return (thumb_left - track.left()) * self.max_scroll / (track.width() - thumb.width())

    # painting
    def paint(self, painter: QPainter, x: int, y: int, visible: QRectF, palette: QPalette) -> None:
        """The frame comes from two cached pictures (antialiased corners are costly to draw every frame)."""
        dark = is_dark(palette)
        _header, body_colour, border_colour = (QColor(c) for c in (_DARK if dark else _LIGHT))
        ratio = painter.device().devicePixelRatioF() if painter.device() is not None else 1.0
        painter.drawPixmap(x, y, _header_picture(self, palette, ratio))
        middle = QRect(x, y + self.header_height, self.width, self.height - self.header_height - RADIUS)
        painter.fillRect(middle, body_colour)
        painter.fillRect(QRect(middle.left(), middle.top(), 1, middle.height()), border_colour)
        painter.fillRect(QRect(middle.right(), middle.top(), 1, middle.height()), border_colour)
        painter.drawPixmap(x, middle.bottom() + 1, _bottom_picture(self.width, dark, ratio))

        code = self.code_rect().translated(x, y)
        painter.save()
        painter.setClipRect(code, Qt.ClipOperation.IntersectClip)
        origin_x = code.left() - self.scroll_x
        painter.translate(origin_x, code.top())
        clip = QRectF(self.scroll_x, 0, code.width(), code.height()).intersected(
            visible.translated(-origin_x, -code.top())
        )
        if not clip.isEmpty():
            self.colour()
            self.document.drawContents(painter, clip)
        painter.restore()

        track, thumb = self.track_rect(), self.thumb_rect()
        if track is not None and thumb is not None:
            faint = QColor(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            for rect, alpha in ((track, 40), (thumb, 100)):
                faint.setAlpha(alpha)
                painter.setBrush(faint)
                painter.drawRoundedRect(QRectF(rect.translated(x, y)), BAR_HEIGHT / 2, BAR_HEIGHT / 2)
            painter.restore()


_pictures: dict[tuple, QPixmap] = {}


def _cached(key: tuple, draw) -> QPixmap:
    picture = _pictures.get(key)
    if picture is None:
        if len(_pictures) > 64:
            _pictures.clear()
        picture = _pictures[key] = draw()
    return picture


def _canvas(width: int, height: int, ratio: float) -> QPixmap:
    picture = QPixmap(round(width * ratio), round(height * ratio))
    picture.setDevicePixelRatio(ratio)
    picture.fill(Qt.GlobalColor.transparent)
    return picture


def _header_picture(block: CodeBlockView, palette: QPalette, ratio: float) -> QPixmap:
    """The header: rounded top corners, the language, the Copy button, the line under it."""
    muted = palette.color(QPalette.ColorRole.PlaceholderText)
    strong = palette.color(QPalette.ColorRole.Text)
    dark = is_dark(palette)
    label = block.language or "text"
    key = ("header", block.width, block.header_height, label, block.copied, dark, muted.rgba(), strong.rgba(), ratio,
           block.label_font.toString())  # fmt: skip

    def draw() -> QPixmap:
        header_colour, _body, border_colour = (QColor(c) for c in (_DARK if dark else _LIGHT))
        picture = _canvas(block.width, block.header_height, ratio)
        painter = QPainter(picture)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(border_colour, 1))
        painter.setBrush(header_colour)
        painter.drawRoundedRect(QRectF(0.5, 0.5, block.width - 1, block.header_height + 2 * RADIUS), RADIUS, RADIUS)
        painter.drawLine(QPointF(0, block.header_height - 0.5), QPointF(block.width, block.header_height - 0.5))
        painter.setFont(block.label_font)
        painter.setPen(muted)
        text = QRect(CODE_PAD, 0, block.width - 2 * CODE_PAD, block.header_height)
        painter.drawText(text, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label)
        _paint_copy(painter, block, strong if block.copied else muted, header_colour)
        painter.end()
        return picture

    return _cached(key, draw)


def _bottom_picture(width: int, dark: bool, ratio: float) -> QPixmap:
    """The last rows: rounded bottom corners."""

    def draw() -> QPixmap:
        _header, body_colour, border_colour = (QColor(c) for c in (_DARK if dark else _LIGHT))
        picture = _canvas(width, RADIUS, ratio)
        painter = QPainter(picture)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(border_colour, 1))
        painter.setBrush(body_colour)
        painter.drawRoundedRect(QRectF(0.5, -3 * RADIUS, width - 1, 4 * RADIUS - 1), RADIUS, RADIUS)
        painter.end()
        return picture

    return _cached(("bottom", width, dark, ratio), draw)


def _paint_copy(painter: QPainter, block: CodeBlockView, colour: QColor, background: QColor) -> None:
    """Two overlapping sheets and the word, right-aligned in the header."""
    rect = block.copy_rect()
    metrics = QFontMetrics(block.label_font)
    label = COPIED_LABEL if block.copied else COPY_LABEL
    text_width = metrics.horizontalAdvance(label)
    icon = metrics.ascent() - 2
    right = rect.right() - HEADER_PAD
    left = right - text_width - 6 - icon
    top = rect.center().y() - icon // 2
    painter.setPen(QPen(colour, 1.2))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    back = QRectF(left + 0.5, top + 0.5, icon * 0.7, icon * 0.7)
    front = back.translated(icon * 0.3, icon * 0.3)
    painter.drawRoundedRect(back, 1.5, 1.5)
    painter.fillRect(front, background)
    painter.drawRoundedRect(front, 1.5, 1.5)
    painter.drawText(
        QRect(right - text_width, rect.top(), text_width + 1, rect.height()), Qt.AlignmentFlag.AlignVCenter, label
    )


def _document(code: str, font: QFont) -> QTextDocument:
    document = QTextDocument()
    document.setDocumentMargin(0)
    document.setDefaultFont(font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.NoWrap)
    option.setTabStopDistance(4 * QFontMetrics(font).horizontalAdvance(" "))
    document.setDefaultTextOption(option)
    document.setPlainText(code)
    return document


def _format(colour: Colour) -> QTextCharFormat:
    text_format = QTextCharFormat()
    if colour.color:
        text_format.setForeground(QColor(colour.color))
    if colour.bold:
        text_format.setFontWeight(QFont.Weight.Bold)
    if colour.italic:
        text_format.setFontItalic(True)
    return text_format
