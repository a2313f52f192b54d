"""A message's images: the thumbnails at the top of its bubble (laid out, painted, hit) and the full-size view.

The thumbnails are drawn from the image store (``attachments.Thumbnails``), one square box each, wrapped to the
bubble's width; a click on one (or Space on the message in focus: View images) opens ``ImageViewer``, the image
at full size (scaled down to the screen, scrolled when larger), its name, size, the message's other images one
key away, and a Close button.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QColor, QImage, QKeyEvent, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.core.errors import HermesError
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
    """A message's images at full size, one at a time (scaled down to fit the screen; scroll bars when larger
    still); Left/Right or Previous/Next step through a message's several images."""

    def __init__(
        self,
        images: Sequence[ImagePart],
        load: Callable[[ImagePart], CheckedImage],
        start: int = 0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.images, self._load = list(images), load
        self.number = -1
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.picture)
        scroll.setWidgetResizable(True)
        scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Left/Right step through the images, not scroll
        self.caption = QLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.previous = buttons.addButton("◂ Previous", QDialogButtonBox.ButtonRole.ActionRole)
        self.next = buttons.addButton("Next ▸", QDialogButtonBox.ButtonRole.ActionRole)
        self.previous.setToolTip("The message's previous image (Left)")
        self.next.setToolTip("The message's next image (Right)")
        self.previous.clicked.connect(lambda: self.step(-1))
        self.next.clicked.connect(lambda: self.step(1))
        for button in (self.previous, self.next):
            button.setVisible(len(self.images) > 1)
            button.setAutoDefault(False)
        for each in buttons.buttons():  # Left/Right step through the images, never move the focus between these
            each.installEventFilter(self)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.caption)
        layout.addWidget(buttons)
        self.show_image(start)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and self._arrow(cast(QKeyEvent, event)):
            return True
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self._arrow(event):
            super().keyPressEvent(event)

    def _arrow(self, event: QKeyEvent) -> bool:
        steps = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}
        if event.key() not in steps or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return False
        self.step(steps[Qt.Key(event.key())])
        return True

    def step(self, by: int) -> None:
        if self.images:
            self.show_image((self.number + by) % len(self.images))

    def show_image(self, number: int) -> None:
        self.number = number
        part = self.images[number]
        counted = f"{number + 1} of {len(self.images)} · " if len(self.images) > 1 else ""
        try:
            image = self._load(part)
        except HermesError as exc:  # gone from the data folder, or damaged there: said in place of the picture
            self.picture.setPixmap(QPixmap())
            self.picture.setText(str(exc) or "That image is no longer there.")
            self.caption.setText(f"{counted}{part.name or 'Image'}")
            return
        name = part.name or image.name or "Image"  # the name it was attached with, not its file in the store
        self.setWindowTitle(name)
        self.setAccessibleName(f"Image {name}")
        picture = QImage.fromData(image.data)
        self.picture.setText("")
        self.picture.setPixmap(QPixmap.fromImage(picture))
        self.picture.setAccessibleName(name)
        self.caption.setText(f"{counted}{name} · {image.width} × {image.height} · {len(image.data) / 1024:,.0f} KB")
        screen = self.screen().availableGeometry() if self.screen() is not None else QRect(0, 0, 1280, 800)
        width, height = picture.width() + 40, picture.height() + 100
        self.resize(
            max(self.width() if self.isVisible() else 0, min(width, int(screen.width() * 0.9))),
            max(self.height() if self.isVisible() else 0, min(height, int(screen.height() * 0.9))),
        )
