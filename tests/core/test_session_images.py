"""A chat's images: kept by content before the message is saved, sent with their message on every later turn."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.chat.session import ChatSession, TurnError, TurnSettings
from app.core.history.store import ChatStore
from app.core.media.images import ImageRefused, check_image
from app.core.media.store import ImageStore
from app.core.prompting.parts import ImagePart
from tests.vision_data import blue_field, red_sun


def test_images_are_kept_stored_as_parts_and_sent_again_after_a_reopen(tmp_path: Path) -> None:
    store, images = ChatStore(tmp_path / "chats.sqlite3"), ImageStore(tmp_path / "images")
    session = ChatSession(store, images=images)
    red, blue = check_image(red_sun(), "red.png"), check_image(blue_field(), "blue.png")
    request = session.send("Which is warmer?", TurnSettings(), [red, blue])
    assert [image.sha256 for image in request.messages[-1]["images"]] == [red.sha256, blue.sha256]
    session.fail("no engine in this test")
    user = session.items[0]
    assert user.images == (ImagePart(red.sha256, "image/png", 96, 80, "red.png"),
                           ImagePart(blue.sha256, "image/png", 64, 64, "blue.png"))  # fmt: skip
    assert session.chat_id is not None

    reopened = ChatSession(store, images=ImageStore(tmp_path / "images"))
    reopened.open(session.chat_id)
    assert reopened.items[0].images == user.images
    again = reopened.regenerate(TurnSettings()) if reopened.items[-1].role == "assistant" else None
    assert again is not None
    assert [image.data for image in again.messages[-1]["images"]] == [red.data, blue.data]
    reopened.fail("still no engine")
    edited = reopened.edit(0, "Which is cooler?", TurnSettings())  # the new version keeps the pictures
    assert edited.messages[-1]["content"] == "Which is cooler?"
    assert [image.sha256 for image in edited.messages[-1]["images"]] == [red.sha256, blue.sha256]
    store.close()


def test_an_image_gone_from_the_data_folder_stops_the_turn_with_a_message(tmp_path: Path) -> None:
    store, images = ChatStore(tmp_path / "chats.sqlite3"), ImageStore(tmp_path / "images")
    session = ChatSession(store, images=images)
    red = check_image(red_sun(), "red.png")
    session.send("Look", TurnSettings(), [red])
    session.fail("no engine")
    for path in (tmp_path / "images").rglob("*.png"):
        path.unlink()
    reopened = ChatSession(store, images=ImageStore(tmp_path / "images"))
    assert session.chat_id is not None
    reopened.open(session.chat_id)
    with pytest.raises(ImageRefused, match=r"red\.png is no longer in the data folder"):
        reopened.regenerate(TurnSettings())
    store.close()


def test_without_an_image_store_images_live_for_the_session_only() -> None:
    session = ChatSession(None)
    red = check_image(red_sun(), "red.png")
    request = session.send("Look", TurnSettings(), [red])
    assert request.messages[-1]["images"] == [red]
    session.fail("no engine")
    assert session.regenerate(TurnSettings()).messages[-1]["images"] == [red]
    session.fail("no engine")
    other = ChatSession(session.store)
    assert session.chat_id is not None
    other.open(session.chat_id)
    with pytest.raises(TurnError, match="not available here"):
        other.regenerate(TurnSettings())


def test_images_no_message_shows_are_pruned_and_shared_ones_kept(tmp_path: Path) -> None:
    store, images = ChatStore(tmp_path / "chats.sqlite3"), ImageStore(tmp_path / "images")
    red, blue = check_image(red_sun(), "red.png"), check_image(blue_field(), "blue.png")
    first, second = ChatSession(store, images=images), ChatSession(store, images=images)
    first.send("Two", TurnSettings(), [red, blue])
    first.fail("no engine")
    second.send("One", TurnSettings(), [red])
    second.fail("no engine")
    assert store.image_hashes() == {red.sha256, blue.sha256}
    assert images.prune(store.image_hashes(), older_than_s=0) == 0
    assert first.chat_id is not None
    store.delete_chat(first.chat_id)
    store.purge_deleted()
    assert store.image_hashes() == {red.sha256}
    assert images.prune(store.image_hashes()) == 0  # an hour's grace: an image being attached right now stays
    assert images.prune(store.image_hashes(), older_than_s=0) == 1
    assert images.load(ImagePart(red.sha256, "image/png", 96, 80)).data == red.data
    with pytest.raises(ImageRefused, match="no longer in the data folder"):
        images.load(ImagePart(blue.sha256, "image/png", 64, 64))
    store.close()
