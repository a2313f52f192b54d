"""LorebookLibrary's editing (the Lorebooks page's core): create, save in place, rename, delete, a card's own book."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.personas.card_library import CardStore, import_card_file
from app.core.personas.lorebook import Entry, LorebookError
from app.core.personas.lorebook_library import LorebookLibrary
from app.core.personas.presets import PresetLibrary


@pytest.fixture
def library(tmp_path: Path) -> LorebookLibrary:
    return LorebookLibrary(tmp_path / "data", PresetLibrary(tmp_path / "presets"))


def test_create_save_in_place_rename_and_delete(library: LorebookLibrary) -> None:
    info = library.create("  Old   Roads ")
    assert info.name == "Old Roads" and info.path == library.folder / "old-roads.json" and info.path.is_file()
    with pytest.raises(LorebookError, match="already a lorebook named 'Old Roads'"):
        library.create("old roads")
    with pytest.raises(LorebookError, match="already has that file name"):
        library.create("Old-Roads!")  # another name, the same file: refused, never overwritten
    with pytest.raises(LorebookError, match="needs a name"):
        library.create("   ")

    info.book.entries.append(Entry(0, ["toll"], "The toll is a silver coin."))
    library.save_book(info)
    assert library.get("Old Roads").entries[0].keys == ["toll"]

    other = library.create("Tolls")
    with pytest.raises(LorebookError, match="already"):
        library.rename(info, "tolls")
    assert info.name == "Old Roads" and info.book.name == "Old Roads"  # a refused rename changes nothing
    library.rename(info, "Ancient Roads")
    assert sorted(p.name for p in library.folder.glob("*.json")) == ["ancient-roads.json", "tolls.json"]
    assert library.get("Ancient Roads").entries[0].content == "The toll is a silver coin."
    library.rename(info, "ancient roads")  # only the case: the same file, renamed in place
    assert library.get("ancient roads").name == "ancient roads"

    library.delete(other)
    assert [book.name for book in library.books()] == ["ancient roads"]


def test_a_file_whose_stem_is_not_its_name_is_saved_where_it_is(library: LorebookLibrary) -> None:
    library.folder.mkdir(parents=True)
    (library.folder / "hand-made.json").write_text(json.dumps({"name": "The Marsh", "entries": {}}))
    info = library.books()[0]
    info.book.entries.append(Entry(0, ["bog"], "Bogs."))
    library.save_book(info)
    assert [p.name for p in library.folder.glob("*.json")] == ["hand-made.json"]
    assert library.get("The Marsh").entries[0].keys == ["bog"]


def test_a_cards_book_is_saved_and_renamed_inside_its_card(library: LorebookLibrary, tmp_path: Path) -> None:
    card = {"spec": "chara_card_v2", "data": {"name": "Aria", "description": "A bard.", "character_book": {
        "entries": [{"keys": ["lute"], "content": "An old lute.", "id": 3, "extensions": {"x": 1}}]}}}  # fmt: skip
    path = tmp_path / "aria.json"
    path.write_text(json.dumps(card))
    assert library.presets is not None
    preset = import_card_file(library.presets, path).preset
    (info,) = library.books()
    assert info.card and info.preset_id == preset.id and info.path is None and info.name == "Aria's lorebook"

    info.book.entries[0].keys.append("song")
    library.save_book(info)
    library.rename(info, "Aria's songs")
    document = CardStore(library.presets.user_dir).load(preset.id)
    assert document is not None
    book = document["data"]["character_book"]
    assert book["name"] == "Aria's songs" and book["entries"][0]["keys"] == ["lute", "song"]
    assert book["entries"][0]["extensions"]["x"] == 1 and document["data"]["description"] == "A bard."
    with pytest.raises(LorebookError, match="belongs to the card of Aria"):
        library.delete(info)
    assert library.card_book(preset.id) is not None


def test_key_problem_names_the_keys_re2_cannot_run() -> None:
    from app.core.personas.lorebook_scan import key_problem

    assert key_problem("dragon") == "" and key_problem("/(a+)+$/") == ""  # RE2 runs it, in linear time
    assert key_problem("/drag(on|ons)/i") == "" and key_problem("a(b", regex=False) == ""  # literal text
    assert "look-arounds" in key_problem("/(?<=a)b/") and "missing ]" in key_problem("/[a/")
    assert "missing )" in key_problem("a(b", regex=True)  # a V3 use_regex entry: every key is a pattern
