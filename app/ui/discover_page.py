"""Discover: search the Hugging Face Hub, read a model card, pick the quant that fits, download it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
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
from app.core.library.models import human_size
from app.ui.background import Background
from app.ui.table_model import RowTableModel

Index = QModelIndex | QPersistentModelIndex
BADGE_COLORS = {
    "Full GPU offload": "#2e7d32",
    "Partial offload": "#1565c0",
    "CPU only": "#6d4c41",
    "Too large": "#c62828",
}


class ResultsModel(RowTableModel[hub.RepoSummary]):
    HEADERS = ("Model", "Downloads", "Likes", "Updated")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        repo = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                repo.id,
                f"{repo.downloads:,}",
                f"{repo.likes:,}",
                repo.updated.strftime("%Y-%m-%d") if repo.updated else "—",
            )[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{repo.id}\nby {repo.author} · {repo.format.upper()}"
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in (1, 2):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @property
    def results(self) -> list[hub.RepoSummary]:
        return self.rows


class DiscoverPage(QWidget):
    """Search → details → download. Every Hub call runs in the background; a late answer to an older
    search or an older selection is dropped (only the newest request of each kind is shown)."""

    download_requested = Signal(str, str, list)  # repo id, revision, [RepoFile]

    def __init__(self, background: Background, cache_dir: Path, context_size: int = 4096, parent=None) -> None:
        super().__init__(parent)
        self.background = background
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
        self.sort = QComboBox()
        for key, label in (("downloads", "Most downloads"), ("likes", "Most likes"), ("updated", "Recently updated")):
            self.sort.addItem(label, key)
        self.search_button = QPushButton("Search")
        bar = QHBoxLayout()
        bar.addWidget(self.query, 1)
        bar.addWidget(self.format)
        bar.addWidget(self.sort)
        bar.addWidget(self.search_button)
        self.status = QLabel(wordWrap=True)

        self.results = ResultsModel(self)
        self.results_view = QTableView()
        self.results_view.setModel(self.results)
        self.results_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results_view.verticalHeader().hide()
        self.results_view.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.results_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)

        self.title = QLabel()
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.3)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.flag = QLabel(wordWrap=True)
        self.flag.setStyleSheet("color: #b26a00; font-weight: bold;")
        self.memory_label = QLabel()
        self.memory_label.setEnabled(False)
        self.quants = QTableWidget(0, 5)
        self.quants.setHorizontalHeaderLabels(["Quant", "Size", "Bits/weight", "Fit", "File"])
        self.quants.verticalHeader().hide()
        self.quants.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.quants.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.quants.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.quants.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.quants.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.quants.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.download_button = QPushButton("Download")
        self.download_button.setEnabled(False)
        self.card = QTextBrowser(openExternalLinks=True)
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addWidget(self.title)
        detail_layout.addWidget(self.flag)
        detail_layout.addWidget(self.memory_label)
        detail_layout.addWidget(self.quants, 2)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.download_button)
        detail_layout.addLayout(row)
        detail_layout.addWidget(self.card, 3)

        splitter = QSplitter()
        splitter.addWidget(self.results_view)
        splitter.addWidget(detail)
        splitter.setSizes([420, 620])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)

        self.query.returnPressed.connect(self.search)
        self.search_button.clicked.connect(self.search)
        self.format.currentIndexChanged.connect(self.search)
        self.sort.currentIndexChanged.connect(self.search)
        self.results_view.selectionModel().currentRowChanged.connect(
            lambda current, _old: self.open_repo(current.row())
        )
        self.quants.itemSelectionChanged.connect(self._selection_changed)
        self.download_button.clicked.connect(self.download_selected)
        self.memory_label.setText("Checking this machine's memory…")
        # Asking the GPU driver can take a moment: never on the GUI thread.
        self.background.run(hub.machine_memory, self._memory_known, self._memory_failed)

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
        self.status.setText("Searching…")
        self._search += 1
        search = self._search
        self.background.run(
            lambda: hub.search(query, fmt=fmt, sort=sort, limit=50),
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
        cache = self.cache_dir
        self._opened += 1
        opened = self._opened
        self.background.run(
            lambda: hub.repo_details(repo.id, cache_dir=cache),
            lambda details: self._details_found(opened, details),
            lambda error: self._details_failed(error, opened),
        )

    def _details_found(self, opened: int, details: hub.RepoDetails) -> None:
        if opened == self._opened:
            self.show_details(details)

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
        self.flag.setText(details.note)
        self.card.setMarkdown(details.card or "*No model card.*")
        self.quants.setRowCount(0)
        if details.runnable and memory is not None:
            self.quants.setHorizontalHeaderLabels(["Quant", "Size", "Bits/weight", "Fit", "File"])
            kv = details.kv_bytes_per_token
            best = hub.recommend(details.quants, memory, self.context_size, kv)
            for quant in details.quants:
                fit = hub.estimate_fit(quant, memory, self.context_size, kv)
                label = f"★ {quant.label}" if quant == best else quant.label
                bpw = f"{quant.bits_per_weight:.2f}" if quant.bits_per_weight else "—"
                self._add_row([label, human_size(quant.size), bpw, fit.badge, quant.name], BADGE_COLORS.get(fit.badge))
                row = self.quants.rowCount() - 1
                self.quants.item(row, 3).setToolTip(hub.explain_fit(fit, self.context_size))
                if quant == best:
                    self.quants.selectRow(row)
                    item = self.quants.item(row, 0)
                    item.setToolTip("Recommended: the largest quant that fits this machine")
                    # once laid out; by row, as the table may be refilled before then (its items deleted)
                    QTimer.singleShot(0, lambda row=row: self.quants.scrollTo(self.quants.model().index(row, 0)))
        else:
            self.quants.setHorizontalHeaderLabels(["Branch", "Settings", "", "", "Commit"])
            for branch in details.branches or (hub.Branch("main", details.sha, ""),):
                self._add_row([branch.name, branch.settings, "", "", branch.commit[:10]], None)
            if self.quants.rowCount():
                self.quants.selectRow(0)
        self._selection_changed()

    def _add_row(self, cells: list[str], badge_color: str | None) -> None:
        row = self.quants.rowCount()
        self.quants.insertRow(row)
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column == 3 and badge_color:
                item.setForeground(QColor(badge_color))
            self.quants.setItem(row, column, item)

    def _selection_changed(self) -> None:
        has = bool(self.details) and bool(self.quants.selectionModel().selectedRows())
        self.download_button.setEnabled(has)
        if self.details is not None and not self.details.runnable:
            self.download_button.setText("Download branch (not runnable here)")
        else:
            self.download_button.setText("Download")

    def download_selected(self) -> None:
        details = self.details
        rows = self.quants.selectionModel().selectedRows()
        if details is None or not rows:
            return
        row = rows[0].row()
        if details.runnable:
            quant = details.quants[row]
            self.download_requested.emit(details.id, "main", list(quant.files))
        else:
            branch = self.quants.item(row, 0).text()
            self.background.run(
                lambda: hub.repo_details(details.id, revision=branch, cache_dir=self.cache_dir),
                lambda snapshot: self.download_requested.emit(details.id, branch, list(snapshot.files)),
                self._details_failed,
            )
