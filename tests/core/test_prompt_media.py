"""Images in prompts: media markers where the engine renders the chat, image_url parts for remote engines."""

from __future__ import annotations

import base64

from app.core.media.images import check_image
from app.core.prompting.media import MEDIA_MARKER, images_in, openai_message, with_media_markers
from app.core.prompting.prompt_formats import ChatMessage
from tests.vision_data import blue_field, red_sun


def test_markers_stand_where_the_images_were_and_a_typed_marker_claims_none() -> None:
    red, blue = check_image(red_sun()), check_image(blue_field())
    messages: list[ChatMessage] = [
        {"role": "system", "content": f"Never say {MEDIA_MARKER}."},
        {"role": "user", "content": "Compare them.", "images": [red, blue]},
    ]
    assert images_in(messages) == [red, blue]
    marked = with_media_markers(messages)
    assert marked[0]["content"] == "Never say <_ _media_ _>."  # defused: it cannot take an image's place
    assert marked[1]["content"] == f"{MEDIA_MARKER}{MEDIA_MARKER}Compare them."
    assert all("images" not in message for message in marked)
    assert "images" in messages[1]  # the originals are left as they were


def test_remote_engines_get_openai_image_url_parts() -> None:
    red = check_image(red_sun())
    sent = openai_message({"role": "user", "content": "What is it?", "images": [red]})
    assert sent == {"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(red_sun()).decode()}},
        {"type": "text", "text": "What is it?"},
    ]}  # fmt: skip
    assert openai_message({"role": "assistant", "content": "A sun."}) == {"role": "assistant", "content": "A sun."}
