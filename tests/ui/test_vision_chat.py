"""Images in the window with the real engine: the tiny vision model (tests/data/vision) and a text-only model."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QFrame

from app.core.paths import resolve_paths
from app.core.settings import Settings
from app.ui.chat.attachments import ATTACH_TIP
from tests.vision_data import TINY_VISION, blue_field, red_sun


@pytest.fixture
def vision_window(qtbot, window, tmp_path: Path):
    """The window with the tiny vision model (its projector beside it) loaded."""
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.load_model(str(TINY_VISION))
    return window


def _mime_with(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    return mime


def _drop(window, mime: QMimeData) -> tuple[bool, bool]:
    """Drag ``mime`` over the chat column and drop it: (the drag was taken, the drop was taken)."""
    column = window.chat_column
    where = QPointF(column.width() / 2, column.height() / 2)
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(where.toPoint(), Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(column, enter)
    drop = QDropEvent(where, Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(column, drop)
    return enter.isAccepted(), drop.isAccepted()


def _tiles_shown(window) -> list[QFrame]:
    return [tile for tile in window.attachments.findChildren(QFrame, "attachmentTile") if not tile.isHidden()]


def test_attach_send_the_bubble_shows_the_thumbnail_and_the_reply_comes(qtbot, vision_window, tmp_path) -> None:
    window = vision_window
    assert window.attachments.button.isEnabled()
    assert window.attachments.button.toolTip().endswith(ATTACH_TIP)  # after what it says of documents
    picture = tmp_path / "sun.png"
    picture.write_bytes(red_sun())
    assert window.attachments.add_files([picture]) == 1
    assert window.attachments.add_files([picture]) == 1  # the same picture again: still one
    assert len(window.attachments.tiles) == 1 and window.attachments.isVisible()
    window.input.setPlainText("What is in the picture?")
    with qtbot.waitSignal(window.reply_finished, timeout=60_000) as done:
        window.send()
    assert not window.attachments.images and window.attachments.isHidden()  # it went with the message
    assert not _tiles_shown(window)
    user, reply = window.chat_model.items
    assert [part.name for part in user.images] == ["sun.png"]
    assert (user.images[0].width, user.images[0].height) == (96, 80)
    assert done.args[0].text.strip() and reply.stats.image_tokens == 16
    assert " · 16 image" in window.context_label.text()
    # the thumbnail is in the bubble, drawn from the data folder, and a click opens it at full size
    view = window.chat_view
    where = view.message_geometry(0)
    assert len(where.images) == 1 and where.bubble.contains(where.images[0])
    assert where.body_y > where.images[0].bottom()  # the text comes below the picture
    assert not view.message_delegate.thumbnails.pixmap(user.images[0], 120).isNull()
    hit = view.hit(where.images[0].center())
    assert hit is not None and (hit.kind, hit.image) == ("image", 0)
    with qtbot.waitSignal(view.image_clicked):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where.images[0].center())
    viewer = window.image_viewer
    assert viewer.isVisible() and viewer.picture.pixmap().size().toTuple() == (96, 80)
    assert "96 × 80" in viewer.caption.text()
    viewer.close()
    # the image is kept in the data folder, once, by its content
    kept = list(window.paths.images_dir.glob("??/*.png"))
    assert [path.read_bytes() for path in kept] == [red_sun()]


def test_reopening_the_chat_shows_its_thumbnail(qtbot, vision_window, tmp_path, basedir: Path) -> None:
    window = vision_window
    assert window.attachments.add_data(blue_field(), "field.png")
    window.input.setPlainText("And this one?")
    with qtbot.waitSignal(window.reply_finished, timeout=60_000):
        window.send()
    chat_id = window.conversation.chat_id
    window.close()
    from app.ui.main_window import MainWindow

    again = MainWindow(resolve_paths(basedir).ensure(), Settings(context_size=2048))
    qtbot.addWidget(again)
    again.show()
    try:
        again.history.open_chat(chat_id)
        user = again.chat_model.items[0]
        assert [part.name for part in user.images] == ["field.png"]
        assert not again.chat_view.message_delegate.thumbnails.pixmap(user.images[0], 120).isNull()
        assert len(again.chat_view.message_geometry(0).images) == 1
        assert "Load a vision model" in again.attachments.button.toolTip()  # no model yet: documents only
        # deleting the chat deletes its image (once the undo is gone; an hour's grace for one being attached)
        kept = list(again.paths.images_dir.glob("??/*.png"))
        assert len(kept) == 1
        again.history.delete_chat(chat_id)
        os.utime(kept[0], (time.time() - 7200, time.time() - 7200))
        again.history.forget_undo()
        assert not kept[0].exists()
    finally:
        again.close()


def test_a_non_image_dropped_on_the_chat_is_refused_with_its_reason(qtbot, vision_window, tmp_path) -> None:
    window = vision_window
    notes = tmp_path / "notes.png"  # a text file, whatever its name says
    notes.write_text("not a picture at all")
    taken = _drop(window, _mime_with(notes))
    assert taken == (True, True)
    assert window.banner.isVisible() and "notes.png is not an image" in window.banner.label.text()
    assert not window.attachments.images
    # a real picture dropped is attached; a model file is left to the window (it loads models)
    picture = tmp_path / "field.png"
    picture.write_bytes(blue_field())
    _drop(window, _mime_with(picture))
    assert [image.name for image in window.attachments.images] == ["field.png"]
    assert not window.chat_column.drops.mine(_mime_with(TINY_VISION))
    # a screenshot pasted into the message box is attached (as a PNG), not pasted as text
    QGuiApplication.clipboard().setImage(QImage.fromData(red_sun()))
    window.input.setFocus()
    window.input.paste()
    assert [image.name for image in window.attachments.images] == ["field.png", "Pasted image.png"]
    assert window.attachments.images[1].mime == "image/png" and window.attachments.images[1].width == 96
    assert window.input.toPlainText() == ""
    window.attachments.tiles[0].remove_button.click()  # removable
    assert [image.name for image in window.attachments.images] == ["Pasted image.png"]
    assert len(_tiles_shown(window)) == 1


def test_a_pasted_image_with_a_text_only_model_is_refused_with_the_reason(
    qtbot, library_with_model: Path, window
) -> None:
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.load_model(str(library_with_model))
    button = window.attachments.button
    assert button.isEnabled() and "text-only model" in button.toolTip()  # documents still; images not
    screenshot = QImage.fromData(red_sun())
    QGuiApplication.clipboard().setImage(screenshot)
    window.input.setPlainText("look")
    window.input.setFocus()
    window.input.paste()
    assert not window.attachments.images and window.attachments.isHidden()
    assert window.banner.isVisible()
    said = window.banner.label.text()
    assert "Pasted image.png was not attached" in said and "text-only model" in said
    assert window.input.toPlainText() == "look"  # nothing pasted into the text either
    # the message still goes, without an image
    with qtbot.waitSignal(window.reply_finished, timeout=60_000):
        window.send()
    assert window.chat_model.items[0].images == ()


def test_a_messages_images_open_from_the_keyboard_and_step_with_the_arrows(qtbot, vision_window) -> None:
    """Space on a message with images (or View → View images, Ctrl+I) opens them; Left/Right step between them."""
    window = vision_window
    assert window.attachments.add_data(red_sun(), "sun.png") and window.attachments.add_data(blue_field(), "field.png")
    window.input.setPlainText("Two pictures")
    with qtbot.waitSignal(window.reply_finished, timeout=60_000):
        window.send()
    view = window.chat_view
    view.setFocus()
    view.setCurrentIndex(view.model().index(0, 0))
    with qtbot.waitSignal(view.image_clicked) as opened:
        qtbot.keyClick(view, Qt.Key.Key_Space)
    assert opened.args == [0, 0]
    viewer = window.image_viewer
    assert viewer.isVisible() and viewer.caption.text().startswith("1 of 2 · sun.png · 96 × 80")
    assert viewer.next.isVisible() and viewer.previous.isVisible()
    viewer.activateWindow()
    qtbot.waitActive(viewer)
    viewer.next.setFocus()  # a button of the dialog's: arrows would move the focus between them
    qtbot.keyClick(viewer.next, Qt.Key.Key_Right)
    assert viewer.caption.text().startswith("2 of 2 · field.png")
    assert viewer.picture.pixmap().size().toTuple() == (QImage.fromData(blue_field()).size().toTuple())
    qtbot.keyClick(viewer.next, Qt.Key.Key_Right)  # round again
    assert viewer.caption.text().startswith("1 of 2 · sun.png")
    viewer.close()
    view.setCurrentIndex(view.model().index(1, 0))  # the reply has no images: Space is not ours there
    with qtbot.assertNotEmitted(view.image_clicked):
        qtbot.keyClick(view, Qt.Key.Key_Space)
    action = view.key_actions["images"]  # the View menu's: the last message with images
    assert action in window.menuBar().findChildren(type(action)) or action.shortcut().toString() == "Ctrl+I"
    with qtbot.waitSignal(view.image_clicked) as again:
        action.trigger()
    assert again.args == [0, 0]
    window.image_viewer.close()
