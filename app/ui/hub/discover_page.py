"""Discover: search the Hugging Face Hub, read a model card, pick the quant that fits, download it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.core.hub import catalogue as hub
from app.core.library.models import human_size, scan_models
from app.ui.background import Background
from app.ui.hub.fit_pill_delegate import FitPillDelegate
from app.ui.hub.table_model import RowTableModel
from app.ui.theme import SPACE_S, SPACE_XS, color, icon, scheme, secondary_text, tone
from app.ui.widgets import VISION_MARK

Index = QModelIndex | QPersistentModelIndex
FIT_ROLE = Qt.ItemDataRole.UserRole + 1
VISIBLE_QUANTS = 12  # the quant table is as tall as this many rows (it scrolls beyond)


class ResultsModel(RowTableModel[hub.RepoSummary]):
    HEADERS = ("Model", "Downloads", "Likes", "Updated")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        repo = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                f"{repo.id}  {VISION_MARK}" if repo.vision else repo.id,
                f"{repo.downloads:,}",
                f"{repo.likes:,}",
                repo.updated.strftime("%Y-%m-%d") if repo.updated else "—",
            )[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            seen = "\nVision: reads images (its quants download with their projector)" if repo.vision else ""
            return f"{repo.id}\nby {repo.author} · {repo.format.upper()}{seen}"
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in (1, 2):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.AccessibleTextRole and index.column() == 0:
            return repo.id
        return None

    @property
    def results(self) -> list[hub.RepoSummary]:
        return self.rows


class DiscoverPage(QWidget):
    """Search → details → download. Every Hub call runs in the background; a late answer to an older
    search or an older selection is dropped (only the newest request of each kind is shown)."""

    download_requested = Signal(str, str, list)  # repo id, revision, [RepoFile]
    serve_requested = Signal(str, str)  # repo id, branch: a GPTQ/AWQ branch to serve with vLLM

    def __init__(
        self,
        background: Background,
        cache_dir: Path,
        context_size: int = 4096,
        parent=None,
        library_folders: Callable[[], list[Path]] = list,
    ) -> None:
        super().__init__(parent)
        self.background = background
        self.library_folders = library_folders  # to mark quants already downloaded
        self.local_files: set[str] = set()  # file names in the library (read with each repo's details)
        self.cache_dir = cache_dir
        self.context_size = context_size
        self.memory: hub.MachineMemory | None = None  # read in the background when the page is built
        self.details: hub.RepoDetails | None = None
        self._waiting: hub.RepoDetails | None = None  # details that wait for the machine's memory to be known
        self._search = 0  # the newest search; older answers are ignored
        self._opened = 0  # the newest repo asked for

        self.query = QLineEdit(
            placeholderText="Search the Hugging Face Hub — e.g. OpenHermes 2 Mistral", clearButtonEnabled=True
        )
        self.format = QComboBox()
        for key, label in (("gguf", "GGUF"), ("gptq", "GPTQ"), ("awq", "AWQ")):
            self.format.addItem(label, key)
        self.kind = QComboBox()  # every model, or only embedding models (the Knowledge page's, /v1/embeddings')
        for key, label in (("", "All models"), ("embedding", "Embedding models")):
            self.kind.addItem(label, key)
        self.kind.setAccessibleName("Kind of model")
        self.sort = QComboBox()
        for key, label in (("downloads", "Most downloads"), ("likes", "Most likes"), ("updated", "Recently updated")):
            self.sort.addItem(label, key)
        self.query.setAccessibleName("Search the Hugging Face Hub")
        self.format.setAccessibleName("Model format")
        self.sort.setAccessibleName("Sort by")
        self.search_button = QPushButton("Search")
        bar = QHBoxLayout()
        bar.addWidget(self.query, 1)
        bar.addWidget(self.format)
        bar.addWidget(self.kind)
        bar.addWidget(self.sort)
        bar.addWidget(self.search_button)
        self.status = QLabel(wordWrap=True)

        self.results = ResultsModel(self)
        self.results_view = QTableView()
        self.results_view.setAccessibleName("Search results")
        self.results_view.setModel(self.results)
        self.results_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results_view.verticalHeader().hide()
        self.results_view.setWordWrap(False)
        self.results_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # "TheBloke/…Mistral-7B-GGUF"
        header = self.results_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.results_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)

        self.title = QLabel()
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.3)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.flag = tone(QLabel(wordWrap=True), "warning")  # the theme's colours at paint time, also after a switch
        bold = self.flag.font()
        bold.setBold(True)
        self.flag.setFont(bold)
        self.memory_label = secondary_text(QLabel(wordWrap=True))
        self._scheme = scheme()
        self.quants = QTableWidget(0, 5)
        self.quants.setAccessibleName("Quants")
        self.quants.setHorizontalHeaderLabels(["Quant", "Size", "Bits/weight", "Fit", "File"])
        self.quants.setItemDelegateForColumn(3, FitPillDelegate(FIT_ROLE, self.quants))
        self.quants.setWordWrap(False)
        self.quants.verticalHeader().hide()
        self.quants.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.quants.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.quants.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.quants.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.quants.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.quants.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 2 * SPACE_S)
        self.download_button = QPushButton(icon("download"), "Download")
        self.download_button.setEnabled(False)
        self.serve_button = QPushButton(icon("server"), "Serve with vLLM…")
        self.serve_button.setToolTip("GPTQ/AWQ run in vLLM, not llama.cpp: the exact command, or start it here")
        self.serve_button.setVisible(False)
        self.card = QTextBrowser(openExternalLinks=True)
        self.card.setAccessibleName("Model card")
        quant_box = QWidget()
        quant_layout = QVBoxLayout(quant_box)
        quant_layout.setContentsMargins(0, 0, 0, 0)
        quant_layout.addWidget(self.quants, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.serve_button)
        row.addWidget(self.download_button)
        quant_layout.addLayout(row)
        detail_split = QSplitter(Qt.Orientation.Vertical)  # the quants above the card, both resizable
        detail_split.setChildrenCollapsible(False)
        detail_split.addWidget(quant_box)
        detail_split.addWidget(self.card)
        detail_split.setStretchFactor(0, 0)
        detail_split.setStretchFactor(1, 1)
        self.detail_split = detail_split
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.setSpacing(SPACE_XS)
        detail_layout.addWidget(self.title)
        detail_layout.addWidget(self.flag)
        detail_layout.addWidget(self.memory_label)
        detail_layout.addWidget(detail_split, 1)

        splitter = QSplitter()
        splitter.addWidget(self.results_view)
        splitter.addWidget(detail)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([480, 620])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE_S * 2, SPACE_S * 2, SPACE_S * 2, SPACE_S)
        layout.setSpacing(SPACE_S)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)

        self.query.returnPressed.connect(self.search)
        self.search_button.clicked.connect(self.search)
        self.format.currentIndexChanged.connect(self.search)
        self.kind.currentIndexChanged.connect(self.search)
        self.sort.currentIndexChanged.connect(self.search)
        self.results_view.selectionModel().currentRowChanged.connect(
            lambda current, _old: self.open_repo(current.row())
        )
        self.quants.itemSelectionChanged.connect(self._selection_changed)
        self.download_button.clicked.connect(self.download_selected)
        self.serve_button.clicked.connect(self._serve_selected)
        self.memory_label.setText("Checking this machine's memory…")
        # Asking the GPU driver can take a moment: never on the GUI thread.
        self.background.run(hub.machine_memory, self._memory_known, self._memory_failed)

    def changeEvent(self, event) -> None:
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.PaletteChange and getattr(self, "_scheme", None) != scheme():
            self._scheme = scheme()
            if self.details is not None and self._waiting is None:
                self.show_details(self.details)
        super().changeEvent(event)

    def _memory_known(self, memory: hub.MachineMemory) -> None:
        self.memory = memory
        self._describe_memory()
        if self._waiting is not None:
            details, self._waiting = self._waiting, None
            self.show_details(details)

    def _memory_failed(self, error: Exception) -> None:
        self._memory_known(hub.MachineMemory(ram=0, vram=None))
        self.memory_label.setText(f"This machine's memory could not be read ({error}); fit estimates assume none.")

    def _describe_memory(self) -> None:
        if self.memory is None:
            return
        gpu = f", GPU {human_size(self.memory.vram)}" if self.memory.vram else ", no GPU found"
        self.memory_label.setText(
            f"This machine: {human_size(self.memory.ram)} RAM{gpu}; fit for a {self.context_size:,}-token context."
        )

    def set_context_size(self, context_size: int) -> None:
        """The settings changed the context size: the fit of every quant is judged afresh."""
        self.context_size = context_size
        self._describe_memory()
        if self.details is not None:
            self.show_details(self.details)

    # searching
    def search(self) -> None:
        query, fmt, sort = self.query.text().strip(), self.format.currentData(), self.sort.currentData()
        kind = self.kind.currentData()
        self.status.setText("Searching…")
        self._search += 1
        search = self._search
        self.background.run(
            lambda: hub.search(query, fmt=fmt, sort=sort, limit=50, kind=kind),
            lambda results: self._found(search, results),
            lambda error: self._failed(search, error),
        )

    def _found(self, search: int, results: list[hub.RepoSummary]) -> None:
        if search != self._search:
            return  # an older search answered after a newer one was asked
        self.results.set_rows(results)
        noun = "model" if len(results) == 1 else "models"
        self.status.setText(f"{len(results)} {noun}" if results else "No models found.")
        if results:
            self.results_view.selectRow(0)

    def _failed(self, search: int, error: Exception) -> None:
        if search != self._search:
            return
        offline = isinstance(error, hub.HubOffline)
        self.status.setText(("⚠ Offline — " if offline else "⚠ ") + str(error))

    # one repo
    def open_repo(self, row: int) -> None:
        if not 0 <= row < len(self.results.results):
            return
        repo = self.results.results[row]
        self.title.setText(repo.id)
        self.flag.setText("")
        self.quants.setRowCount(0)
        self.card.setPlainText("Loading…")
        self.download_button.setEnabled(False)
        cache, folders = self.cache_dir, self.library_folders()
        self._opened += 1
        opened = self._opened

        def work() -> tuple[hub.RepoDetails, set[str]]:
            details = hub.repo_details(repo.id, cache_dir=cache)
            return details, {model.path.name for model in scan_models(folders)}

        self.background.run(
            work,
            lambda found: self._details_found(opened, *found),
            lambda error: self._details_failed(error, opened),
        )

    def _details_found(self, opened: int, details: hub.RepoDetails, local_files: set[str] | None = None) -> None:
        if opened == self._opened:
            if local_files is not None:
                self.local_files = local_files
            self.show_details(details)

    def mark_downloaded(self, filename: str) -> None:
        """A download finished: its quant is marked as in the library."""
        self.local_files.add(Path(filename).name)
        if self.details is not None and self._waiting is None:
            self.show_details(self.details)

    def is_downloaded(self, quant: hub.Quant) -> bool:
        return bool(quant.files) and all(Path(file.path).name in self.local_files for file in quant.files)

    def _details_failed(self, error: Exception, opened: int | None = None) -> None:
        if opened is None or opened == self._opened:
            self.card.setPlainText(str(error))

    def show_details(self, details: hub.RepoDetails) -> None:
        self.details = details
        memory = self.memory
        if details.runnable and memory is None:
            self._waiting = details  # shown as soon as the machine's memory is known
            self.quants.setRowCount(0)
            self.card.setPlainText("Checking this machine's memory…")
            return
        self.title.setText(details.id)
        note = "\n".join(line for line in (details.note, _vision_note(details)) if line)
        self.flag.setText(note)
        self.flag.setVisible(bool(note))  # no empty line under the title
        self.card.setMarkdown(details.card or "*No model card.*")
        self.quants.setRowCount(0)
        if details.runnable and memory is not None:
            self.quants.setHorizontalHeaderLabels(["Quant", "Size", "Bits/weight", "Fit", "File"])
            for column in (2, 3):
                self.quants.setColumnHidden(column, False)
            kv = details.kv_bytes_per_token
            best = hub.recommend(details.quants, memory, self.context_size, kv)
            for quant in details.quants:
                fit = hub.estimate_fit(quant, memory, self.context_size, kv)
                label = f"★ {quant.label}" if quant == best else quant.label
                bpw = f"{quant.bits_per_weight:.2f}" if quant.bits_per_weight else "—"
                projector = details.projector_for(quant) if details.vision else None
                label += f"  {VISION_MARK}" if projector is not None else ""
                size = quant.size + (projector.size if projector is not None else 0)
                row = self._add_row([label, human_size(size), bpw, fit.badge, quant.name])
                if projector is not None:
                    self._cell(row, 0).setToolTip(
                        f"Vision: reads images; downloads with its projector {projector.path.rsplit('/', 1)[-1]} "
                        f"({human_size(projector.size)}, counted in the size)"
                    )
                fit_item = self._cell(row, 3)
                fit_item.setData(FIT_ROLE, fit.badge)
                fit_item.setToolTip(hub.explain_fit(fit, self.context_size))
                if self.is_downloaded(quant):
                    name_item = self._cell(row, 4)
                    name_item.setIcon(icon("circle-check", color("loaded")))
                    name_item.setText(f"{quant.name}  · in your library")
                    name_item.setToolTip("Already downloaded: it is in My Models")
                if quant == best:
                    self._highlight(row)
                    self.quants.selectRow(row)
        else:
            self.quants.setHorizontalHeaderLabels(["Branch", "Settings", "", "", "Commit"])
            for column in (2, 3):  # no bits or fit for a branch: no empty, unlabeled columns
                self.quants.setColumnHidden(column, True)
            for branch in details.branches or (hub.Branch("main", details.sha, ""),):
                self._add_row([branch.name, branch.settings, "", "", branch.commit[:10]])
            if self.quants.rowCount():
                self.quants.selectRow(0)
        self._fit_quant_table()
        self._selection_changed()

    def _fit_quant_table(self) -> None:
        """As tall as its rows (up to VISIBLE_QUANTS), showing its top: every quant is seen without scrolling."""
        rows = min(max(self.quants.rowCount(), 3), VISIBLE_QUANTS)
        height = (rows * self.quants.verticalHeader().defaultSectionSize() + self.quants.horizontalHeader().height()
                  + 2 * self.quants.frameWidth() + 2)  # fmt: skip
        self.quants.setMinimumHeight(min(height, 4 * self.quants.verticalHeader().defaultSectionSize()))
        sizes = self.detail_split.sizes()
        button = self.download_button.sizeHint().height() + SPACE_S
        if sum(sizes):
            top = min(height + button, sum(sizes) - 120)
            self.detail_split.setSizes([top, sum(sizes) - top])
        self.quants.scrollToTop()

    def _highlight(self, row: int) -> None:
        """The recommended quant's row: tinted and bold, so it stands out even when not selected."""
        back, fore = color("recommended", background=True), color("recommended")
        for column in range(self.quants.columnCount()):
            item = self._cell(row, column)
            item.setBackground(back)
            item.setForeground(fore)
            font = item.font()
            font.setBold(True)
            item.setFont(font)
        self._cell(row, 0).setToolTip("Recommended: the largest quant that fits this machine")

    def _cell(self, row: int, column: int) -> QTableWidgetItem:
        item = self.quants.item(row, column)
        assert item is not None, "every cell is set by _add_row"
        return item

    def _add_row(self, cells: list[str]) -> int:
        row = self.quants.rowCount()
        self.quants.insertRow(row)
        for column, text in enumerate(cells):
            self.quants.setItem(row, column, QTableWidgetItem(text))
        return row

    def _selection_changed(self) -> None:
        has = bool(self.details) and bool(self.quants.selectionModel().selectedRows())
        self.download_button.setEnabled(has)
        branch = self.details is not None and not self.details.runnable
        self.download_button.setText("Download branch (not runnable here)" if branch else "Download")
        self.serve_button.setVisible(branch)
        self.serve_button.setEnabled(has and branch)

    def _serve_selected(self) -> None:
        rows = self.quants.selectionModel().selectedRows()
        if self.details is not None and rows:
            self.serve_requested.emit(self.details.id, self._cell(rows[0].row(), 0).text())

    def download_selected(self) -> None:
        details = self.details
        rows = self.quants.selectionModel().selectedRows()
        if details is None or not rows:
            return
        row = rows[0].row()
        if details.runnable:
            quant = details.quants[row]
            projector = details.projector_for(quant) if details.vision else None  # a vision model sees with it
            self.download_requested.emit(details.id, "main", list(quant.files) + ([projector] if projector else []))
        else:
            branch = self._cell(row, 0).text()
            self.background.run(
                lambda: hub.repo_details(details.id, revision=branch, cache_dir=self.cache_dir),
                lambda snapshot: self.download_requested.emit(details.id, branch, list(snapshot.files)),
                self._details_failed,
            )


def _vision_note(details: hub.RepoDetails) -> str:
    """What a vision repo's quants bring along, for people ("" for a text-only repo)."""
    if not details.vision:
        return ""
    names = ", ".join(projector.path.rsplit("/", 1)[-1] for projector in details.projectors)
    return f"Vision model: each quant downloads with its projector (the F16/BF16 one first; this repo has {names})."
