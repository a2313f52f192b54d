"""A fenced code block inside a message: a header (language, Copy), padded code that scrolls sideways.

Code is never wrapped and never clipped: a line wider than the block scrolls horizontally inside
it (wheel, Shift+wheel, or the thin scroll bar drawn under the code). A closed block is coloured by
Pygments once; a block still streaming is shown plain until its closing fence arrives.
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
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextOption,
)

from app.core.highlight import PLAIN, Colour, Run, highlight

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

    @classmethod
    def build(
        cls, code: str, language: str, *, closed: bool, width: int, font: QFont, palette: QPalette
    ) -> CodeBlockView:
        runs = highlight(code, language, dark=is_dark(palette)) if closed else [Run(code, PLAIN)]
        document = _document(runs, code_font(font))
        label_font = header_font(font)
        header = QFontMetrics(label_font).height() + 2 * HEADER_PAD
        content = math.ceil(document.idealWidth())
        overflow = content > width - 2 * CODE_PAD
        height = header + 2 * CODE_PAD + math.ceil(document.size().height()) + (BAR_AREA if overflow else 0)
        return cls(code, language, closed, document, width, content, header, height, label_font)

    # geometry
    @property
    def inner_width(self) -> int:
        return max(1, self.width - 2 * CODE_PAD)

    @property
    def max_scroll(self) -> int:
        return max(0, self.content_width - self.inner_width)

    def code_rect(self) -> QRect:
        """Where the code is visible (the rest of it is reached by scrolling)."""
        return QRect(CODE_PAD, self.header_height + CODE_PAD, self.inner_width, math.ceil(self.document.size().height()))

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
        header_colour, body_colour, border_colour = (QColor(c) for c in (_DARK if is_dark(palette) else _LIGHT))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        outer = QRectF(x + 0.5, y + 0.5, self.width - 1, self.height - 1)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(header_colour)
        painter.drawRoundedRect(outer, RADIUS, RADIUS)
        body = QRectF(outer.left(), y + self.header_height, outer.width(), outer.bottom() - y - self.header_height)
        painter.setBrush(body_colour)
        painter.drawRoundedRect(body, RADIUS, RADIUS)
        painter.drawRect(QRectF(body.left(), body.top(), body.width(), RADIUS))  # square top corners
        painter.setPen(QPen(border_colour, 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(outer, RADIUS, RADIUS)
        painter.drawLine(QPointF(outer.left(), body.top()), QPointF(outer.right(), body.top()))

        painter.setFont(self.label_font)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        painter.setPen(muted)
        header = QRect(x + CODE_PAD, y, self.width - 2 * CODE_PAD, self.header_height)
        align = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        painter.drawText(header, align, self.language or "text")
        self._paint_copy(painter, self.copy_rect().translated(x, y), palette)

        code = self.code_rect().translated(x, y)
        painter.save()
        painter.setClipRect(code, Qt.ClipOperation.IntersectClip)
        origin_x = code.left() - self.scroll_x
        painter.translate(origin_x, code.top())
        clip = QRectF(self.scroll_x, 0, code.width(), code.height()).intersected(
            visible.translated(-origin_x, -code.top())
        )
        if not clip.isEmpty():
            self.document.drawContents(painter, clip)
        painter.restore()

        track, thumb = self.track_rect(), self.thumb_rect()
        if track is not None and thumb is not None:
            faint = QColor(muted)
            faint.setAlpha(50)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(faint)
            painter.drawRoundedRect(QRectF(track.translated(x, y)), BAR_HEIGHT / 2, BAR_HEIGHT / 2)
            faint.setAlpha(110)
            painter.setBrush(faint)
            painter.drawRoundedRect(QRectF(thumb.translated(x, y)), BAR_HEIGHT / 2, BAR_HEIGHT / 2)
        painter.restore()

    def _paint_copy(self, painter: QPainter, rect: QRect, palette: QPalette) -> None:
        """Two overlapping sheets and the word, right-aligned in the header."""
        metrics = QFontMetrics(self.label_font)
        label = COPIED_LABEL if self.copied else COPY_LABEL
        text_width = metrics.horizontalAdvance(label)
        icon = metrics.ascent() - 2
        right = rect.right() - HEADER_PAD
        left = right - text_width - 6 - icon
        top = rect.center().y() - icon // 2
        colour = palette.color(QPalette.ColorRole.Text if self.copied else QPalette.ColorRole.PlaceholderText)
        painter.setPen(QPen(colour, 1.2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        back = QRectF(left + 0.5, top + 0.5, icon * 0.7, icon * 0.7)
        front = back.translated(icon * 0.3, icon * 0.3)
        painter.drawRoundedRect(back, 1.5, 1.5)
        painter.fillRect(front, QColor(_DARK[0] if is_dark(palette) else _LIGHT[0]))
        painter.drawRoundedRect(front, 1.5, 1.5)
        painter.drawText(
            QRect(right - text_width, rect.top(), text_width + 1, rect.height()), Qt.AlignmentFlag.AlignVCenter, label
        )


def _document(runs: list[Run], font: QFont) -> QTextDocument:
    document = QTextDocument()
    document.setDocumentMargin(0)
    document.setDefaultFont(font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.NoWrap)
    option.setTabStopDistance(4 * QFontMetrics(font).horizontalAdvance(" "))
    document.setDefaultTextOption(option)
    cursor = QTextCursor(document)
    formats: dict[Colour, QTextCharFormat] = {}
    for run in runs:
        text_format = formats.get(run.colour)
        if text_format is None:
            text_format = formats[run.colour] = _format(run.colour)
        cursor.insertText(run.text, text_format)
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
