"""Character Card V3 (and V1/V2 read as V3): the whole card kept, every field, for a lossless round trip.

A PNG may carry a ``ccv3`` chunk (V3) and/or a ``chara`` chunk (V2, for older tools); ``ccv3`` wins. Export
writes both. ``normalize`` turns any card document into the V3 shape (``spec: chara_card_v3``, fields under
``data``) without dropping anything it does not know, after checking the types of the fields it uses.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import struct
import zlib
from typing import Any

from app.core import bounded_json
from app.core.personas.cards import (
    MAX_CARD_BYTES,
    MAX_FIELD_CHARS,
    PNG_SIGNATURE,
    TEXT_FIELDS,
    V2_EXTRA_TEXT,
    Card,
    CardError,
    card_from_dict,
    placeholder_png,
    read_png_chunks,
)

V3_SPEC = "chara_card_v3"
V3_KEYWORD = b"ccv3"
V2_KEYWORD = b"chara"
V3_TEXT = ("nickname",)
TEXT_LISTS = ("alternate_greetings", "group_only_greetings", "tags", "source")
CardDocument = dict[str, Any]


def read_card_bytes(raw: bytes) -> CardDocument:
    """A card's document (V3 shape) from a PNG (``ccv3`` preferred over ``chara``) or JSON bytes."""
    if raw.startswith(PNG_SIGNATURE):
        chunks = _card_chunks(read_png_chunks(raw))
        text = chunks.get(V3_KEYWORD) or chunks.get(V2_KEYWORD)
        if text is None:
            raise CardError("This PNG has no character card in it (neither a 'ccv3' nor a 'chara' text chunk).")
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise CardError("The card data in this PNG is not valid base64.") from None
    return normalize(parse_json(raw))


def parse_json(raw: bytes | str) -> Any:
    try:
        return bounded_json.loads(raw, max_bytes=MAX_CARD_BYTES, what="This card")
    except bounded_json.JsonLimitError as exc:
        raise CardError(str(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CardError(f"This card is not valid JSON: {exc}") from None


def normalize(document: Any) -> CardDocument:
    """Any V1/V2/V3 card as a V3 document (a copy); CardError says which field has the wrong type."""
    if not isinstance(document, dict):
        raise CardError("This card is not a JSON object.")
    spec = document.get("spec")
    if spec in ("chara_card_v2", V3_SPEC):
        data = document.get("data")
        if not isinstance(data, dict):
            raise CardError(f"This {spec} card has no 'data' object.")
        result = copy.deepcopy(document)
        data = result["data"]
    elif spec is None:
        data = copy.deepcopy(document)
        result = {"data": data}
    else:
        raise CardError(f"Unknown card spec {spec!r} (supported: chara_card_v1, chara_card_v2, chara_card_v3).")
    result["spec"], result["spec_version"] = V3_SPEC, "3.0"
    for key in (*TEXT_FIELDS, *V2_EXTRA_TEXT, *V3_TEXT):
        value = data.get(key)
        if value is None:
            data[key] = ""
        elif not isinstance(value, str):
            raise CardError(f"The card's {key!r} must be text, not {type(value).__name__}.")
        elif len(value) > MAX_FIELD_CHARS:
            raise CardError(f"The card's {key!r} is longer than {MAX_FIELD_CHARS:,} characters.")
    if not data["name"].strip():
        raise CardError("The card has no character name.")
    for key in TEXT_LISTS:
        value = data.setdefault(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise CardError(f"The card's {key!r} must be a list of text.")
    if not isinstance(data.setdefault("extensions", {}), dict):
        raise CardError("The card's 'extensions' must be an object.")
    book = data.get("character_book")
    if book is not None and not isinstance(book, dict):
        raise CardError("The card's 'character_book' must be an object.")
    assets = data.get("assets")
    if assets is not None and not (
        isinstance(assets, list) and all(isinstance(a, dict) and isinstance(a.get("uri"), str) for a in assets)
    ):
        raise CardError("The card's 'assets' must be a list of objects with a 'uri'.")
    notes = data.get("creator_notes_multilingual")
    if notes is not None and not isinstance(notes, dict):
        raise CardError("The card's 'creator_notes_multilingual' must be an object.")
    for key in ("creation_date", "modification_date"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise CardError(f"The card's {key!r} must be a whole number (seconds since 1970).")
    return result


def card_of(document: CardDocument) -> Card:
    """The fields of a V3 document that the preset conversion uses."""
    return card_from_dict(document)


def to_v2(document: CardDocument) -> dict[str, Any]:
    """The V2 view for older tools: the same data (V3-only fields kept; V2 readers ignore them)."""
    data = copy.deepcopy(document["data"])
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def write_png(document: CardDocument, image: bytes | None) -> bytes:
    """A PNG (``image``, or a placeholder) with the card in a ``ccv3`` chunk and its V2 view in ``chara``."""
    chunks = [
        (kind, data) for kind, data in read_png_chunks(image or placeholder_png()) if not _is_card_chunk(kind, data)
    ]
    for keyword, card in ((V2_KEYWORD, to_v2(document)), (V3_KEYWORD, document)):
        payload = base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8"))
        chunks.insert(len(chunks) - 1, (b"tEXt", keyword + b"\x00" + payload))
    return PNG_SIGNATURE + b"".join(_chunk(kind, data) for kind, data in chunks)


def strip_png(png: bytes) -> bytes:
    """A card PNG's image without its card chunks (``chara`` and ``ccv3``), to keep as the avatar."""
    kept = [(kind, data) for kind, data in read_png_chunks(png) if not _is_card_chunk(kind, data)]
    return PNG_SIGNATURE + b"".join(_chunk(kind, data) for kind, data in kept)


def _card_chunks(chunks: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for kind, data in chunks:
        if kind == b"tEXt":
            keyword, _, text = data.partition(b"\x00")
            if keyword in (V2_KEYWORD, V3_KEYWORD):
                found.setdefault(keyword, text)
    return found


def _is_card_chunk(kind: bytes, data: bytes) -> bool:
    return kind == b"tEXt" and data.partition(b"\x00")[0] in (V2_KEYWORD, V3_KEYWORD)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
