"""The Downloads panel: a list model refreshed by a timer (not per byte), with pause, resume, cancel, retry."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.hub.downloads import Download, DownloadManager, State
from app.core.library.models import human_size
from app.ui.table_model import RowTableModel

Index = QModelIndex | QPersistentModelIndex
REFRESH_MS = 250


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class DownloadsModel(RowTableModel[Download]):
    HEADERS = ("File", "Progress", "Size", "Speed", "ETA", "Status")
    PROGRESS = 1

    def __init__(self, manager: DownloadManager, parent=None) -> None:
        super().__init__(parent)
        self.manager = manager

    @property
    def jobs(self) -> list[Download]:
        return self.rows

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        job = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.UserRole:
            return job
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{job.repo_id} @ {job.revision}\n{job.destination}\n{job.message}"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column == 0:
            return job.filename
        if column == self.PROGRESS:
            return int(1000 * job.done / job.total) if job.total else 0
        if column == 2:
            return f"{human_size(job.done)} / {human_size(job.total)}" if job.total else human_size(job.done)
        if column == 3:
            return f"{human_size(job.speed)}/s" if job.state == State.DOWNLOADING and job.speed else ""
        if column == 4:
            return _eta(job.eta) if job.state == State.DOWNLOADING else ""
        return job.message or job.state.value.capitalize()

    def refresh(self) -> list[Download]:
        """Re-read the manager; returns the jobs that finished since the last refresh."""
        fresh = self.manager.jobs()
        before = {job.key: job.state for job in self.jobs}
        finished = [job for job in fresh if job.state == State.DONE and before.get(job.key) not in (None, State.DONE)]
        if [job.key for job in fresh] != [job.key for job in self.rows]:
            self.set_rows(fresh)
        else:
            self.rows = fresh
            if fresh:
                self.dataChanged.emit(self.index(0, 0), self.index(len(fresh) - 1, len(self.HEADERS) - 1))
        return finished


class ProgressDelegate(QStyledItemDelegate):
    def paint(self, painter, option, index) -> None:
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 4, -2, -4)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(index.data() or 0)
        bar.text = f"{bar.progress / 10:.0f}%"
        bar.textVisible = True
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class DownloadsPage(QWidget):
    model_downloaded = Signal(object)  # Download, once verified and in place

    def __init__(self, manager: DownloadManager, parent=None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.model = DownloadsModel(manager, self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(DownloadsModel.PROGRESS, ProgressDelegate(self.view))
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().hide()
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.view.setColumnWidth(1, 160)
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.clear_button = QPushButton("Clear finished")
        buttons = QHBoxLayout()
        for button in (self.pause_button, self.resume_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Downloads resume where they stopped, even after the app is closed."))
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        self.pause_button.clicked.connect(lambda: self._act(self.manager.pause))
        self.resume_button.clicked.connect(lambda: self._act(self.manager.resume))
        self.cancel_button.clicked.connect(lambda: self._act(self.manager.cancel))
        self.clear_button.clicked.connect(self.clear_finished)
        self.timer = QTimer(self, interval=REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def refresh(self) -> None:
        for job in self.model.refresh():
            self.model_downloaded.emit(job)

    def selected(self) -> Download | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.jobs[rows[0].row()] if rows else None

    def _act(self, action) -> None:
        job = self.selected()
        if job is not None:
            action(job.key)
            self.refresh()

    def clear_finished(self) -> None:
        for job in self.manager.jobs():
            self.manager.forget(job.key)
        self.refresh()
