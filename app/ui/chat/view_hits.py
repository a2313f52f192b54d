"""What is under a point of the chat view: a message's row and which of its parts (``HitKind``), with the code block
or picture it names. ``ChatView.hit`` answers it; the mouse handlers and the tests read it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint

if TYPE_CHECKING:
    from app.ui.chat.code_blocks import CodeBlockView


class HitKind(StrEnum):
    """What part of a message a point is over."""

    PREVIOUS = "previous"  # the versions' arrows
    NEXT = "next"
    THOUGHT = "thought"  # the reasoning's line
    IMAGE = "image"  # one of the message's pictures
    SOURCE = "source"  # one of a reply's sources
    COPY = "copy"  # a code block's Copy
    THUMB = "thumb"  # a code block's sideways scroll bar: its thumb, its track
    TRACK = "track"
    CODE = "code"  # elsewhere in a code block
    MESSAGE = "message"  # elsewhere in the message


CLICKABLE = frozenset(HitKind) - {HitKind.CODE, HitKind.MESSAGE}  # the pointing hand


@dataclass
class Hit:
    """What is under a point of the viewport."""

    row: int
    kind: HitKind
    code: CodeBlockView | None = None
    origin: QPoint | None = None  # the code block's top left, in viewport coordinates
    image: int = -1  # which of the message's images (kind "image"), or of a reply's sources (kind "source")
