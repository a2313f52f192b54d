"""The Knowledge page: named collections of documents that any chat (or persona) can answer from.

Left, the collections (New, Rename, Delete with a confirmation); right, the chosen collection's files with their
passages, pages and state (``KnowledgeBase.file_states``), Add files…, Add folder… (or drop them on the page), a
progress line per file being indexed and Cancel, Re-index (what changed on disk is read again, by its content hash;
what is gone is forgotten), Remove file, and a search box whose hits name their file and place. The database work
runs on ``lanes.Lane`` threads; nothing here blocks the window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.knowledge.base import AddReport, CancelToken, CollectionInfo, KnowledgeBase, Progress
from app.core.knowledge.embedder import Embedder
from app.core.knowledge.index import FileRecord
from app.core.knowledge.search import Hit, snippet
from app.ui.knowledge.lanes import Lane
from app.ui.knowledge.offer import EmbeddingOffer
from app.ui.theme import secondary_text

SEARCH_DELAY_MS = 250  # a search starts once typing pauses
STAGES = {"reading": "reading…", "embedding": "embedding", "writing": "writing…", "done": "indexed",
          "unchanged": "unchanged", "failed": "failed"}  # fmt: skip
FILE_COLUMNS = ("File", "Passages", "Pages", "State")


class KnowledgePage(QWidget):
    """Collections and their files; ``collections_changed`` tells the chat's picker the names there are now."""

    collections_changed = Signal(list)  # the collections' names
    error = Signal(str)  # for the window's banner
    status = Signal(str, int)
    embedding_wanted = Signal()  # indexed for keywords only: the page offers the embedding model
    hub_requested = Signal()  # "Find one on the Hub": Discover, embedding models
    model_fetched = Signal(object)  # the Path of the embedding model put in the library (the model bar lists it)
    _progressed = Signal(object)  # a Progress, from the write lane's thread

    def __init__(self, database: Path, embedder: Callable[[], Embedder | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.writes = Lane(database, embedder, "writes", parent=self)
        self.reads = Lane(database, embedder, "reads", parent=self)
        self.token: CancelToken | None = None  # the add or re-index running
        self.fetch_embedding: Callable[[], Path] | None = None  # puts the default embedding model in the library
        self.names: list[str] = []
        self.current = ""
        self.report: AddReport | None = None  # the last add's outcome (tests read it)
        self.searched = ""  # the query the hits list shows
        self.hits: list[Hit] = []
        self.setAcceptDrops(True)
        self._progressed.connect(self._show_progress)
        self._build()
        self._choose("")
        self.refresh()

    # construction
    def _build(self) -> None:
        self.collection_list = QListWidget()
        self.collection_list.setAccessibleName("Collections")
        self.collection_list.currentTextChanged.connect(self._choose)
        self.new_button, self.rename_button, self.delete_button = (
            QPushButton("New…"), QPushButton("Rename…"), QPushButton("Delete…"),
        )  # fmt: skip
        self.new_button.clicked.connect(self.new_collection)
        self.rename_button.clicked.connect(self.rename_collection)
        self.delete_button.clicked.connect(self.delete_collection)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("<b>Collections</b>"))
        left_layout.addWidget(self.collection_list, 1)
        row = QHBoxLayout()
        for button in (self.new_button, self.rename_button, self.delete_button):
            row.addWidget(button)
        left_layout.addLayout(row)

        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.add_files_button, self.add_folder_button = QPushButton("Add files…"), QPushButton("Add folder…")
        self.reindex_button, self.remove_button = QPushButton("Re-index"), QPushButton("Remove file")
        self.reindex_button.setToolTip("Read again the files that changed on disk; forget those that are gone")
        self.add_files_button.clicked.connect(self._pick_files)
        self.add_folder_button.clicked.connect(self._pick_folder)
        self.reindex_button.clicked.connect(self.reindex)
        self.remove_button.clicked.connect(self.remove_selected)
        actions = QHBoxLayout()
        actions.addWidget(self.title, 1)
        for button in (self.add_files_button, self.add_folder_button, self.reindex_button, self.remove_button):
            actions.addWidget(button)

        self.files = QTreeWidget()
        self.files.setAccessibleName("Files of the collection")
        self.files.setHeaderLabels(list(FILE_COLUMNS))
        self.files.setRootIsDecorated(False)
        self.files.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.files.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.files.itemSelectionChanged.connect(self._update_buttons)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Indexing progress")
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_label, 1)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_row = QWidget()
        self.progress_row.setLayout(progress_row)
        self.progress_row.hide()
        self.offer = EmbeddingOffer()
        self.get_button, self.hub_button = self.offer.get_button, self.offer.hub_button
        self.get_button.clicked.connect(self.get_embedding_model)
        self.hub_button.clicked.connect(self.hub_requested)
        self.embedding_wanted.connect(self.offer.show)
        self.hint = QLabel("Drop files or folders here, or Add files…: PDF, Word, text, Markdown, CSV, HTML, code.")
        self.hint.setWordWrap(True)
        secondary_text(self.hint)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search this collection…")
        self.search.setAccessibleName("Search the collection")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.run_search)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.search.returnPressed.connect(self.run_search)
        self.results = QListWidget()
        self.results.setAccessibleName("Search results")
        self.results.setWordWrap(True)
        self.results.setAlternatingRowColors(True)  # one hit from the next at a glance
        self.results.setSpacing(2)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addLayout(actions)
        right_layout.addWidget(self.offer)
        right_layout.addWidget(self.hint)
        right_layout.addWidget(self.progress_row)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.files)
        below = QWidget()
        below_layout = QVBoxLayout(below)
        below_layout.setContentsMargins(0, 0, 0, 0)
        below_layout.addWidget(self.search)
        below_layout.addWidget(self.results, 1)
        split.addWidget(below)
        split.setSizes([240, 300])
        right_layout.addWidget(split, 1)

        outer = QSplitter()
        outer.addWidget(left)
        outer.addWidget(right)
        outer.setStretchFactor(1, 1)
        outer.setSizes([220, 700])
        layout = QVBoxLayout(self)
        layout.addWidget(outer)
        self._update_buttons()

    # collections
    def refresh(self) -> None:
        """The collections again (the one shown stays chosen), then its files."""
        self.reads.run(lambda base: base.collections(), self._show_collections, self.error.emit)

    def _show_collections(self, collections: list[CollectionInfo]) -> None:
        self.names = [info.name for info in collections]
        chosen = self.current if self.current in self.names else (self.names[0] if self.names else "")
        self.collection_list.blockSignals(True)
        self.collection_list.clear()
        for info in collections:
            item = QListWidgetItem(f"{info.name}")
            item.setData(Qt.ItemDataRole.ToolTipRole, f"{info.files} files, {info.chunks} passages")
            self.collection_list.addItem(item)
            if info.name == chosen:
                self.collection_list.setCurrentItem(item)
        self.collection_list.blockSignals(False)
        self._choose(chosen)
        self.collections_changed.emit(list(self.names))

    def _choose(self, name: str) -> None:
        if name != self.current:
            self.results.clear()
            self.hits, self.searched = [], ""
        self.current = name
        self.title.setText(f"<b>{_escape(name)}</b>" if name else "No collection yet: New… makes one.")
        self._update_buttons()
        self.load_files()

    def load_files(self) -> None:
        name = self.current
        if not name:
            self._show_files(name, [])
            return
        self.reads.run(lambda base: base.file_states(name), lambda rows: self._show_files(name, rows), self.error.emit)

    def _show_files(self, name: str, rows: Sequence[tuple[FileRecord, str]]) -> None:
        if name != self.current:
            return  # another collection was chosen meanwhile
        self.files.clear()
        for record, state in rows:
            pages = str(record.pages) if record.pages else ""
            item = QTreeWidgetItem([record.name, str(record.chunks), pages, state])
            item.setData(0, Qt.ItemDataRole.UserRole, record.path)
            item.setToolTip(0, record.path + (f"\n{record.notes}" if record.notes else ""))
            self.files.addTopLevelItem(item)
        self.hint.setVisible(not rows and bool(name))
        if any(state == "keywords only" for _record, state in rows):
            self.embedding_wanted.emit()
        self._update_buttons()

    def new_collection(self) -> None:
        name, ok = QInputDialog.getText(self, "New collection", "Name:")
        if ok and name.strip():
            self.make_collection(name.strip())

    def make_collection(self, name: str) -> None:
        self.current = name
        self.writes.run(lambda base: base.create(name), lambda _none: self.refresh(), self.error.emit)

    def rename_collection(self) -> None:
        if not self.current:
            return
        name, ok = QInputDialog.getText(self, "Rename collection", "New name:", text=self.current)
        if ok and name.strip() and name.strip() != self.current:
            self.rename(self.current, name.strip())

    def rename(self, old: str, new: str) -> None:
        def renamed(_none: None) -> None:
            if self.current == old:
                self.current = new
            self.refresh()

        self.writes.run(lambda base: base.rename(old, new), renamed, self.error.emit)

    def delete_collection(self) -> None:
        name = self.current
        if not name:
            return
        answer = QMessageBox.question(
            self, "Delete collection", f"Delete the collection “{name}” and its index? The files stay on disk.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Yes:
            self.delete(name)

    def delete(self, name: str) -> None:
        def deleted(count: int) -> None:
            self.status.emit(f"Deleted {name} ({count} files).", 5000)
            self.current = ""
            self.refresh()

        self.writes.run(lambda base: base.remove(name), deleted, self.error.emit)

    # files
    def _pick_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add files to the collection")
        if files:
            self.add_paths([Path(f) for f in files])

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the collection")
        if folder:
            self.add_paths([Path(folder)])

    def add_paths(self, paths: Sequence[Path]) -> None:
        """Index files and folders into the shown collection (made, named "Documents", when there is none)."""
        name = self.current or "Documents"
        self.current = name
        self._index(f"Adding to {name}", lambda base, token: base.add(name, paths, self._progress_from_thread, token))

    def reindex(self) -> None:
        name = self.current
        if name:
            self._index(
                f"Re-indexing {name}", lambda base, token: base.reindex(name, self._progress_from_thread, token)
            )

    def _index(self, what: str, job: Callable[[KnowledgeBase, CancelToken], AddReport]) -> None:
        if self.token is not None:
            self.status.emit("Already indexing: wait for it to finish, or Cancel.", 5000)
            return
        token = self.token = CancelToken()
        self.progress_label.setText(f"{what}…")
        self.progress.setRange(0, 0)
        self.progress_row.show()
        self._update_buttons()
        self.writes.run(lambda base: job(base, token), self._indexed, self._index_failed, embedding=True)

    def _progress_from_thread(self, progress: Progress) -> None:
        self._progressed.emit(progress)  # queued to the GUI thread

    def _show_progress(self, progress: Progress) -> None:
        if self.token is None:
            return
        stage = STAGES.get(progress.stage, progress.stage)
        figures = f" {progress.done}/{progress.chunks} passages" if progress.stage == "embedding" else ""
        self.progress_label.setText(f"{progress.path.name} ({progress.index}/{progress.total}): {stage}{figures}")
        self.progress.setRange(0, max(1, progress.total * 100))
        within = 100 * progress.done // progress.chunks if progress.chunks else 0
        finished = progress.stage in ("done", "unchanged", "failed")
        self.progress.setValue((progress.index - 1) * 100 + (100 if finished else within))
        if finished:
            self.load_files()

    def _indexed(self, report: AddReport) -> None:
        self._end_indexing()
        self.report = report
        counts = {s: report.count(s) for s in ("added", "updated", "re-embedded", "unchanged", "removed", "failed")}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing to add"
        cancelled = report.count("cancelled")
        self.status.emit(f"{self.current}: {summary}" + (f"; {cancelled} cancelled" if cancelled else "") + ".", 10000)
        problems = [o.message for o in report.outcomes if o.status in ("failed", "skipped") and o.message]
        if problems:
            self.error.emit(" ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
        if report.keyword_only and report.count("added", "updated"):
            self.embedding_wanted.emit()
        self.refresh()

    def _index_failed(self, message: str) -> None:
        self._end_indexing()
        self.error.emit(message)
        self.refresh()

    def _end_indexing(self) -> None:
        self.token = None
        self.progress_row.hide()
        self._update_buttons()

    def cancel(self) -> None:
        if self.token is not None:
            self.token.cancel()
            self.progress_label.setText("Cancelling…")

    @property
    def indexing(self) -> bool:
        return self.token is not None

    def selected_paths(self) -> list[str]:
        return [str(item.data(0, Qt.ItemDataRole.UserRole)) for item in self.files.selectedItems()]

    def remove_selected(self) -> None:
        name, paths = self.current, self.selected_paths()
        if not name or not paths:
            return

        def job(base: KnowledgeBase) -> int:
            return sum(base.remove(name, Path(path)) for path in paths)

        def removed(count: int) -> None:
            self.status.emit(f"Removed {count} file{'s' if count != 1 else ''} from {name}.", 5000)
            self.refresh()

        self.writes.run(job, removed, self.error.emit)

    # the embedding model, the first time documents need one
    def get_embedding_model(self) -> None:
        """The default embedding model into the library, then the collection embedded (a re-index: its passages,
        indexed for keywords, get their vectors; nothing is read again)."""
        fetch = self.fetch_embedding
        if fetch is None or self.token is not None:
            return
        self.offer.busy(True)

        def got(path: Path) -> None:
            self.offer.hide()
            self.offer.busy(False)
            self.status.emit(f"{path.name} is in your library: embedding the collection…", 10000)
            self.model_fetched.emit(path)
            self.reindex()

        def failed(message: str) -> None:
            self.offer.busy(False)
            self.error.emit(message)

        self.writes.run(lambda _base: fetch(), got, failed)

    # search
    def run_search(self) -> None:
        self._search_timer.stop()
        query, name = self.search.text().strip(), self.current
        if not query or not name:
            self.results.clear()
            self.hits, self.searched = [], query
            return

        def shown(hits: list[Hit]) -> None:
            if query != self.search.text().strip() or name != self.current:
                return  # typed on meanwhile: the newer search shows
            self.hits, self.searched = hits, query
            self.results.clear()
            for number, hit in enumerate(hits, 1):
                item = QListWidgetItem(f"[{number}] {hit.where}\n{snippet(hit.text, query)}")
                item.setToolTip(hit.path)
                self.results.addItem(item)
            if not hits:
                self.results.addItem(QListWidgetItem("No passage matches."))

        self.reads.run(lambda base: base.search(name, query, top=8), shown, self.error.emit, embedding=True)

    # state
    def _update_buttons(self) -> None:
        has, idle = bool(self.current), self.token is None
        for button in (self.rename_button, self.delete_button):
            button.setEnabled(has and idle)
        self.reindex_button.setEnabled(has and idle and self.files.topLevelItemCount() > 0)
        self.remove_button.setEnabled(has and idle and bool(self.files.selectedItems()))
        for button in (self.add_files_button, self.add_folder_button):
            button.setEnabled(idle)

    # drag and drop: files and folders into the shown collection
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.add_paths(paths)
            event.acceptProposedAction()

    def shutdown(self) -> None:
        """The window closes: an add in progress is cancelled, the lanes' threads joined; nothing comes back."""
        self.writes.shutdown(self.token)
        self.reads.shutdown()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
