"""SillyTavern / TavernAI character cards: PNG files with the card in a ``chara`` text chunk, or JSON.

Spec V1 (fields at the top level) and V2 (``spec: chara_card_v2``, fields under ``data``).
Everything here treats its input as hostile: sizes are capped, every field is type-checked, and
every failure is a ``CardError`` with a message for people.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from app.core import bounded_json
from app.core.errors import HermesError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CARD_BYTES = 16 << 20  # real cards are a few MB at most (the image); refuse anything larger
MAX_FIELD_CHARS = 1 << 20
CARD_KEYWORD = b"chara"
TEXT_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
V2_EXTRA_TEXT = ("creator_notes", "system_prompt", "post_history_instructions", "creator", "character_version")


class CardError(HermesError):
    """A character card that cannot be read."""


@dataclass
class Card:
    """The fields of a V1/V2 card that Hermes Studio uses (V2 adds the optional ones)."""

    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""
    creator_notes: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    creator: str = ""
    character_version: str = ""
    tags: list[str] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)
    spec: str = "chara_card_v1"

    def to_v2(self) -> dict[str, Any]:
        data = {key: getattr(self, key) for key in (*TEXT_FIELDS, *V2_EXTRA_TEXT)}
        data.update(tags=list(self.tags), extensions=dict(self.extensions), alternate_greetings=[])
        return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def parse_card_json(raw: bytes | str) -> Card:
    """A card from JSON text (V1 or V2)."""
    if len(raw) > MAX_CARD_BYTES:
        raise CardError(
            f"This card is {len(raw) / 1e6:.0f} MB; cards larger than {MAX_CARD_BYTES >> 20} MB are refused."
        )
    try:
        document = bounded_json.loads(raw, max_bytes=MAX_CARD_BYTES, what="This card")
    except bounded_json.JsonLimitError as exc:
        raise CardError(str(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CardError(f"This card is not valid JSON: {exc}") from None
    return card_from_dict(document)


def card_from_dict(document: Any) -> Card:
    if not isinstance(document, dict):
        raise CardError("This card is not a JSON object.")
    spec = document.get("spec")
    if spec in ("chara_card_v2", "chara_card_v3"):
        data = document.get("data")
        if not isinstance(data, dict):
            raise CardError(f"This {spec} card has no 'data' object.")
    elif spec is None:
        data = document
        spec = "chara_card_v1"
    else:
        raise CardError(f"Unknown card spec {spec!r} (supported: chara_card_v1, chara_card_v2).")
    values: dict[str, Any] = {}
    for key in (*TEXT_FIELDS, *V2_EXTRA_TEXT):
        value = data.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise CardError(f"The card's {key!r} must be text, not {type(value).__name__}.")
        if len(value) > MAX_FIELD_CHARS:
            raise CardError(f"The card's {key!r} is longer than {MAX_FIELD_CHARS:,} characters.")
        values[key] = value
    if not values["name"].strip():
        raise CardError("The card has no character name.")
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise CardError("The card's 'tags' must be a list of text.")
    extensions = data.get("extensions", {})
    if not isinstance(extensions, dict):
        raise CardError("The card's 'extensions' must be an object.")
    return Card(**values, tags=list(tags), extensions=extensions, spec=str(spec))


def read_png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk; raises CardError on a malformed or truncated PNG."""
    if len(png) > MAX_CARD_BYTES:
        raise CardError(
            f"This image is {len(png) / 1e6:.0f} MB; cards larger than {MAX_CARD_BYTES >> 20} MB are refused."
        )
    if not png.startswith(PNG_SIGNATURE):
        raise CardError("This file is not a PNG image.")
    chunks: list[tuple[bytes, bytes]] = []
    position = len(PNG_SIGNATURE)
    while position < len(png):
        if position + 8 > len(png):
            raise CardError("This PNG is truncated (a chunk header is cut off).")
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        end = position + 8 + length + 4
        if end > len(png):
            raise CardError("This PNG is truncated (a chunk runs past the end of the file).")
        data = png[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", png[end - 4 : end])
        if zlib.crc32(kind + data) & 0xFFFFFFFF != crc:
            raise CardError(f"This PNG is damaged (bad checksum in its {kind.decode('latin-1')!r} chunk).")
        chunks.append((kind, data))
        position = end
        if kind == b"IEND":
            break
    if not chunks or chunks[-1][0] != b"IEND":
        raise CardError("This PNG is truncated (no end chunk).")
    return chunks


def parse_card_png(png: bytes) -> Card:
    """The card in a PNG's ``chara`` tEXt chunk (base64 JSON)."""
    for kind, data in read_png_chunks(png):
        if kind != b"tEXt":
            continue
        keyword, _, text = data.partition(b"\x00")
        if keyword != CARD_KEYWORD:
            continue
        try:
            decoded = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise CardError("The card data in this PNG is not valid base64.") from None
        return parse_card_json(decoded)
    raise CardError("This PNG has no character card in it (no 'chara' text chunk).")


def write_card_png(card: dict[str, Any], image: bytes | None) -> bytes:
    """A PNG (``image``, or a small placeholder) carrying ``card`` in a ``chara`` chunk; old card chunks dropped."""
    chunks = read_png_chunks(image) if image else read_png_chunks(placeholder_png())
    payload = base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8"))
    kept = [(kind, data) for kind, data in chunks if not (kind == b"tEXt" and data.startswith(CARD_KEYWORD + b"\x00"))]
    kept.insert(len(kept) - 1, (b"tEXt", CARD_KEYWORD + b"\x00" + payload))
    return PNG_SIGNATURE + b"".join(_chunk(kind, data) for kind, data in kept)


def strip_card(png: bytes) -> bytes:
    """The image of a card PNG without its card data (to keep as an avatar)."""
    kept = [(k, d) for k, d in read_png_chunks(png) if not (k == b"tEXt" and d.startswith(CARD_KEYWORD + b"\x00"))]
    return PNG_SIGNATURE + b"".join(_chunk(kind, data) for kind, data in kept)


def placeholder_png(size: int = 64, rgb: tuple[int, int, int] = (91, 75, 219)) -> bytes:
    """A plain square PNG, made without any imaging library."""
    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(row * size, 9)) + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


_MACRO = re.compile(r"\{\{(char|user)\}\}|<(bot|user)>", re.IGNORECASE)


def substitute_macros(text: str, char: str, user: str = "User") -> str:
    """``{{char}}``/``{{user}}`` (any case) and the V1 ``<BOT>``/``<USER>`` placeholders."""

    def replace(match: re.Match[str]) -> str:
        which = (match.group(1) or match.group(2)).lower()
        return char if which in ("char", "bot") else user

    return _MACRO.sub(replace, text)
