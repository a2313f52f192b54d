"""Avatars (card portraits, preset images) as small pixmaps: decoded within a bound, and once (issue 28, item 17).

A card is at most 16 MB, but a PNG of a few hundred KB can hold 8000×8000 pixels: Qt decodes it whole
(~245 MB, seconds of CPU here; its PNG reader ignores ``setScaledSize`` for memory), and the window decoded
every preset's avatar again on each refresh of the picker. Here the header is read first: an image above
``MAX_AVATAR_PIXELS`` is not decoded (the preset shows its colour disc), a smaller one is decoded once into
the size shown, and the result is kept by the image's hash (so an edit or another card with the same bytes
costs nothing more).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QColor, QIcon, QImageReader, QPainter, QPixmap

if TYPE_CHECKING:
    from app.core.personas.presets import Preset

MAX_AVATAR_PIXELS = 4096 * 4096  # a 12 MP phone photo fits; decoding one costs at most ~64 MB, once
CACHE_ENTRIES = 256  # small pixmaps (at most 64×64 or so): well under 5 MB in all

_cache: OrderedDict[tuple[bytes, int], QPixmap | None] = OrderedDict()


def avatar_pixmap(image: bytes, size: int) -> QPixmap | None:
    """The image scaled to fit ``size``×``size`` pixels, or None if it is not a usable PNG or too large."""
    key = (hashlib.sha256(image).digest(), size)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    pixmap = decode(image, size)
    _cache[key] = pixmap
    if len(_cache) > CACHE_ENTRIES:
        _cache.popitem(last=False)
    return pixmap


def decode(image: bytes, size: int) -> QPixmap | None:
    """One bounded decode: the dimensions from the header, then the pixels only if there are few enough."""
    buffer = QBuffer()
    buffer.setData(QByteArray(image))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer, QByteArray(b"png"))
    dimensions = reader.size()
    if not dimensions.isValid() or dimensions.width() * dimensions.height() > MAX_AVATAR_PIXELS:
        return None
    reader.setScaledSize(dimensions.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio))
    decoded = reader.read()
    return None if decoded.isNull() else QPixmap.fromImage(decoded)


def clear_cache() -> None:
    _cache.clear()


def avatar_icon(preset: Preset, size: int = 32) -> QIcon:
    """The preset's avatar (decoded bounded and once: ``app.ui.avatars``), or a disc of its colour with its initial."""
    avatar = avatar_pixmap(preset.avatar_png, size) if preset.avatar_png else None
    if avatar is not None:
        return QIcon(avatar)

    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(preset.color))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(0, 0, size, size)
    painter.setPen(QColor("white"))
    font = painter.font()
    font.setBold(True)
    font.setPixelSize(int(size * 0.5))
    painter.setFont(font)
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, (preset.name[:1] or "?").upper())
    painter.end()
    return QIcon(pixmap)
