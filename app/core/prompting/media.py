"""Images in a prompt: each message's images travel beside its text, and become media markers where the engine
renders the chat.

A ``ChatMessage`` may carry ``images`` (anything with ``sha256`` and ``data``: ``media.images.CheckedImage``).
``with_media_markers`` writes one marker per image at the start of its message's text (where the user attached
them), and takes every marker-like text out of what people wrote, so a typed ``<__media__>`` can never claim an
image. The engine (``engines.llama_vision``) hands the rendered text and the images, in order, to mtmd.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, Protocol

from app.core.prompting.prompt_formats import ChatMessage

__all__ = ["MEDIA_MARKER", "ImageInput", "images_in", "openai_message", "with_media_markers"]

MEDIA_MARKER = "<__media__>"  # mtmd's default marker (mtmd_default_marker())


class ImageInput(Protocol):
    @property
    def sha256(self) -> str: ...

    @property
    def data(self) -> bytes: ...

    @property
    def mime(self) -> str: ...

    @property
    def plain(self) -> bool: ...  # mtmd may decode the bytes itself (media.images.CheckedImage.plain)


def images_in(messages: Sequence[ChatMessage]) -> list[ImageInput]:
    """Every image of ``messages``, in prompt order."""
    return [image for message in messages for image in message.get("images", ())]


def with_media_markers(messages: Sequence[ChatMessage], marker: str = MEDIA_MARKER) -> list[ChatMessage]:
    """``messages`` with their images as markers in their text (and no ``images`` key), ready to render."""
    marked: list[ChatMessage] = []
    for message in messages:
        copy: ChatMessage = {**message}
        images = copy.pop("images", ())
        text = copy["content"].replace(marker, marker.replace("__", "_ _"))
        if images:
            text = marker * len(images) + text  # as llama.cpp's server puts them: where the parts were
        copy["content"] = text
        marked.append(copy)
    return marked


def openai_message(message: ChatMessage) -> dict[str, Any]:
    """``message`` as OpenAI's API takes it: its images as ``image_url`` parts (base64 ``data:`` URLs) before its text
    (for remote engines)."""
    sent: dict[str, Any] = {key: value for key, value in message.items() if key != "images"}
    images = message.get("images", ())
    if images:
        parts: list[dict[str, Any]] = [
            {"type": "image_url",
             "image_url": {"url": f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"}}
            for image in images
        ]  # fmt: skip
        sent["content"] = [*parts, {"type": "text", "text": message["content"]}]
    return sent
