"""The bundled Lucide icons, drawn: each SVG stroked in the palette's text colour when it is painted (so an icon
follows a theme change without being set again), or in a fixed colour. ``app.ui.theme.icon`` makes them; this module
is imported with the first icon, after the window's first paint (issue 20, part 4)."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from app.ui.resource_files import icon_path


@cache
def _svg(name: str) -> str:
    return icon_path(name).read_text(encoding="utf-8")


@cache
def _rendered(name: str, color_name: str, width: int, height: int, ratio: float) -> QPixmap:
    renderer = QSvgRenderer(QByteArray(_svg(name).replace("currentColor", color_name).encode()))
    pixmap = QPixmap(QSize(int(width * ratio), int(height * ratio)))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


class PaletteIconEngine(QIconEngine):
    """A Lucide SVG stroked in the application palette's colour at paint time (or in a fixed colour)."""

    def __init__(self, name: str, fixed: str | None = None) -> None:
        super().__init__()
        self.name, self.fixed = name, fixed

    def _color(self, mode: QIcon.Mode) -> str:
        if self.fixed:
            return self.fixed
        palette = QGuiApplication.palette()
        if mode == QIcon.Mode.Disabled:
            return palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText).name()
        if mode == QIcon.Mode.Selected:
            return palette.color(QPalette.ColorRole.HighlightedText).name()
        return palette.color(QPalette.ColorRole.WindowText).name()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        app = QGuiApplication.instance()
        ratio = app.devicePixelRatio() if isinstance(app, QGuiApplication) else 1.0
        return _rendered(self.name, self._color(mode), size.width(), size.height(), max(1.0, ratio))

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        side = min(rect.width(), rect.height())
        pixmap = self.pixmap(QSize(side, side), mode, state)
        corner = QPoint(rect.x() + (rect.width() - side) // 2, rect.y() + (rect.height() - side) // 2)
        painter.drawPixmap(corner, pixmap)

    def actualSize(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QSize:
        side = min(size.width(), size.height())
        return QSize(side, side)

    def clone(self) -> QIconEngine:
        clone = PaletteIconEngine(self.name, self.fixed)
        self._clones = [*getattr(self, "_clones", []), clone][-4:]  # alive until Qt owns it
        return clone

    def key(self) -> str:
        return "hermes-lucide"

    def isNull(self) -> bool:
        return not icon_path(self.name).is_file()
