"""A message's images: the thumbnails at the top of its bubble (laid out, painted, hit) and the full-size view.

The thumbnails are drawn from the image store (``attachments.Thumbnails``), one square box each, wrapped to the
bubble's width; a click on one opens ``ImageViewer``, the image at full size (scaled down to the screen, scrolled
when larger), its name, size and a Close button.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.core.media.images import CheckedImage
from app.core.prompting.parts import ImagePart
from app.ui.chat.attachments import Thumbnails

__all__ = ["BOX", "ImageViewer", "paint_strip", "strip_rects", "strip_size"]

BOX = 120  # a thumbnail's box in a message bubble, pixels
GAP = 6


def _per_row(width: int) -> int:
    return max(1, (width + GAP) // (BOX + GAP))


def strip_size(count: int, width: int) -> tuple[int, int]:
    """The width and height ``count`` thumbnails take in a bubble ``width`` wide (with the gap below them)."""
    if not count:
        return 0, 0
    per_row = min(count, _per_row(width))
    rows = -(-count // per_row)
    return per_row * (BOX + GAP) - GAP, rows * (BOX + GAP)


def strip_rects(count: int, width: int, x: int, y: int) -> list[QRect]:
    """Each thumbnail's box, the first at (x, y)."""
    per_row = _per_row(width)
    return [QRect(x + (n % per_row) * (BOX + GAP), y + (n // per_row) * (BOX + GAP), BOX, BOX) for n in range(count)]


def paint_strip(
    painter: QPainter, thumbnails: Thumbnails | None, images: Sequence[ImagePart], rects: Sequence[QRect],
    palette: QPalette,
) -> None:  # fmt: skip
    """The thumbnails, each centred in its box; an image no longer in the data folder shows as an empty frame."""
    painter.save()
    frame = QColor(palette.color(QPalette.ColorRole.PlaceholderText))
    for part, rect in zip(images, rects, strict=False):
        pixmap = thumbnails.pixmap(part, BOX) if thumbnails is not None else QPixmap()
        if pixmap.isNull():
            painter.setPen(frame)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(0, 0, -1, -1), 6, 6)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "image\nmissing")
            continue
        ratio = pixmap.devicePixelRatio() or 1.0
        w, h = int(pixmap.width() / ratio), int(pixmap.height() / ratio)
        painter.drawPixmap(QRect(rect.x() + (BOX - w) // 2, rect.y() + (BOX - h) // 2, w, h), pixmap)
    painter.restore()


class ImageViewer(QDialog):
    """One image at full size (scaled down to fit the screen; scroll bars when it is larger still)."""

    def __init__(self, image: CheckedImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        name = image.name or "Image"
        self.setWindowTitle(name)
        self.setAccessibleName(f"Image {name}")
        picture = QImage.fromData(image.data)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setPixmap(QPixmap.fromImage(picture))
        self.picture.setAccessibleName(name)
        scroll = QScrollArea()
        scroll.setWidget(self.picture)
        scroll.setWidgetResizable(True)
        scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel(f"{name} · {image.width} × {image.height} · {len(image.data) / 1024:,.0f} KB")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.caption)
        layout.addWidget(buttons)
        screen = self.screen().availableGeometry() if self.screen() is not None else QRect(0, 0, 1280, 800)
        width, height = picture.width() + 40, picture.height() + 100
        self.resize(min(width, int(screen.width() * 0.9)), min(height, int(screen.height() * 0.9)))
