"""What is under a point of the chat view: a message's row and which of its parts (``HitKind``), with the code block
or picture it names. ``hit_in`` works it out from where the message's parts are; ``ChatView.hit`` asks it for the
message under the point; the mouse handlers and the tests read it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint

if TYPE_CHECKING:
    from PySide6.QtCore import QRect

    from app.ui.chat.code_blocks import CodeBlockView
    from app.ui.chat.message_delegate import Geometry
    from app.ui.chat.message_layout import MessageDocuments


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


def hit_in(row: int, position: QPoint, where: Geometry, body: MessageDocuments, has_sources: bool) -> Hit:
    """What of message ``row`` is under ``position`` (viewport coordinates), given where its parts are (``where``)
    and its laid-out body."""
    if where.arrows is not None:
        for kind, rect in ((HitKind.PREVIOUS, where.arrows[0]), (HitKind.NEXT, where.arrows[2])):
            if rect.adjusted(-4, -4, 4, 4).contains(position):
                return Hit(row, kind)
    if where.thought is not None and where.thought.contains(position):
        return Hit(row, HitKind.THOUGHT)  # the reasoning's line: a click expands or collapses it
    for number, rect in enumerate(where.images):
        if rect.contains(position):
            return Hit(row, HitKind.IMAGE, image=number)
    if has_sources:
        for number, rect in enumerate(where.sources):
            if rect.contains(position):
                return Hit(row, HitKind.SOURCE, image=number)
    found = body.piece_at(position.y() - where.body_y)
    if found is None or found[1].code is None or position.x() < where.body_x:
        return Hit(row, HitKind.MESSAGE)
    code, origin = found[1].code, QPoint(where.body_x, where.body_y + found[1].top)
    local = position - origin
    if local.x() >= code.width:
        return Hit(row, HitKind.MESSAGE)
    rects: tuple[tuple[HitKind, QRect | None], ...] = (
        (HitKind.COPY, code.copy_rect()),
        (HitKind.THUMB, code.thumb_rect()),
        (HitKind.TRACK, code.track_rect()),
    )
    for kind, area in rects:
        if area is not None and area.adjusted(0, -3, 0, 3).contains(local):
            return Hit(row, kind, code, origin)
    return Hit(row, HitKind.CODE, code, origin)
