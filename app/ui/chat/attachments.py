"""Images in the composer: the attach button, paste (a screenshot) and drop, and the removable thumbnails.

Every image is checked by ``app.core.media.images`` as it arrives (size, type, pixels, a damaged file): a refused
one says why (``refused``) and nothing is attached. While the loaded model reads text only, the attach button is
disabled with a tooltip saying why, and a pasted or dropped image is refused with that reason. The images go out
with the next message (``take``); a turn that cannot start gives them back (``restore``).

``Thumbnails`` draws a kept image (``ImageStore``) small for the message bubbles, once per image and size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QMimeData, Qt, Signal
from PySide6.QtGui import QDragMoveEvent, QDropEvent, QImage, QPixmap
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.core.engines.interface import LoadedModel
from app.core.errors import HermesError
from app.core.media.images import MAX_BYTES, CheckedImage, ImageRefused, check_image, read_image_file
from app.core.media.store import ImageStore
from app.core.personas.card_v3 import read_card_bytes
from app.core.prompting.parts import ImagePart
from app.ui.chat.chat_input import ChatInput
from app.ui.chat.documents import DOCUMENT_FILTER, DocumentTray, is_document, remove_button
from app.ui.theme import icon
from app.ui.widgets import tool_button

__all__ = ["Attachments", "ComposerInput", "Thumbnails", "image_files", "is_card_png", "vision_reason"]

TILE = 56  # a thumbnail in the composer, pixels
MAX_IMAGES = 8  # per message
NO_MODEL = "Load a vision model (a model with its mmproj projector file beside it) to attach images."
ATTACH_TIP = "Attach images (PNG, JPEG, GIF, WebP or BMP) — or paste a screenshot, or drop image files on the chat"
IMAGES = "*.png *.jpg *.jpeg *.gif *.webp *.bmp"
FILTER = f"Images ({IMAGES});;All files (*)"
DOCUMENTS_TIP = "Attach documents (PDF, Word, text, Markdown, CSV, HTML): the reply cites them"


def vision_reason(loaded: LoadedModel | None) -> str:
    """Why images cannot be attached now, for people; "" when the loaded model reads them."""
    if loaded is None:
        return NO_MODEL
    if not loaded.vision:
        return (
            f"{loaded.name} is a text-only model: it cannot read images. Load a vision model (a model with its "
            "mmproj projector file beside it) to attach images."
        )
    return ""


def image_files(mime: QMimeData) -> list[Path]:
    """The local files a drag or a paste carries (images or not: a non-image is refused with its reason)."""
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []


def is_card_png(path: Path) -> bool:
    """A PNG that carries a character card (a ``chara`` or ``ccv3`` chunk): imported, not attached as an image."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return False
        read_card_bytes(path.read_bytes())
    except (OSError, HermesError):
        return False
    return True


def _same(image: CheckedImage) -> CheckedImage:
    return image


def _png(image: QImage) -> bytes:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # (the stubs say bytes; PySide takes str)
    return bytes(buffer.data().data())


def _pixmap(data: bytes, size: int) -> QPixmap:
    image = QImage.fromData(data)
    if image.isNull():
        return QPixmap()
    return QPixmap.fromImage(
        image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    )


class Thumbnails:
    """Small pixmaps of kept images, by hash and size (a missing or changed file: a null pixmap, drawn as a frame)."""

    def __init__(self, store: ImageStore) -> None:
        self.store = store
        self._cache: dict[tuple[str, int], QPixmap] = {}

    def pixmap(self, part: ImagePart, size: int) -> QPixmap:
        key = (part.sha256, size)
        if key not in self._cache:
            try:
                path = self.store.path(part.sha256, part.mime)
                data = path.read_bytes() if path.is_file() and path.stat().st_size <= MAX_BYTES else b""
            except (ImageRefused, OSError):
                data = b""
            self._cache[key] = _pixmap(data, size) if data else QPixmap()
        return self._cache[key]


class ComposerInput(ChatInput):
    """The message box: a pasted image (or image file) goes to ``take_media`` instead of becoming text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.take_media: Callable[[QMimeData], bool] | None = None

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return source.hasImage() or bool(image_files(source)) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        if (source.hasImage() or image_files(source)) and self.take_media is not None and self.take_media(source):
            return
        super().insertFromMimeData(source)


class _Tile(QFrame):
    """One attached image in the composer: its thumbnail and a remove button."""

    def __init__(self, image: CheckedImage, remove: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attachmentTile")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.picture = QLabel()
        self.picture.setPixmap(_pixmap(image.data, TILE))
        self.picture.setFixedSize(TILE, TILE)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        name = image.name or "image"
        described = f"{name} · {image.width} × {image.height} · {len(image.data) / 1024:,.0f} KB"
        self.setToolTip(described + (f"\n{image.note}" if image.note else ""))
        self.picture.setAccessibleName(f"Attached image {name}")
        self.remove_button = remove_button(name, remove)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(0)
        layout.addWidget(self.picture)
        layout.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignTop)


class Attachments(QWidget):
    """The images waiting to go with the next message, shown as a row of thumbnails above the message box."""

    refused = Signal(str)  # why an image was not attached (for people)
    noted = Signal(str)  # what the user should know about an attached image (an animated GIF)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images: list[CheckedImage] = []
        self.tiles: list[_Tile] = []
        self.unavailable = NO_MODEL
        self.documents: DocumentTray | None = None  # where documents go (PDF, Word, text…): any model reads them
        self.button: QToolButton = tool_button(icon=icon("paperclip"), tooltip=NO_MODEL)
        self.button.setAccessibleName("Attach images")
        self.button.setEnabled(False)
        self.button.clicked.connect(self.choose)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 4)
        self._row.addStretch(1)
        self.hide()

    # the loaded model
    def set_model(self, loaded: LoadedModel | None) -> None:
        self.unavailable = vision_reason(loaded)
        self.button.setEnabled(not self.unavailable or self.documents is not None)
        tip = self.unavailable or ATTACH_TIP
        self.button.setToolTip(f"{DOCUMENTS_TIP}\n{tip}" if self.documents is not None else tip)

    # adding
    def choose(self) -> None:
        kinds = f"Documents and images ({DOCUMENT_FILTER} {IMAGES});;" if self.documents is not None else ""
        paths, _ = QFileDialog.getOpenFileNames(self, "Attach files", "", kinds + FILTER)
        self.add_files(Path(path) for path in paths)

    def add_files(self, paths: Iterable[Path]) -> int:
        """Attach each file; a refused one says why (the others still come). How many were attached."""
        paths = list(paths)
        if self.documents is not None:
            documents = [path for path in paths if is_document(path)]
            paths = [path for path in paths if not is_document(path)]
            return self.documents.add_files(documents) + self._images(paths)
        return self._images(paths)

    def _images(self, paths: Iterable[Path]) -> int:
        return sum(self._add(partial(read_image_file, path), path.name) for path in paths)

    def add_data(self, data: bytes, name: str) -> bool:
        return self._add(lambda: check_image(data, name), name)

    def add_mime(self, mime: QMimeData) -> bool:
        """A paste or a drop: an image on the clipboard (a screenshot), or image files. True: it was images."""
        files = image_files(mime)
        if files:
            self.add_files(files)
            return True
        if mime.hasImage():
            image = QImage(mime.imageData()).copy()  # ours: the clipboard's may go meanwhile
            if image.isNull():
                self.refused.emit("The clipboard's image could not be read.")
                return True
            self.add_data(_png(image), "Pasted image.png")
            return True
        return False

    def _add(self, load: Callable[[], CheckedImage], name: str) -> bool:
        if self.unavailable:
            self.refused.emit(f"{name} was not attached. {self.unavailable}")
            return False
        if len(self.images) >= MAX_IMAGES:
            self.refused.emit(f"{name} was not attached: a message takes up to {MAX_IMAGES} images.")
            return False
        try:
            image = load()
        except ImageRefused as exc:
            self.refused.emit(f"{exc} Nothing was attached.")
            return False
        if any(kept.sha256 == image.sha256 for kept in self.images):
            return True  # the same picture twice is attached once
        self.images.append(image)
        tile = _Tile(image, lambda: self.remove(image.sha256))
        self.tiles.append(tile)
        self._row.insertWidget(len(self.tiles) - 1, tile)
        tile.show()  # now, not when the event loop next turns (a layout shows new children later)
        self.show()
        if image.note:
            self.noted.emit(image.note)
        self.changed.emit()
        return True

    # removing
    def remove(self, sha256: str) -> None:
        for index, image in enumerate(self.images):
            if image.sha256 == sha256:
                del self.images[index]
                tile = self.tiles.pop(index)
                tile.hide()  # gone now, not at the event loop's next turn
                self._row.removeWidget(tile)
                tile.deleteLater()
                break
        self.setVisible(bool(self.images))
        self.changed.emit()

    def take(self) -> list[CheckedImage]:
        """The attached images, for the message being sent; the tray empties."""
        images = list(self.images)
        for image in images:
            self.remove(image.sha256)
        return images

    def restore(self, images: Iterable[CheckedImage]) -> None:
        """Images given back by a turn that could not start: attached again, as they were."""
        unavailable, self.unavailable = self.unavailable, ""
        for image in images:
            self._add(partial(_same, image), image.name)
        self.unavailable = unavailable


class DropArea:
    """Drag and drop of image files onto the chat column (files the window opens itself are left to it)."""

    def __init__(self, widget: QWidget, attachments: Attachments, window_opens: Callable[[Path], bool]) -> None:
        self.attachments = attachments
        self.window_opens = window_opens
        widget.setAcceptDrops(True)

    def mine(self, mime: QMimeData) -> list[Path]:
        return [path for path in image_files(mime) if not self.window_opens(path)]

    def drag_enter(self, event: QDragMoveEvent) -> bool:
        mime = event.mimeData()
        if self.mine(mime) or (mime.hasImage() and not mime.hasUrls()):
            event.acceptProposedAction()
            return True
        event.ignore()  # the window may want it (a model, a preset)
        return False

    def drop(self, event: QDropEvent) -> bool:
        mime = event.mimeData()
        paths = self.mine(mime)
        if paths:
            self.attachments.add_files(paths)
        elif mime.hasImage():
            self.attachments.add_mime(mime)
        else:
            event.ignore()
            return False
        event.acceptProposedAction()
        return True


def column_with_tray(tray: Attachments, box: QWidget) -> QVBoxLayout:
    """The composer's left part: the thumbnails (and the documents' chips) above the message box."""
    layout = QVBoxLayout()
    layout.setSpacing(0)
    if tray.documents is not None:
        layout.addWidget(tray.documents)
    layout.addWidget(tray)
    layout.addWidget(box, 1)
    return layout
