"""A rail icon with a count (the Downloads page's unfinished downloads)."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QIcon, QIconEngine, QPainter, QPixmap

from app.ui.theme import color, icon


def badge_icon(name: str, count: int, size: int = 36) -> QIcon:
    """A bundled icon with a count in a small disc at its top right (nothing drawn for 0), drawn in the palette's
    colours when it is painted (a theme switched while running reaches it)."""
    if count <= 0:
        return icon(name)
    return QIcon(_BadgeEngine(name, count, size))


class _BadgeEngine(QIconEngine):
    def __init__(self, name: str, count: int, size: int) -> None:
        super().__init__()
        self.name, self.count, self.size = name, count, size

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        side = self.size
        pixmap = QPixmap(side, side)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        inner = int(side * 0.72)
        painter.drawPixmap(0, side - inner, icon(self.name).pixmap(inner, inner, mode, state))
        disc = int(side * 0.56)
        fg, bg = color("badge"), color("badge", background=True)
        painter.setBrush(bg)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(side - disc, 0, disc, disc)
        font = painter.font()
        font.setBold(True)
        font.setPixelSize(int(disc * 0.7))
        painter.setFont(font)
        painter.setPen(fg)
        text = str(self.count) if self.count < 10 else "9+"
        painter.drawText(QRect(side - disc, 0, disc, disc), Qt.AlignmentFlag.AlignCenter, text)
        painter.end()
        return pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        painter.drawPixmap(rect, self.pixmap(rect.size(), mode, state))

    def clone(self) -> QIconEngine:
        clone = _BadgeEngine(self.name, self.count, self.size)
        self._clones = [*getattr(self, "_clones", []), clone][-4:]  # alive until Qt owns it
        return clone
