"""Cards in the persona library: every card format in (V1/V2/V3 JSON, PNG with ``chara``/``ccv3``, CHARX), V3 out.

A card becomes a preset (what a chat uses), and the card itself, every field of it, is kept beside the preset
(``presets/cards/<preset id>/card.json`` plus its assets), so exporting gives back the card that came in, with
the preset riding along in ``extensions.hermes_studio``. An import is checked in full before anything is
written; if the card's files cannot be written the new preset is removed again (the library unchanged).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.core import bounded_json
from app.core.atomic import atomic_write_bytes, atomic_write_text
from app.core.files import read_regular
from app.core.personas.card_v3 import CardDocument, card_of, normalize, read_card_bytes, strip_png, write_png
from app.core.personas.cards import MAX_CARD_BYTES, PNG_SIGNATURE, CardError, read_png_chunks
from app.core.personas.presets import (
    CARD_EXTENSION,
    SCHEMA,
    Preset,
    PresetError,
    PresetLibrary,
    card_to_preset,
    preset_to_card,
)

CARDS_FOLDER = "cards"
ZIP_SIGNATURE = b"PK\x03\x04"


@dataclass
class CardImport:
    preset: Preset
    document: CardDocument | None = None  # None: a Hermes Studio preset JSON, not a card
    skipped: list[str] = field(default_factory=list)


class CardStore:
    """The original cards of imported presets, one folder per preset id."""

    def __init__(self, presets_dir: Path) -> None:
        self.root = presets_dir / CARDS_FOLDER

    def folder(self, preset_id: str) -> Path:
        return self.root / preset_id

    def load(self, preset_id: str) -> CardDocument | None:
        path = self.folder(preset_id) / "card.json"
        if not path.is_file():
            return None
        try:
            return normalize(bounded_json.load_file(path, max_bytes=MAX_CARD_BYTES))
        except (OSError, ValueError, CardError):
            return None

    def assets(self, preset_id: str) -> dict[str, bytes]:
        base = self.folder(preset_id) / "assets"
        if not base.is_dir():
            return {}
        return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}

    def save(self, preset_id: str, document: CardDocument, assets: dict[str, bytes]) -> None:
        folder = self.folder(preset_id)
        shutil.rmtree(folder, ignore_errors=True)
        base = (folder / "assets").resolve()
        for name, data in assets.items():
            target = (base / name).resolve()
            if not target.is_relative_to(base):  # charx already refused these; a second lock on the door
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, data)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "card.json", json.dumps(document, ensure_ascii=False, indent=1))

    def remove(self, preset_id: str) -> None:
        shutil.rmtree(self.folder(preset_id), ignore_errors=True)


def read_any_card(raw: bytes, filename: str) -> tuple[CardDocument, bytes, dict[str, bytes], list[str]]:
    """(document, avatar PNG or other image, assets, skipped) from a card file of any format."""
    if raw.startswith(ZIP_SIGNATURE) or filename.lower().endswith(".charx"):
        from app.core.personas.charx import read_charx  # (the archive format: off the window's start path)

        charx = read_charx(raw)
        return charx.document, charx.avatar, charx.assets, charx.skipped
    if len(raw) > MAX_CARD_BYTES:
        raise CardError(f"This card is {len(raw) / 1e6:.0f} MB; the limit is {MAX_CARD_BYTES >> 20} MB.")
    document = read_card_bytes(raw)
    return document, strip_png(raw) if raw.startswith(PNG_SIGNATURE) else b"", {}, []


def import_card_file(library: PresetLibrary, path: Path) -> CardImport:
    """Import any preset or card file as a new user preset; a refused file changes nothing."""
    from app.core.personas.charx import MAX_ARCHIVE_BYTES

    try:
        size = path.stat().st_size
        if size > MAX_ARCHIVE_BYTES:
            raise PresetError(f"{path.name} is {size / 1e6:.0f} MB; the limit is {MAX_ARCHIVE_BYTES >> 20} MB.")
        raw = read_regular(path, MAX_ARCHIVE_BYTES)  # a FIFO or a device: refused, never waited on
    except OSError as exc:
        raise PresetError(f"Could not read {path.name}: {exc.strerror or exc}") from None
    if raw.lstrip()[:1] == b"{" and f'"{SCHEMA}"'.encode() in raw[:4096]:
        return CardImport(library.import_file(path))  # a Hermes Studio preset, not a card
    try:
        document, avatar, assets, skipped = read_any_card(raw, path.name)
        preset = card_to_preset(card_of(document), avatar_png=_png_or_nothing(avatar, skipped))
    except (CardError, PresetError) as exc:
        raise PresetError(f"{path.name}: {exc}") from None
    except RecursionError:
        raise PresetError(f"{path.name} is nested too deeply to be a card.") from None
    created = library.create(replace(preset, name=_free_name(library, preset.name)))
    try:
        CardStore(library.user_dir).save(created.id, document, assets)
    except OSError as exc:
        library.delete(created.id)
        raise PresetError(f"Could not keep the card of {created.name!r}: {exc.strerror or exc}") from None
    return CardImport(created, document, skipped)


def card_document(library: PresetLibrary, key: str) -> CardDocument:
    """The card to export for a preset: its original card (if imported) with the preset inside, else one made."""
    preset = library.get(key)
    stored = None if preset.builtin else CardStore(library.user_dir).load(preset.id)
    document = stored if stored is not None else normalize(preset_to_card(preset))
    document["data"].setdefault("extensions", {})[CARD_EXTENSION] = preset.to_dict(avatar=False)
    return document


def export_card_file(library: PresetLibrary, key: str, path: Path) -> None:
    """``.png`` (``ccv3`` + V2 ``chara``), ``.charx`` (card.json + assets) or ``.json`` (V3)."""
    from app.core.personas.charx import write_charx

    preset = library.get(key)
    document = card_document(library, key)
    suffix = path.suffix.lower()
    if suffix == ".png":
        data = write_png(document, preset.avatar_png or None)
    elif suffix == ".charx":
        assets = {} if preset.builtin else CardStore(library.user_dir).assets(preset.id)
        if preset.avatar_png and not any(a.get("type") == "icon" for a in document["data"].get("assets") or []):
            assets["assets/icon/main.png"] = preset.avatar_png
            document["data"].setdefault("assets", []).append(
                {"type": "icon", "uri": "embeded://assets/icon/main.png", "name": "main", "ext": "png"}
            )
        data = write_charx(document, assets)
    elif suffix == ".json":
        data = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    else:
        raise PresetError(f"Cards export to .png, .charx or .json, not {path.suffix or 'a file without a suffix'}.")
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise PresetError(f"Could not write {path}: {exc.strerror or exc}") from None


def _png_or_nothing(image: bytes, skipped: list[str]) -> bytes:
    if not image:
        return b""
    try:
        read_png_chunks(image)
    except CardError:
        skipped.append("the avatar is not a PNG: it is kept with the card's assets, not shown")
        return b""
    return image


def _free_name(library: PresetLibrary, name: str) -> str:
    names = {p.name.lower() for p in library.presets()}
    candidate, counter = name, 2
    while candidate.lower() in names:
        candidate, counter = f"{name} {counter}", counter + 1
    return candidate
