"""The Lorebooks page: every lorebook (SillyTavern World Info files and the books inside imported cards), each
edited as a table of entries, saved through the core's LorebookLibrary (atomic writes), with a Test box that shows
which entries a message fires and why.

An edit stays in memory until Save (Ctrl+S); leaving a changed book asks first; closing the window saves it.
A refused import, a bad value or a failed save says why in the page's message line and changes nothing on disk.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from PySide6.QtCore import QEvent, QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QBrush, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.personas.lorebook import LorebookError
from app.core.personas.lorebook_library import BookInfo, LorebookLibrary
from app.ui.personas.lorebook_editor import BookSettings, EntryForm, FiringTest
from app.ui.personas.lorebook_entries import CONTENT, KEYS, EntryDelegate, EntryTable
from app.ui.theme import color, secondary_text, tone
from app.ui.widgets import EmptyTableView

log = logging.getLogger(__name__)

FILE_FILTER = "Lorebooks and character cards (*.json *.png *.charx);;All files (*)"


class LorebooksPage(QWidget):
    status = Signal(str, int)  # a status-bar message and how long to show it

    def __init__(self, library: LorebookLibrary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.infos: list[BookInfo] = []
        self._items: list[QTreeWidgetItem] = []  # the list's rows, one for each of ``infos``
        self.current: BookInfo | None = None
        self.dirty = False

        self.books = QTreeWidget()
        self.books.setAccessibleName("Lorebooks")
        self.books.setHeaderLabels(["Lorebook", "Entries", "Belongs to"])
        self.books.setRootIsDecorated(False)
        self.books.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.books.header().setStretchLastSection(False)
        self.books.currentItemChanged.connect(self._book_chosen)
        self.new_button, self.import_button, self.export_button, self.rename_button, self.delete_button = (
            QPushButton(text) for text in ("&New…", "&Import…", "E&xport…", "&Rename…", "&Delete…")
        )
        for button, slot, tip in (
            (self.new_button, self.new_book, "A new, empty lorebook"),
            (self.import_button, self.import_file, "A SillyTavern World Info file (.json), or a card's lorebook"),
            (self.export_button, self.export_book, "Save this lorebook as a SillyTavern World Info file"),
            (self.rename_button, self.rename_book, "Give this lorebook another name"),
            (self.delete_button, self.delete_book, "Delete this lorebook (asks first)"),
        ):
            button.clicked.connect(lambda _checked=False, run=slot: run())
            button.setToolTip(tip)
        self.message = tone(QLabel(), "error")
        self.message.setWordWrap(True)
        self.message.hide()

        self.table = EntryTable(self)
        self.view = EmptyTableView("Choose a lorebook on the left, or import a SillyTavern World Info file.")
        self.view.setAccessibleName("Entries")
        self.view.setModel(self.table)
        self.delegate = EntryDelegate(self.view)
        self.view.setItemDelegate(self.delegate)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(CONTENT, QHeaderView.ResizeMode.Stretch)
        for column, width in enumerate((34, 124, 112, 70, 200, 68, 50, 92, 48, 76)):
            if column != CONTENT:
                self.view.setColumnWidth(column, width)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 10)
        self.form = EntryForm(self.table)
        self.tester = FiringTest()
        self.settings = BookSettings()
        self.settings.changed.connect(self._edited)

        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.source = secondary_text(QLabel())
        self.source.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # elided, not widening
        self.save_button, self.revert_button = QPushButton("&Save"), QPushButton("Revert")
        self.add_button, self.duplicate_button, self.remove_button = (
            QPushButton(text) for text in ("&Add entry", "D&uplicate", "Remove")
        )
        self.save_button.setToolTip("Save the changes (Ctrl+S)")
        self.revert_button.setToolTip("Drop the changes not yet saved")
        self.remove_button.setToolTip("Remove the selected entries (Delete)")
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)
        self.add_button.clicked.connect(self.add_entry)
        self.duplicate_button.clicked.connect(self.duplicate_entries)
        self.remove_button.clicked.connect(self.remove_entries)
        within = Qt.ShortcutContext.WidgetWithChildrenShortcut
        QShortcut(QKeySequence.StandardKey.Save, self, self.save, context=within)
        only_table = Qt.ShortcutContext.WidgetShortcut  # not while a cell's editor has the key
        QShortcut(QKeySequence.StandardKey.Delete, self.view, self.remove_entries, context=only_table)

        self.table.edited.connect(self._edited)
        self.table.problem.connect(self.say)
        self.view.selectionModel().currentRowChanged.connect(lambda current, _old: self.form.show_entry(current.row()))
        self.view.doubleClicked.connect(
            lambda index: self.form.content.setFocus() if index.column() == CONTENT else None
        )
        self._stamp: tuple[tuple[str, int, int], ...] | None = None  # the library as last read
        self._lay_out()
        self._update_heading()  # the books are read when the page is first shown

    def _lay_out(self) -> None:
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        about = secondary_text(QLabel("SillyTavern World Info files, and the lorebooks inside your character cards."))
        about.setWordWrap(True)
        left_layout.addWidget(about)
        left_layout.addWidget(self.books, 1)
        left_layout.addWidget(self.settings)
        buttons = QGridLayout()  # two columns: the page fits a 900-pixel window beside the rail
        for number, button in enumerate((self.new_button, self.import_button, self.rename_button,
                                         self.export_button, self.delete_button)):  # fmt: skip
            buttons.addWidget(button, number // 2, number % 2)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.message)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        heading = QHBoxLayout()
        heading.addWidget(self.title)
        heading.addWidget(self.source, 1)
        heading.addWidget(self.revert_button)
        heading.addWidget(self.save_button)
        right_layout.addLayout(heading)
        entry_buttons = QHBoxLayout()
        for button in (self.add_button, self.duplicate_button, self.remove_button):
            entry_buttons.addWidget(button)
        entry_buttons.addStretch(1)
        right_layout.addLayout(entry_buttons)
        below = QSplitter(Qt.Orientation.Horizontal)
        below.addWidget(self.form)
        below.addWidget(self.tester)
        below.setSizes([400, 500])
        parts = QSplitter(Qt.Orientation.Vertical)
        parts.addWidget(self.view)
        parts.addWidget(below)
        parts.setSizes([330, 300])
        right_layout.addWidget(parts, 1)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([280, 820])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # the list of lorebooks
    def refresh(self, select: str | None = None) -> None:
        """Read the library again; keep (or move to) the selected book."""
        wanted = select or (self.current.name if self.current else None)
        self._stamp = self.library.stamp()
        self.infos = self.library.books()
        self.books.blockSignals(True)
        self.books.clear()
        self._items = []
        card = QBrush(color("card_book"))
        for info in self.infos:
            owner = info.source.removeprefix("card: ") if info.card else "World Info file"
            item = QTreeWidgetItem([info.name, f"{info.entries:,}", owner])
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if info.card:
                item.setForeground(2, card)
                item.setToolTip(0, f"The lorebook inside the card of {owner}")
            self.books.addTopLevelItem(item)
            self._items.append(item)
        self.books.resizeColumnToContents(1)
        self.books.resizeColumnToContents(2)
        self.books.blockSignals(False)
        if self.library.problems:
            self.say("Some files could not be read: " + "; ".join(self.library.problems[:3]))
        names = [info.name for info in self.infos]
        self._open(self.infos[names.index(wanted)] if wanted in names else (self.infos[0] if self.infos else None))

    def _open(self, info: BookInfo | None) -> None:
        self.current = info
        self.dirty = False
        self.table.set_book(info.book if info else None)
        self.tester.set_book(info.book if info else None)
        self.settings.show_book(info.book if info else None)
        if info is not None:
            row = self.infos.index(info)
            self.books.blockSignals(True)
            self.books.setCurrentItem(self._items[row])
            self.books.blockSignals(False)
            if info.book.entries:
                self.view.selectionModel().setCurrentIndex(
                    self.table.index(0, KEYS),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
                )
        self.view.set_placeholder(
            "No entries yet: press Add entry." if info else "No lorebook yet: press New, or Import a World Info file."
        )
        self._update_heading()

    def _book_chosen(self, item: QTreeWidgetItem | None, previous: QTreeWidgetItem | None) -> None:
        if item is None:
            return
        info = self.infos[self.books.indexOfTopLevelItem(item)]
        if info is self.current:
            return
        if not self.leave_changes():
            if previous is not None:
                self.books.blockSignals(True)
                self.books.setCurrentItem(previous)
                self.books.blockSignals(False)
            return
        self._open(info)

    def leave_changes(self) -> bool:
        """Before another book is shown: unsaved changes are saved, dropped, or the move is cancelled."""
        if not self.dirty or self.current is None:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.current.name!r}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        if answer == QMessageBox.StandardButton.Discard:
            self.dirty = False
            return True
        return False

    def _update_heading(self) -> None:
        info = self.current
        self.title.setText((info.name + (" •" if self.dirty else "")) if info else "")
        if info is None:
            self.source.setText("")
        else:
            count = len(info.book.entries)
            where = f"in the card of {info.source.removeprefix('card: ')}" if info.card else "World Info file"
            self.source.setText(f"{count:,} entr{'y' if count == 1 else 'ies'} · {where}")
        for button in (self.export_button, self.rename_button, self.add_button):
            button.setEnabled(info is not None)
        self.delete_button.setEnabled(info is not None and not info.card)
        self.delete_button.setToolTip(
            "A card's lorebook goes with its preset" if info and info.card else "Delete this lorebook (asks first)"
        )
        for button in (self.duplicate_button, self.remove_button):
            button.setEnabled(bool(info and info.book.entries))
        self.save_button.setEnabled(self.dirty)
        self.revert_button.setEnabled(self.dirty)

    def say(self, message: str) -> None:
        self.message.setText(message)
        self.message.setVisible(bool(message))

    # entries
    def _edited(self) -> None:
        self.dirty = True
        self.tester.book_edited()
        self._update_heading()

    def _selected_rows(self) -> list[int]:
        rows = sorted({index.row() for index in self.view.selectionModel().selectedRows()})
        current = self.view.currentIndex()
        return rows or ([current.row()] if current.isValid() else [])

    def add_entry(self) -> None:
        if self.current is None:
            return
        rows = self._selected_rows()
        row = self.table.add_entry(rows[-1] if rows else None)
        self.view.selectRow(row)
        self.view.setCurrentIndex(self.table.index(row, KEYS))
        self.view.edit(self.table.index(row, KEYS))

    def duplicate_entries(self) -> None:
        rows = self._selected_rows()
        if rows:
            row = self.table.duplicate(rows[-1])
            self.view.selectRow(row)

    def remove_entries(self) -> None:
        rows = self._selected_rows()
        if rows:
            self.table.remove(rows)
            self.form.show_entry(self.view.currentIndex().row())

    # saving
    def save(self) -> bool:
        if self.current is None:
            return True
        self.view.setFocus()  # an editor still open commits its text first
        try:
            self.library.save_book(self.current)
        except LorebookError as exc:
            self.say(f"Not saved: {exc} Your changes are still here; try again.")
            return False
        self.current.entries = len(self.current.book.entries)
        self.dirty = False
        self._stamp = self.library.stamp()  # its own write: nothing to read again
        row = self.infos.index(self.current)
        self._items[row].setText(1, f"{self.current.entries:,}")
        self.say("")
        self._update_heading()
        self.status.emit(f"Saved the lorebook {self.current.name!r}.", 4000)
        return True

    def revert(self) -> None:
        self.dirty = False
        self.refresh()

    # the library
    def new_book(self, name: str | None = None) -> None:
        if not self.leave_changes():
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "New lorebook", "Name of the new lorebook:")
            if not ok:
                return
        try:
            info = self.library.create(name)
        except LorebookError as exc:
            self.say(str(exc))
            return
        self.say("")
        self.refresh(select=info.name)

    def import_file(self, path: Path | None = None) -> None:
        if not self.leave_changes():
            return
        if path is None:
            chosen, _filter = QFileDialog.getOpenFileName(self, "Import a lorebook", "", FILE_FILTER)
            if not chosen:
                return
            path = Path(chosen)
        try:
            book = self.library.import_file(path)
        except LorebookError as exc:
            self.say(f"Not imported: {exc}")
            return
        self.refresh(select=book.name)
        skipped = f" Skipped {len(book.skipped)}: " + "; ".join(book.skipped[:3]) if book.skipped else ""
        self.say(skipped.strip())
        self.status.emit(f"Imported {book.name!r}: {len(book.entries):,} entries.{skipped}", 8000)

    def export_book(self, path: Path | None = None) -> None:
        if self.current is None:
            return
        if path is None:
            default = re.sub(r"[^\w\- ]+", "", self.current.name).strip() or "lorebook"
            chosen, _filter = QFileDialog.getSaveFileName(
                self, "Export as SillyTavern World Info", f"{default}.json", "World Info (*.json)"
            )
            if not chosen:
                return
            path = Path(chosen)
        try:
            self.library.write_world_info(self.current.book, path)  # as edited now, saved or not
        except LorebookError as exc:
            self.say(str(exc))
            return
        self.status.emit(f"Exported {self.current.name!r} to {path}.", 6000)

    def rename_book(self, name: str | None = None) -> None:
        info = self.current
        if info is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Rename lorebook", "New name:", text=info.name)
            if not ok or name.strip() == info.name:
                return
        try:
            self.library.rename(info, name)
        except LorebookError as exc:
            self.say(str(exc))
            return
        self.say("")
        if self.dirty:  # the entries were written with the new name: nothing is left unsaved
            self.dirty = False
        self.refresh(select=info.name)

    def delete_book(self) -> None:
        info = self.current
        if info is None:
            return
        answer = QMessageBox.question(
            self, "Delete lorebook",
            f"Delete the lorebook {info.name!r} and its {len(info.book.entries):,} entries? This cannot be undone.",
        )  # fmt: skip
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            self.library.delete(info)
        except LorebookError as exc:
            self.say(str(exc))
            return
        self.current, self.dirty = None, False
        self.say("")
        self.refresh()
        self.status.emit(f"Deleted the lorebook {info.name!r}.", 5000)

    def shutdown(self) -> None:
        """The window is closing: a changed book is saved (atomically) rather than lost."""
        self.tester.timer.stop()
        if self.dirty and not self.save():
            log.warning("lorebook edits not saved at close: %s", self.message.text())

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            card = QBrush(color("card_book"))  # the theme now shown (a live switch)
            for info, item in zip(self.infos, self._items, strict=False):
                if info.card:
                    item.setForeground(2, card)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self.dirty and self.library.stamp() != self._stamp:
            self.refresh()  # a card imported meanwhile brings its book; unchanged files are not read again
