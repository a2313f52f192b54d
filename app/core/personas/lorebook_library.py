"""The lorebook library: standalone World Info files (``lorebooks/*.json``) plus the books inside imported cards.

Import accepts a SillyTavern World Info file, a bare ``character_book``, or a card of any format (its book). A
file that is not a lorebook is refused and nothing is written; entries with wrong types are skipped and named.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from app.core import bounded_json
from app.core.atomic import atomic_write_text
from app.core.files import read_regular
from app.core.personas.card_library import CardStore, read_any_card
from app.core.personas.cards import CardError
from app.core.personas.lorebook import Lorebook, LorebookError, parse_book, to_character_book, to_world_info
from app.core.personas.presets import PresetLibrary

FOLDER = "lorebooks"
MAX_BYTES = 64 << 20


@dataclass
class BookInfo:
    name: str
    source: str  # "world info" or "card: <preset name>"
    entries: int
    book: Lorebook = field(repr=False)
    path: Path | None = None  # a World Info file's path (None for a card's book)
    preset_id: str = ""  # the card's preset (empty for a World Info file)

    @property
    def card(self) -> bool:
        return bool(self.preset_id)


class LorebookLibrary:
    def __init__(self, data_dir: Path, presets: PresetLibrary | None = None) -> None:
        self.folder = data_dir / FOLDER
        self.presets = presets
        self.problems: list[str] = []

    def books(self) -> list[BookInfo]:
        found: list[BookInfo] = []
        self.problems.clear()
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                book = parse_book(bounded_json.load_file(path, max_bytes=MAX_BYTES), name=path.stem)
            except (OSError, ValueError, LorebookError) as exc:
                self.problems.append(f"{path.name}: {exc}")
                continue
            found.append(BookInfo(book.name, "world info", len(book.entries), book, path=path))
        if self.presets is not None:
            for preset in self.presets.presets():
                own = self.card_book(preset.id) if not preset.builtin else None
                if own is not None:
                    info = BookInfo(own.name, f"card: {preset.name}", len(own.entries), own, preset_id=preset.id)
                    found.append(info)
        return found

    def stamp(self) -> tuple[tuple[str, int, int], ...]:
        """What ``books()`` would read, by name, time and size: unchanged, the books need not be read again."""
        paths = sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []
        if self.presets is not None:
            paths += sorted(CardStore(self.presets.user_dir).root.glob("*/card.json"))
        found = []
        for path in paths:
            try:
                info = path.stat()
            except OSError:
                continue
            found.append((str(path), info.st_mtime_ns, info.st_size))
        return tuple(found)

    def card_book(self, preset_id: str) -> Lorebook | None:
        """The lorebook inside a preset's original card, if it has one."""
        if self.presets is None:
            return None
        document = CardStore(self.presets.user_dir).load(preset_id)
        data = document["data"] if document else {}
        if not isinstance(data.get("character_book"), dict):
            return None
        try:
            return parse_book(data["character_book"], name=f"{data.get('name', preset_id)}'s lorebook")
        except LorebookError:
            return None

    def get(self, name: str) -> Lorebook:
        wanted = name.strip().lower()
        books = self.books()
        for info in books:
            if info.name.lower() == wanted or _slug(info.name) == wanted:
                return info.book
        known = ", ".join(info.name for info in books) or "none yet"
        raise LorebookError(f"No lorebook named {name!r} (known: {known}).")

    def import_file(self, path: Path) -> Lorebook:
        """A World Info file, a ``character_book`` JSON or a card's book, saved as a standalone World Info file."""
        try:
            raw = read_regular(path, MAX_BYTES)  # a FIFO or a device: refused, never waited on
        except OSError as exc:
            raise LorebookError(f"Could not read {path.name}: {exc.strerror or exc}") from None
        book = self._parse(raw, path)
        if not book.entries and book.skipped:
            raise LorebookError(f"{path.name}: no usable entry ({'; '.join(book.skipped[:3])}). Nothing was imported.")
        taken = {info.name.lower() for info in self.books()}
        name, counter = book.name, 2
        while name.lower() in taken:
            name, counter = f"{book.name} {counter}", counter + 1
        book.name = name
        self.save(book)
        return book

    def save(self, book: Lorebook) -> Path:
        target = self.folder / f"{_slug(book.name)}.json"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, json.dumps(to_world_info(book), indent=2, ensure_ascii=False))
        except OSError as exc:
            raise LorebookError(f"Could not save the lorebook {book.name!r}: {exc.strerror or exc}") from None
        return target

    # editing (the Lorebooks page): a World Info file is rewritten where it is; a card's book inside its card
    def create(self, name: str) -> BookInfo:
        """A new empty World Info lorebook; LorebookError if the name is empty or taken."""
        name = self._free_name(name)
        book = Lorebook(name)
        path = self.save(book)
        return BookInfo(book.name, "world info", 0, book, path=path)

    def save_book(self, info: BookInfo) -> None:
        """Write ``info.book`` back where it came from (atomically); LorebookError says why it could not."""
        if info.card:
            self._save_card_book(info.preset_id, info.book)
            return
        if info.path is None:
            info.path = self.save(info.book)
            return
        try:
            atomic_write_text(info.path, json.dumps(to_world_info(info.book), indent=2, ensure_ascii=False))
        except OSError as exc:
            raise LorebookError(f"Could not save the lorebook {info.book.name!r}: {exc.strerror or exc}") from None

    def rename(self, info: BookInfo, new_name: str) -> None:
        """A World Info file moves to its new name's file (written first, then the old one removed)."""
        new_name = self._free_name(new_name, keeping=info)
        old_name, info.book.name = info.book.name, new_name
        try:
            if info.card:
                self._save_card_book(info.preset_id, info.book)
            else:
                old_path, target = info.path, self.folder / f"{_slug(new_name)}.json"
                info.path = target
                self.save_book(info)
                if old_path is not None and old_path != target:
                    old_path.unlink(missing_ok=True)
        except (LorebookError, OSError) as exc:
            info.book.name = old_name
            raise LorebookError(str(exc)) from None
        info.name = new_name

    def delete(self, info: BookInfo) -> None:
        if info.card:
            raise LorebookError(
                f"{info.name!r} belongs to the card of {info.source.removeprefix('card: ')}: "
                "it goes when that preset is deleted (Persona › Delete preset)."
            )
        if info.path is not None:
            try:
                info.path.unlink(missing_ok=True)
            except OSError as exc:
                raise LorebookError(f"Could not delete {info.path.name}: {exc.strerror or exc}") from None

    def _free_name(self, name: str, keeping: BookInfo | None = None) -> str:
        name = " ".join(name.split())
        if not name:
            raise LorebookError("A lorebook needs a name.")
        if len(name) > 120:
            raise LorebookError("That name is too long (120 characters at most).")
        for other in self.books():
            if keeping is not None and (other.path, other.preset_id) == (keeping.path, keeping.preset_id):
                continue  # the book being renamed
            if other.name.lower() == name.lower():
                raise LorebookError(f"There is already a lorebook named {other.name!r}.")
            to_file = keeping is None or not keeping.card
            if to_file and other.path is not None and other.path.stem == _slug(name):
                raise LorebookError(f"The lorebook {other.name!r} already has that file name ({other.path.name}).")
        return name

    def _save_card_book(self, preset_id: str, book: Lorebook) -> None:
        if self.presets is None:
            raise LorebookError("No preset library to save a card's lorebook into.")
        store = CardStore(self.presets.user_dir)
        document = store.load(preset_id)
        if document is None:
            raise LorebookError("The card of this lorebook is gone (its preset was deleted?).")
        document["data"]["character_book"] = to_character_book(book)
        try:
            atomic_write_text(store.folder(preset_id) / "card.json", json.dumps(document, ensure_ascii=False, indent=1))
        except OSError as exc:
            raise LorebookError(f"Could not save the card's lorebook: {exc.strerror or exc}") from None

    def export(self, name: str, path: Path, *, card_book: bool = False) -> None:
        self.write_world_info(self.get(name), path, card_book=card_book)

    @staticmethod
    def write_world_info(book: Lorebook, path: Path, *, card_book: bool = False) -> None:
        """``book`` as a SillyTavern World Info file (or a bare ``character_book``) at ``path``, atomically."""
        document = to_character_book(book) if card_book else to_world_info(book)
        try:
            atomic_write_text(path, json.dumps(document, indent=2, ensure_ascii=False))
        except OSError as exc:
            raise LorebookError(f"Could not write {path}: {exc.strerror or exc}") from None

    def _parse(self, raw: bytes, path: Path) -> Lorebook:
        try:
            if raw.startswith((b"\x89PNG", b"PK\x03\x04")) or path.suffix.lower() == ".charx":
                document, *_ = read_any_card(raw, path.name)
                book = document["data"].get("character_book")
                if not isinstance(book, dict):
                    raise LorebookError(f"{path.name} is a card without a lorebook.")
                return parse_book(book, name=f"{document['data']['name']}'s lorebook")
            data = bounded_json.loads(raw, max_bytes=MAX_BYTES, what=path.name)
            if isinstance(data, dict) and isinstance(data.get("data"), dict) and "spec" in data:
                data = data["data"].get("character_book")  # a card JSON: its book
            return parse_book(data, name=path.stem)
        except CardError as exc:
            raise LorebookError(f"{path.name}: {exc}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise LorebookError(f"{path.name} is not valid JSON: {exc}") from None
        except LorebookError as exc:
            raise LorebookError(f"{path.name}: {exc}") from None


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64] or "lorebook"
