"""The Lorebooks page on real files: import a World Info file, edit entries in the table and the form, save, read
the file back; the Test box; a card's own book; refusals that change nothing; the page in the window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLineEdit, QSpinBox

from app.core.personas.card_library import import_card_file
from app.core.personas.lorebook import Logic, Position
from app.core.personas.lorebook_library import LorebookLibrary
from app.core.personas.presets import PresetLibrary
from app.ui import theme
from app.ui.personas.lorebook_entries import CONSTANT, ENABLED, KEYS, PROBABILITY, split_keys
from app.ui.personas.lorebooks_page import LorebooksPage
from tests.ui.test_polish import answer_next_question

WORLD_INFO = {
    "entries": {
        "0": {"uid": 0, "key": ["dragon", "wyrm"], "keysecondary": [], "comment": "Dragons", "order": 100,
              "content": "Dragons of Eldoria breathe blue fire.", "position": 0, "extensions": {"kept": True}},
        "1": {"uid": 1, "key": ["castle"], "keysecondary": ["night", "dark"], "selective": True, "selectiveLogic": 0,
              "comment": "Castle at night", "content": "The gates close at dusk.", "order": 50, "position": 4,
              "depth": 2},
        "2": {"uid": 2, "key": [], "constant": True, "comment": "World", "content": "Eldoria is a kingdom of lakes.",
              "order": 10, "position": 1},
        "3": {"uid": 3, "key": ["river"], "keysecondary": ["boat"], "selective": True, "selectiveLogic": 2,
              "comment": "River on foot", "content": "The river is cold.", "order": 20},
    }
}  # fmt: skip


@pytest.fixture
def library(tmp_path: Path) -> LorebookLibrary:
    return LorebookLibrary(tmp_path / "data", PresetLibrary(tmp_path / "presets"))


@pytest.fixture
def page(qtbot, library: LorebookLibrary) -> LorebooksPage:
    widget = LorebooksPage(library)
    qtbot.addWidget(widget)
    widget.resize(1100, 720)
    widget.show()
    return widget


@pytest.fixture
def eldoria(tmp_path: Path) -> Path:
    path = tmp_path / "Eldoria.json"
    path.write_text(json.dumps(WORLD_INFO))
    return path


def files(library: LorebookLibrary) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(library.folder.glob("*"))} if library.folder.exists() else {}


def type_into_cell(qtbot, page: LorebooksPage, row: int, column: int, text: str) -> None:
    """Edit a cell as a user does: open its editor, replace the text, press Enter."""
    index = page.table.index(row, column)
    page.view.setCurrentIndex(index)
    page.view.edit(index)
    qtbot.waitUntil(lambda: page.view.indexWidget(index) is not None)
    editor = page.view.indexWidget(index)
    if isinstance(editor, QSpinBox):
        editor.lineEdit().selectAll()
        qtbot.keyClicks(editor.lineEdit(), text)
    else:
        assert isinstance(editor, QLineEdit)
        editor.selectAll()
        qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.view.indexWidget(index) is None)


def test_import_edit_save_and_read_back_from_disk(qtbot, page: LorebooksPage, library, eldoria: Path) -> None:
    page.import_file(eldoria)
    assert [page.books.topLevelItem(0).text(c) for c in range(3)] == ["Eldoria", "4", "World Info file"]
    assert page.table.rowCount() == 4 and not page.save_button.isEnabled()

    type_into_cell(qtbot, page, 0, KEYS, "dragon, drake, /wyrms?/i")
    page.view.setCurrentIndex(page.table.index(0, 0))
    assert page.form.keys.text() == "dragon, drake, /wyrms?/i" and page.form.title.text() == "Dragons"
    page.form.content.setFocus()
    page.form.content.selectAll()
    qtbot.keyClicks(page.form.content, "Dragons here breathe green fire.")
    type_into_cell(qtbot, page, 1, PROBABILITY, "40")
    assert page.dirty and page.save_button.isEnabled() and page.title.text().endswith("•")
    assert library.get("Eldoria").entries[0].keys == ["dragon", "wyrm"]  # nothing on disk before Save

    qtbot.keyClick(page.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # Ctrl+S
    qtbot.waitUntil(lambda: not page.dirty)
    again = LorebookLibrary(library.folder.parent, library.presets).get("Eldoria")  # a fresh read of the file
    first, second = again.entries[0], again.entries[1]
    assert first.keys == ["dragon", "drake", "/wyrms?/i"]
    assert first.content == "Dragons here breathe green fire."
    assert (second.probability, second.use_probability) == (40, True)
    assert (second.position, second.depth, second.logic) == (Position.AT_DEPTH, 2, Logic.AND_ANY)
    raw = json.loads(next(library.folder.glob("*.json")).read_text())
    assert raw["entries"]["0"]["extensions"] == {"kept": True}  # what the app does not use goes back out
    assert not list(library.folder.glob("*.tmp*"))  # written atomically: no temporary file left


def test_add_duplicate_remove_and_toggle_entries(qtbot, page: LorebooksPage, library, eldoria: Path) -> None:
    page.import_file(eldoria)
    page.view.selectRow(0)
    page.duplicate_button.click()
    assert page.table.rowCount() == 5 and page.table.entries[1].comment == "Dragons"
    assert len({entry.uid for entry in page.table.entries}) == 5
    page.add_button.click()
    qtbot.waitUntil(lambda: isinstance(page.view.indexWidget(page.table.index(2, KEYS)), QLineEdit))
    editor = page.view.indexWidget(page.table.index(2, KEYS))
    qtbot.keyClicks(editor, "phoenix")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.table.entries[2].keys == ["phoenix"])  # the delegate commits on the next turn
    switch = page.view.visualRect(page.table.index(0, ENABLED))  # a click anywhere in the cell switches it
    qtbot.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=switch.center() + QPoint(6, 0))
    assert not page.table.entries[0].enabled
    page.view.setCurrentIndex(page.table.index(2, CONSTANT))
    qtbot.keyClick(page.view, Qt.Key.Key_Space)
    assert page.table.entries[2].constant
    page.view.selectRow(4)
    page.view.setFocus()
    qtbot.keyClick(page.view, Qt.Key.Key_Delete)
    assert page.save()
    entries = LorebookLibrary(library.folder.parent).get("Eldoria").entries
    assert [entry.comment or entry.keys[0] for entry in entries] == ["Dragons", "Dragons", "phoenix", "Castle at night",
                                                                     "River on foot"]  # fmt: skip
    assert not entries[0].enabled and entries[1].enabled and entries[2].constant


def test_the_test_box_shows_which_entries_fire_and_why(qtbot, page: LorebooksPage, eldoria: Path) -> None:
    page.import_file(eldoria)
    tester = page.tester
    tester.message.setPlainText("A dragon flew over the castle at night, and the river below.")
    qtbot.waitUntil(lambda: tester.activation is not None)
    assert sorted(tester.fired_names()) == ["Castle at night", "Dragons", "River on foot", "World"]
    why = {tester.results.topLevelItem(i).text(0): tester.results.topLevelItem(i).text(1)
           for i in range(tester.results.topLevelItemCount())}  # fmt: skip
    assert why["Dragons"] == "key 'dragon'" and why["World"] == "constant"
    assert why["Castle at night"] == "key 'castle' and ['night']"
    assert "4 entries fire" in tester.summary.text()

    tester.activation = None
    tester.message.setPlainText("We take a boat down the river, past the keep.")  # NOT ANY boat
    qtbot.waitUntil(lambda: tester.activation is not None)
    assert tester.fired_names() == ["World"]

    # an unsaved edit is what the Test box tries: the entry switched off no longer fires
    page.table.setData(page.table.index(2, ENABLED), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    tester.activation = None
    qtbot.waitUntil(lambda: tester.activation is not None)
    assert tester.fired_names() == [] and "No entry fires" in tester.summary.text()


def test_a_malformed_file_is_refused_with_a_message_and_nothing_changes(
    qtbot, page: LorebooksPage, library, eldoria: Path, tmp_path: Path
) -> None:
    page.import_file(eldoria)
    before = files(library)
    for name, text, said in (
        ("broken.json", '{"entries": {"0": {"key": ["a"]', "not valid JSON"),
        ("list.json", "[1, 2, 3]", "must be a JSON object"),
        ("nothing.json", '{"name": "x"}', "has no 'entries'"),
        ("types.json", '{"entries": {"0": {"key": 5, "content": "x"}, "1": {"key": ["a"], "content": 7}}}',
         "no usable entry"),
    ):  # fmt: skip
        bad = tmp_path / name
        bad.write_text(text)
        page.import_file(bad)
        assert page.message.isVisible() and said in page.message.text() and name in page.message.text()
        assert files(library) == before
        assert page.books.topLevelItemCount() == 1 and page.current is not None and page.current.name == "Eldoria"

    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"entries": {"0": {"key": ["ok"], "content": "fine"}, "1": {"key": 5}}}))
    page.import_file(partial)  # a safe partial import that says what it skipped
    assert page.current is not None and page.current.name == "partial" and page.table.rowCount() == 1
    assert "Skipped 1" in page.message.text() and "'key' must be a list of text" in page.message.text()


def test_bad_values_are_refused_and_a_failed_save_keeps_the_edits(
    qtbot, page: LorebooksPage, library, eldoria: Path
) -> None:
    page.import_file(eldoria)
    assert not page.table.setData(page.table.index(0, PROBABILITY), "150")
    assert "outside 0…100" in page.message.text() and page.table.entries[0].probability == 100
    assert not page.table.setData(page.table.index(0, PROBABILITY), "many")
    assert "not a whole number" in page.message.text()
    assert split_keys("a, /b{1,3}/i , c d,") == ["a", "/b{1,3}/i", "c d"]
    assert page.table.setData(page.table.index(1, KEYS), "castle, /(?<=old )keep/i")  # kept as typed, and said
    assert "“/(?<=old )keep/i” is ignored when scanning: RE2 cannot run it" in page.message.text()
    assert page.table.entries[1].keys == ["castle", "/(?<=old )keep/i"]

    page.table.setData(page.table.index(0, KEYS), "firedrake")
    path = next(library.folder.glob("*.json"))
    saved = path.read_bytes()
    path.unlink()
    path.mkdir()  # the file's name is taken by a folder: the atomic replace fails (as root too)
    assert not page.save()
    assert "Not saved" in page.message.text() and page.dirty and page.table.entries[0].keys == ["firedrake"]
    assert page.save_button.isEnabled() and not [p for p in library.folder.iterdir() if p.name.endswith(".tmp")]
    path.rmdir()
    path.write_bytes(saved)
    assert page.save() and LorebookLibrary(library.folder.parent).get("Eldoria").entries[0].keys == ["firedrake"]


def test_new_rename_delete_with_a_confirmation(qtbot, page: LorebooksPage, library, eldoria: Path) -> None:
    page.new_book("Northern Wastes")
    assert page.current is not None and page.current.name == "Northern Wastes" and page.table.rowCount() == 0
    page.new_book("northern wastes")
    assert "already a lorebook named 'Northern Wastes'" in page.message.text()
    page.import_file(eldoria)
    page.rename_book("Northern Wastes")
    assert "already" in page.message.text() and page.current.name == "Eldoria"
    page.rename_book("Eldoria Reborn")
    assert sorted(p.name for p in library.folder.glob("*.json")) == ["eldoria-reborn.json", "northern-wastes.json"]
    assert len(LorebookLibrary(library.folder.parent).get("Eldoria Reborn").entries) == 4

    seen: list[str] = []
    answer_next_question(qtbot, "No", seen)
    page.delete_book()
    assert "Eldoria Reborn" in seen[0] and (library.folder / "eldoria-reborn.json").exists()
    answer_next_question(qtbot, "Yes", seen)
    page.delete_book()
    assert not (library.folder / "eldoria-reborn.json").exists()
    assert [page.books.topLevelItem(i).text(0) for i in range(page.books.topLevelItemCount())] == ["Northern Wastes"]


def test_a_cards_book_is_listed_under_its_card_and_saved_into_it(
    qtbot, page: LorebooksPage, library, tmp_path: Path
) -> None:
    card = {"spec": "chara_card_v3", "spec_version": "3.0",
            "data": {"name": "Aria", "description": "A bard.", "first_mes": "Hi!",
                     "character_book": {"name": "Aria's songs", "entries": [
                         {"keys": ["lute"], "content": "Aria's lute is old.", "id": 1, "insertion_order": 5,
                          "enabled": True, "extensions": {}}]}}}  # fmt: skip
    path = tmp_path / "aria.json"
    path.write_text(json.dumps(card))
    assert library.presets is not None
    preset = import_card_file(library.presets, path).preset
    page.refresh()
    item = page.books.topLevelItem(0)
    assert [item.text(c) for c in range(3)] == ["Aria's songs", "1", "Aria"]
    assert item.foreground(2).color() == theme.color("card_book")
    assert not page.delete_button.isEnabled() and "in the card of Aria" in page.source.text()

    page.table.setData(page.table.index(0, KEYS), "lute, song")
    assert page.save()
    book = LorebookLibrary(library.folder.parent, PresetLibrary(tmp_path / "presets")).card_book(preset.id)
    assert book is not None and book.entries[0].keys == ["lute", "song"]

    page.import_file(path)  # a card imported on the page: its book becomes a World Info file of its own
    assert page.current is not None and not page.current.card and page.current.name == "Aria's songs 2"


def test_the_page_in_the_window_menu_rail_and_shortcut(qtbot, window) -> None:
    action = next(a for a in window.page_actions.actions() if a.data() == "lorebooks")
    assert action.shortcut() == QKeySequence("Ctrl+6") and action in window.menus.menus["view"].actions()
    assert "Lorebooks" in action.text().replace("&", "")
    qtbot.keyClick(window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
    page = window.hub.page("lorebooks")
    assert window.stack.currentWidget() is page and action.isChecked()
    window.resize(900, 600)  # the page fits a small window: it does not widen it
    qtbot.waitUntil(lambda: window.width() <= 900)
    page.new_book("From the window")
    assert (window.paths.data / "lorebooks" / "from-the-window.json").is_file()
    page.add_entry()
    page.table.setData(page.table.index(0, KEYS), "left, unsaved")
    assert page.dirty
    window.close()  # the edit is saved, not lost
    saved = LorebookLibrary(window.paths.data).get("From the window")
    assert [entry.keys for entry in saved.entries] == [["left", "unsaved"]]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_lorebook_colours_meet_wcag_aa_in_both_themes(qapp, qtbot, scheme: str, eldoria: Path, library) -> None:
    report = theme.contrast_report(scheme)
    for name in ("fired", "fired on Base", "card_book", "card_book on Base", "error"):
        assert report[name] >= 4.5, (scheme, name, report[name])
    try:
        theme.apply_theme(qapp, scheme)
        widget = LorebooksPage(library)
        qtbot.addWidget(widget)
        widget.import_file(eldoria)
        widget.tester.message.setPlainText("a dragon")
        widget.tester.run()
        shown = widget.tester.results.topLevelItem(0).foreground(0).color()
        base = widget.tester.results.palette().base().color()
        assert shown == theme.color("fired") and theme.contrast_ratio(shown, base) >= 4.5
        widget.say("Not imported: a test.")
        label = widget.message.palette().windowText().color()
        assert label == theme.color("error")
        assert theme.contrast_ratio(label, widget.palette().window().color()) >= 4.5
    finally:
        theme.apply_theme(qapp, "system")


def test_leaving_a_changed_book_asks_first(qtbot, page: LorebooksPage, library, eldoria: Path) -> None:
    page.new_book("Second")
    page.import_file(eldoria)
    page.table.setData(page.table.index(0, KEYS), "wyvern")
    seen: list[str] = []
    answer_next_question(qtbot, "Cancel", seen)
    page.books.setCurrentItem(page.books.topLevelItem(1))  # "Second"
    assert "Save the changes to 'Eldoria'?" in seen[0]
    assert page.current is not None and page.current.name == "Eldoria" and page.dirty
    assert page.books.currentItem().text(0) == "Eldoria"

    answer_next_question(qtbot, "Save", seen)
    page.books.setCurrentItem(page.books.topLevelItem(1))
    assert page.current.name == "Second" and not page.dirty
    assert LorebookLibrary(library.folder.parent).get("Eldoria").entries[0].keys == ["wyvern"]

    page.table.add_entry()
    answer_next_question(qtbot, "Discard", seen)
    page.books.setCurrentItem(page.books.topLevelItem(0))
    assert page.current.name == "Eldoria" and LorebookLibrary(library.folder.parent).get("Second").entries == []


def test_the_books_own_settings_are_edited_saved_and_tested(qtbot, page: LorebooksPage, library, eldoria) -> None:
    page.import_file(eldoria)
    settings = page.settings
    assert (settings.scan_depth.value(), settings.budget.value(), settings.recursive.isChecked()) == (2, 1024, True)
    page.tester.message.setPlainText("A dragon over the castle at night, then the river.")
    page.tester.run()
    assert len(page.tester.fired_names()) == 4
    settings.budget.setValue(12)  # room for the constant entry (7 tokens) only: the rest is left out, and why
    qtbot.waitUntil(lambda: page.tester.fired_names() == ["World"])
    dropped = [page.tester.results.topLevelItem(i).text(1) for i in range(page.tester.results.topLevelItemCount())]
    assert any(why.startswith("left out: over the token budget") for why in dropped)
    settings.scan_depth.setValue(5)
    settings.recursive.setChecked(False)
    assert page.dirty and page.save()
    again = LorebookLibrary(library.folder.parent).get("Eldoria")
    assert (again.scan_depth, again.token_budget, again.recursive_scanning) == (5, 12, False)


def test_the_pages_mnemonics_are_distinct_and_leave_the_menus_alone(qtbot, page: LorebooksPage) -> None:
    from PySide6.QtWidgets import QAbstractButton, QLabel

    texts = [w.text() for w in page.findChildren(QAbstractButton)] + [w.text() for w in page.findChildren(QLabel)]
    letters = [QKeySequence.mnemonic(text).toString() for text in texts if "&" in text.replace("&&", "")]
    assert len(letters) == len(set(letters)) >= 12, letters
    assert not {"Alt+F", "Alt+E", "Alt+V", "Alt+M", "Alt+C", "Alt+H"} & set(letters)  # the menu bar's
