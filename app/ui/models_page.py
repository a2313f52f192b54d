"""My Models: every GGUF in the library folders, with what its header says; delete, import, add a folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import HermesError
from app.core.library.models import LocalModel, delete_model, human_size, import_model, scan_models
from app.ui.background import Background
from app.ui.table_model import RowTableModel

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class ModelRow:
    model: LocalModel
    architecture: str
    parameters: str
    quant: str
    context: str
    template: str


def describe(models: list[LocalModel]) -> list[ModelRow]:
    """Read every header (off the GUI thread: ~50 ms a file)."""
    rows = []
    for model in models:
        info = model.info()
        if info is None:
            rows.append(ModelRow(model, "not a valid GGUF", "", "", "", ""))
            continue
        rows.append(
            ModelRow(
                model,
                info.architecture,
                info.size_label,
                info.quantization,
                f"{info.context_length:,}" if info.context_length else "—",
                "yes" if info.chat_template else "no (ChatML)",
            )
        )
    return rows


class LibraryModel(RowTableModel[ModelRow]):
    HEADERS = ("Model", "Architecture", "Parameters", "Quant", "Context", "Chat template", "Size")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(row.model.path)
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.model.name, row.architecture, row.parameters, row.quant, row.context, row.template,
                    row.model.size_text)[index.column()]  # fmt: skip
        return None


class ModelsPage(QWidget):
    """The library's models; reading the folders and importing a file both run in the background."""

    load_requested = Signal(str)  # a model path
    library_changed = Signal()  # a model came or went
    folders_changed = Signal(list)  # the user added a folder: [models folder, *extra folders]
    error = Signal(str)
    imported = Signal(object)  # the Path of a model now in the library
    _import_progress = Signal(int, int)  # bytes copied, bytes in all (emitted from the worker thread)

    def __init__(self, folders: list[Path], background: Background, parent=None) -> None:
        super().__init__(parent)
        self.folders = list(folders)
        self.background = background
        self.importing: Path | None = None  # the file being imported, while it is
        self._refresh = 0  # the newest library read; an older one answering late is ignored
        self.model = LibraryModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.summary = QLabel()
        self.import_bar = QProgressBar(maximum=1000)
        self.import_bar.hide()
        self.load_button = QPushButton("Chat with it")
        self.delete_button = QPushButton("Delete…")
        self.import_button = QPushButton("Import file…")
        self.folder_button = QPushButton("Add folder…")
        buttons = QHBoxLayout()
        for button in (self.load_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.folder_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.import_bar)
        layout.addLayout(buttons)
        self.load_button.clicked.connect(self._load)
        self.view.doubleClicked.connect(self._load)
        self.delete_button.clicked.connect(lambda: self.delete_selected(confirm=True))
        self.import_button.clicked.connect(self._choose_import)
        self.folder_button.clicked.connect(self._choose_folder)
        self._import_progress.connect(self._show_import_progress)
        self.refresh()

    def refresh(self) -> None:
        folders = list(self.folders)
        self._refresh += 1
        refresh = self._refresh
        self.summary.setText("Reading the library…")
        self.background.run(
            lambda: describe(scan_models(folders)), lambda rows: self._show(refresh, rows), self._read_failed
        )

    def set_folders(self, folders: list[Path]) -> None:
        """The settings changed the library folders: show what is in the new ones."""
        if list(folders) != self.folders:
            self.folders = list(folders)
            self.refresh()

    def _read_failed(self, error: Exception) -> None:
        self.summary.setText(f"⚠ Could not read the library: {error}")

    def _show(self, refresh: int, rows: list[ModelRow]) -> None:
        if refresh != self._refresh:
            return  # a newer read is on its way
        self.model.set_rows(rows)
        total = sum(row.model.size for row in rows)
        self.summary.setText(
            f"{len(rows)} models, {human_size(total)} on disk, in: " + ", ".join(str(f) for f in self.folders)
        )

    def selected(self) -> LocalModel | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.rows[rows[0].row()].model if rows else None

    def _load(self) -> None:
        model = self.selected()
        if model is not None:
            self.load_requested.emit(str(model.path))

    def delete_selected(self, confirm: bool = True) -> None:
        model = self.selected()
        if model is None:
            return
        if confirm:
            answer = QMessageBox.question(
                self, "Delete model", f"Delete {model.path.name} ({model.size_text}) from disk? This cannot be undone."
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        try:
            delete_model(model.path, self.folders)
        except HermesError as exc:
            self.error.emit(str(exc))
            return
        self.refresh()
        self.library_changed.emit()

    def import_file(self, source: Path, mode: str = "copy") -> None:
        """Copy, move or link ``source`` into the models folder in the background, with progress.

        ``imported`` is emitted with the new path when it is done; a failure is shown through ``error``.
        """
        if self.importing is not None:
            self.error.emit(f"Still importing {self.importing.name}; one file at a time.")
            return
        self.importing = source
        folder = self.folders[0]
        self.import_button.setEnabled(False)
        self.import_bar.setValue(0)
        self.import_bar.setFormat(f"Importing {source.name}… %p%")
        self.import_bar.setTextVisible(True)
        self.import_bar.show()

        def work() -> Path:
            return import_model(source, folder, mode, self._import_progress.emit)  # type: ignore[arg-type]

        self.background.run(work, self._import_done, self._import_failed)

    def _show_import_progress(self, done: int, total: int) -> None:
        if self.importing is not None and total:
            self.import_bar.setValue(int(1000 * done / total))

    def _import_ended(self) -> None:
        self.importing = None
        self.import_bar.hide()
        self.import_button.setEnabled(True)

    def _import_done(self, target: Path) -> None:
        self._import_ended()
        self.refresh()
        self.library_changed.emit()
        self.imported.emit(target)

    def _import_failed(self, error: Exception) -> None:
        self._import_ended()
        self.error.emit(str(error) if isinstance(error, HermesError) else f"Could not import the model: {error}")

    def _choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a GGUF model", "", "GGUF models (*.gguf)")
        if not path:
            return
        box = QMessageBox(self)
        box.setWindowTitle("Import model")
        box.setText(f"How should {Path(path).name} come into the library?")
        copy = box.addButton("Copy", QMessageBox.ButtonRole.AcceptRole)
        move = box.addButton("Move", QMessageBox.ButtonRole.AcceptRole)
        link = box.addButton("Link (leave it where it is)", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        mode = {copy: "copy", move: "move", link: "link"}.get(box.clickedButton())
        if mode:
            self.import_file(Path(path), mode)

    def add_folder(self, folder: Path) -> None:
        if folder not in self.folders:
            self.folders.append(folder)
            self.refresh()
            self.folders_changed.emit(list(self.folders))

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of models (e.g. LM Studio's or the HF cache)")
        if folder:
            self.add_folder(Path(folder))
