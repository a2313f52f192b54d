"""My Models: every GGUF in the library folders, with what its header says; the loaded one marked, a broken
file flagged with its reason; delete, show in folder, import, add a folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import HermesError
from app.core.library.header_cache import HeaderCache, HeaderSummary
from app.core.library.models import LocalModel, delete_model, human_size, import_model, scan_models
from app.ui.background import Background
from app.ui.hub.table_model import RowTableModel
from app.ui.theme import SPACE_S, color, icon, secondary_text
from app.ui.widgets import VISION_MARK, EmptyTableView, show_in_folder

Index = QModelIndex | QPersistentModelIndex
BATCH = 12  # headers read per background task: rows fill in as they are read
READING = "…"
COLUMN_SAMPLES = ("deepseek2", "123.4B", "IQ4_XS", "131,072", "no (ChatML)", "123.4 GB")  # a usual wide value


@dataclass(frozen=True)
class ModelRow:
    model: LocalModel
    architecture: str
    parameters: str
    quant: str
    context: str
    template: str
    problem: str = ""  # why the file cannot be loaded ("" for a good one)
    resolved: Path | None = None  # the file's real path (compared with the loaded model's), found off the GUI thread
    read: bool = True  # False while its header is still being read
    vision: str = ""  # its projector, for people ("mmproj-….gguf: gemma3 vision, 896 px"); "" for a text-only model

    @staticmethod
    def of(model: LocalModel, summary: HeaderSummary | None) -> ModelRow:
        try:
            resolved = model.path.resolve()
        except OSError:
            resolved = model.path
        if summary is None:
            return ModelRow(model, READING, READING, READING, READING, READING, resolved=resolved, read=False)
        if summary.problem:
            return ModelRow(model, "", "", "", "", "", problem=summary.problem, resolved=resolved)
        context = f"{summary.context_length:,}" if summary.context_length else "—"
        template = "yes" if summary.has_template else "no (ChatML)"
        projector = model.projector_info()  # a small header, read off the GUI thread with the model's
        vision = f"{projector.path.name}: {projector.summary}" if projector is not None and projector.has_vision else ""
        return ModelRow(model, summary.architecture, summary.parameters, summary.quantization, context, template,
                        resolved=resolved, vision=vision)  # fmt: skip


def describe(models: list[LocalModel], cache: HeaderCache | None = None) -> list[ModelRow]:
    """Read every header (off the GUI thread: tens of ms a file; only new or changed files with a cache)."""
    cache = cache or HeaderCache()
    return [ModelRow.of(model, cache.summary(model)) for model in models]


def listed(folders: list[Path], cache: HeaderCache) -> list[ModelRow]:
    """The library's files at once (off the GUI thread), with what the cache knows; the rest still to read."""
    models = scan_models(folders)
    cache.forget_missing(models)
    return [ModelRow.of(model, cache.cached(model)) for model in models]


def short_reason(row: ModelRow) -> str:
    """The problem without the file's name (the row shows it): "Not a GGUF model file."."""
    reason = row.problem.replace(row.model.path.name, "").replace(str(row.model.path), "").strip()
    reason = reason.removeprefix("is ")  # "is not a GGUF model file." -> "not a GGUF model file."
    return reason[:1].upper() + reason[1:]


class LibraryModel(RowTableModel[ModelRow]):
    HEADERS = ("Model", "Architecture", "Parameters", "Quant", "Context", "Chat template", "Size")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.loaded_path: Path | None = None

    def is_loaded(self, row: ModelRow) -> bool:
        return self.loaded_path is not None and (row.resolved or row.model.path.resolve()) == self.loaded_path

    def replace_rows(self, updates: dict[int, ModelRow]) -> None:
        """Rows whose headers were read: one dataChanged over them."""
        for index, row in updates.items():
            self.rows[index] = row
        if updates:
            self.dataChanged.emit(self.index(min(updates), 0), self.index(max(updates), len(self.HEADERS) - 1))

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], index.column()
        loaded = self.is_loaded(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            if row.problem:
                return f"Cannot be loaded: {row.problem}\nRemove it, or download it again.\n{row.model.path}"
            seen = f"\nVision: reads images with its projector {row.vision}" if row.vision else ""
            return (f"Loaded now\n{row.model.path}" if loaded else str(row.model.path)) + seen
        if role == Qt.ItemDataRole.DisplayRole:
            if row.problem and column == 1:
                return short_reason(row)
            name = row.model.name + (f"  {VISION_MARK}" if row.vision else "")
            name = f"{name}  · loaded" if loaded else name
            return (name, row.architecture, row.parameters, row.quant, row.context, row.template,
                    row.model.size_text)[column]  # fmt: skip
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            if row.problem:
                return icon("triangle-alert", color("warning"))
            return icon("circle-check", color("loaded")) if loaded else None
        if role == Qt.ItemDataRole.ForegroundRole and row.problem and column == 1:
            return color("warning")
        if role == Qt.ItemDataRole.FontRole and loaded and column == 0:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.AccessibleDescriptionRole and column == 0:
            return row.problem or ", ".join(word for word, on in (("vision", row.vision), ("loaded", loaded)) if on)
        return None

    def set_loaded(self, path: Path | None) -> None:
        self.loaded_path = path.resolve() if path is not None else None
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(self.HEADERS) - 1))


class ModelsPage(QWidget):
    """The library's models; reading the folders and importing a file both run in the background."""

    load_requested = Signal(str)  # a model path
    library_changed = Signal()  # a model came or went
    folders_changed = Signal(list)  # the user added a folder: [models folder, *extra folders]
    error = Signal(str)
    imported = Signal(object)  # the Path of a model now in the library
    _import_progress = Signal(int, int)  # bytes copied, bytes in all (emitted from the worker thread)

    def __init__(
        self, folders: list[Path], background: Background, parent=None, header_cache: HeaderCache | None = None
    ) -> None:
        super().__init__(parent)
        self.folders = list(folders)
        self.background = background
        self.header_cache = header_cache or HeaderCache()  # headers read once, by (path, size, mtime)
        self.reading = False  # headers are still being read (the rows are listed already)
        self.importing: Path | None = None  # the file being imported, while it is
        self._refresh = 0  # the newest library read; an older one answering late is ignored
        self._fit_pending = False  # the columns are to fit their contents once the page shows
        self.model = LibraryModel(self)
        self.view = EmptyTableView(
            "No models yet. Download one on Discover (Ctrl+2), import a .gguf file, or add a folder you already have."
        )
        self.view.setAccessibleName("Models in the library")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 2 * SPACE_S)
        header = self.view.horizontalHeader()
        # Sized once, never per change: ResizeToContents measured every row of every column at each batch of
        # headers read (a stall that grew with the library). The name stretches; the others start wide enough for
        # their usual values, fit what is on screen once every header is read, and the user may resize them.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setResizeContentsPrecision(0)  # fitting to contents measures the rows on screen only
        for column, sample in enumerate(COLUMN_SAMPLES, start=1):
            header.resizeSection(column, self._width_for(sample, LibraryModel.HEADERS[column]))
        self.summary = QLabel(wordWrap=True)
        secondary_text(self.summary)
        self.import_bar = QProgressBar(maximum=1000)
        self.import_bar.hide()
        self.load_button = QPushButton(icon("message-square"), "Chat with it")
        self.delete_button = QPushButton(icon("trash-2"), "Delete…")
        self.show_button = QPushButton(icon("folder-open"), "Show in folder")
        self.import_button = QPushButton("Import file…")
        self.folder_button = QPushButton("Add folder…")
        buttons = QHBoxLayout()
        for button in (self.load_button, self.delete_button, self.show_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.folder_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE_S * 2, SPACE_S * 2, SPACE_S * 2, SPACE_S)
        layout.setSpacing(SPACE_S)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.import_bar)
        layout.addLayout(buttons)
        self.load_button.clicked.connect(self._load)
        self.show_button.clicked.connect(self._show_in_folder)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.modelReset.connect(self._update_buttons)
        self.view.doubleClicked.connect(self._load)
        self.delete_button.clicked.connect(lambda: self.delete_selected(confirm=True))
        self.import_button.clicked.connect(self._choose_import)
        self.folder_button.clicked.connect(self._choose_folder)
        self._import_progress.connect(self._show_import_progress)
        self._update_buttons()
        self.refresh()

    def refresh(self) -> None:
        folders = list(self.folders)
        self._refresh += 1
        refresh = self._refresh
        self.summary.setText("Reading the library…")
        self.reading = True
        cache = self.header_cache
        self.background.run(lambda: listed(folders, cache), lambda rows: self._listed(refresh, rows), self._read_failed)

    def set_folders(self, folders: list[Path]) -> None:
        """The settings changed the library folders: show what is in the new ones."""
        if list(folders) != self.folders:
            self.folders = list(folders)
            self.refresh()

    def _read_failed(self, error: Exception) -> None:
        self.reading = False
        self.summary.setText(f"⚠ Could not read the library: {error}")

    def _listed(self, refresh: int, rows: list[ModelRow]) -> None:
        """The files are listed (cached headers filled in): show them, then read the other headers in batches."""
        if refresh != self._refresh:
            return  # a newer read is on its way
        self.model.set_rows(rows)
        self._read_next(refresh)

    def _read_next(self, refresh: int) -> None:
        rows = self.model.rows
        todo = [index for index, row in enumerate(rows) if not row.read][:BATCH]
        cache = self.header_cache
        if not todo:
            self.reading = False
            self._fit_columns()
            self._show_summary()
            self._chain(cache.save, lambda _none: None, lambda _error: None)
            return
        self.summary.setText(f"Reading model headers… {sum(row.read for row in rows)}/{len(rows)}")
        batch = [(index, rows[index].model) for index in todo]

        def work() -> dict[int, ModelRow]:
            return {index: ModelRow.of(model, cache.summary(model)) for index, model in batch}

        self._chain(work, lambda read: self._batch_read(refresh, read), self._read_failed)

    def _width_for(self, sample: str, title: str) -> int:
        metrics = self.view.fontMetrics()
        return max(metrics.horizontalAdvance(sample), metrics.horizontalAdvance(title)) + 4 * SPACE_S

    def _fit_columns(self) -> None:
        """Once per read of the library: the columns fit what is on screen, never narrower than their start.

        A hidden table would measure every row (Qt has no screen to go by): then it waits until the page shows."""
        self._fit_pending = not self.view.isVisible()
        if self._fit_pending:
            return
        header = self.view.horizontalHeader()
        for column, sample in enumerate(COLUMN_SAMPLES, start=1):
            fitted = max(self.view.sizeHintForColumn(column), header.sectionSizeHint(column))
            header.resizeSection(column, max(fitted, self._width_for(sample, LibraryModel.HEADERS[column])))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._fit_pending:
            self._fit_columns()

    def _chain(self, work, on_success, on_error) -> None:
        """The next step of a read; none once the window has shut the background pool down (it is closing)."""
        try:
            self.background.run(work, on_success, on_error)
        except RuntimeError:
            self.reading = False

    def _batch_read(self, refresh: int, read: dict[int, ModelRow]) -> None:
        if refresh != self._refresh:
            return
        self.model.replace_rows(read)
        self._update_buttons()
        self._read_next(refresh)

    def _show_summary(self) -> None:
        rows = self.model.rows
        total = sum(row.model.size for row in rows)
        broken = sum(bool(row.problem) for row in rows)
        noun = "model" if len(rows) == 1 else "models"
        flagged = f" ({broken} cannot be loaded)" if broken else ""
        self.summary.setText(
            f"{len(rows)} {noun}{flagged}, {human_size(total)} on disk, in: " + ", ".join(str(f) for f in self.folders)
        )

    def set_loaded(self, path: str | Path | None) -> None:
        """The model bar loaded (or ejected) a model: its row is marked."""
        self.model.set_loaded(Path(path) if path else None)

    def selected_row(self) -> ModelRow | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.rows[rows[0].row()] if rows and rows[0].row() < len(self.model.rows) else None

    def selected(self) -> LocalModel | None:
        row = self.selected_row()
        return row.model if row is not None else None

    def _update_buttons(self, *_args) -> None:
        row = self.selected_row()
        self.load_button.setEnabled(row is not None and not row.problem)
        self.delete_button.setEnabled(row is not None)
        self.show_button.setEnabled(row is not None)
        self.delete_button.setText("Remove…" if row is not None and row.problem else "Delete…")

    def _show_in_folder(self) -> None:
        model = self.selected()
        if model is not None:
            show_in_folder(model.path)

    def _load(self) -> None:
        row = self.selected_row()
        if row is not None and not row.problem:
            self.load_requested.emit(str(row.model.path))

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
        clicked = box.clickedButton()
        mode = next(
            (name for button, name in ((copy, "copy"), (move, "move"), (link, "link")) if button is clicked), ""
        )
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
