"""The Downloads panel: a list model refreshed by a timer (not per byte), with per-row actions (pause, resume,
cancel, show in folder, load) that are enabled only where they apply."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
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
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.hub.downloads import Download, DownloadManager, State
from app.core.library.models import human_size
from app.ui.hub.table_model import RowTableModel
from app.ui.theme import SPACE_S, SPACE_XS, icon, secondary_text
from app.ui.widgets import EmptyTableView, show_in_folder, tool_button

Index = QModelIndex | QPersistentModelIndex
REFRESH_MS = 250
ACTIVE = (State.QUEUED, State.DOWNLOADING, State.PAUSED, State.VERIFYING)
# action -> (icon, label, the states it applies to); "load" and "folder" need a file in place too
ACTIONS = {
    "pause": ("pause", "Pause", (State.QUEUED, State.DOWNLOADING)),
    "resume": ("play", "Resume", (State.PAUSED, State.FAILED, State.CANCELLED)),
    "cancel": ("x", "Cancel", (State.QUEUED, State.DOWNLOADING, State.PAUSED)),
    "folder": ("folder-open", "Show in folder", (State.DONE,)),
    "load": ("message-square", "Load and chat", (State.DONE,)),
}


def applies(action: str, job: Download) -> bool:
    """Whether a row's action makes sense now (its button is enabled only then)."""
    if job.state not in ACTIONS[action][2]:
        return False
    if action == "load":
        return job.filename.lower().endswith(".gguf") and job.destination.is_file()
    if action == "folder":
        return job.destination.exists()
    return True


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class DownloadsModel(RowTableModel[Download]):
    HEADERS = ("File", "Progress", "Size", "Speed", "ETA", "Status", "")
    PROGRESS = 1
    ACTIONS = 6

    def __init__(self, manager: DownloadManager, parent=None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.version = -1  # the manager's version last shown

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
        if role != Qt.ItemDataRole.DisplayRole or column == self.ACTIONS:
            return None
        if column == 0:
            return job.filename
        if job.state == State.CANCELLED and column in (self.PROGRESS, 2):
            return None  # its file is gone: no progress, no size left to show
        if column == self.PROGRESS:
            return int(1000 * job.done / job.total) if job.total else 0
        if column == 2:
            # no-break spaces: the size stays on one line
            size = f"{human_size(job.done)} / {human_size(job.total)}" if job.total else human_size(job.done)
            return size.replace(" ", "\u00a0")
        if column == 3:
            return f"{human_size(job.speed)}/s" if job.state == State.DOWNLOADING and job.speed else ""
        if column == 4:
            return _eta(job.eta) if job.state == State.DOWNLOADING else ""
        return job.message or job.state.value.capitalize()

    def refresh(self) -> tuple[list[Download], list[Download]]:
        """Re-read the manager, if anything changed since the last time: (the jobs that finished since the last
        refresh, the rows that changed). Rows added at the end or removed are inserted or removed one by one
        (a Download click touches one row, not all of them); only a reordering resets the model."""
        version = self.manager.version
        if version == self.version:
            return [], []
        self.version = version
        fresh = self.manager.jobs()
        before = {job.key: job for job in self.rows}
        finished = [job for job in fresh if job.state == State.DONE and before.get(job.key, job).state != State.DONE]
        fresh_keys = {job.key for job in fresh}
        gone = [row for row, job in enumerate(self.rows) if job.key not in fresh_keys]
        for row in reversed(gone):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.rows[row]
            self.endRemoveRows()
        kept = len(self.rows)
        if [job.key for job in fresh[:kept]] != [job.key for job in self.rows]:
            self.set_rows(fresh)
            return finished, list(fresh)
        changed = [row for row in range(kept) if fresh[row] != self.rows[row]]
        self.rows[:kept] = fresh[:kept]
        for row in changed:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.HEADERS) - 1))
        if len(fresh) > kept:
            self.beginInsertRows(QModelIndex(), kept, len(fresh) - 1)
            self.rows.extend(fresh[kept:])
            self.endInsertRows()
        return finished, [self.rows[row] for row in changed]


class ProgressDelegate(QStyledItemDelegate):
    def paint(self, painter, option, index) -> None:
        if index.data() is None:
            return  # (a cancelled download)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 4, -2, -4)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(index.data() or 0)
        bar.text = f"{bar.progress / 10:.0f}%"
        bar.textVisible = True
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class RowActions(QWidget):
    """The action buttons of one row; only the ones that apply to the row's state are enabled."""

    def __init__(self, page: DownloadsPage, key: str) -> None:
        super().__init__()
        self.key = key
        self.buttons: dict[str, QToolButton] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(SPACE_XS, 0, SPACE_XS, 0)
        layout.setSpacing(SPACE_XS)
        for action, (icon_name, label, _states) in ACTIONS.items():
            button = tool_button(icon=icon(icon_name), tooltip=label, auto_raise=True)
            button.setAccessibleName(label)
            button.clicked.connect(lambda _checked=False, a=action: page.act(a, self.key))
            layout.addWidget(button)
            self.buttons[action] = button
        layout.addStretch(1)

    def update_for(self, job: Download) -> None:
        for action, button in self.buttons.items():
            button.setEnabled(applies(action, job))


class DownloadsPage(QWidget):
    model_downloaded = Signal(object)  # Download, once verified and in place
    load_requested = Signal(str)  # the path of a downloaded model
    active_count_changed = Signal(int)  # downloads not finished yet (the page list's badge)

    def __init__(self, manager: DownloadManager, parent=None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.active_count = -1
        self.model = DownloadsModel(manager, self)
        self.view = EmptyTableView("No downloads yet. Find a model on Discover (Ctrl+2) and press Download.")
        self.view.setAccessibleName("Downloads")
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(DownloadsModel.PROGRESS, ProgressDelegate(self.view))
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 2 * SPACE_S + 4)
        # Widths fixed from the font (not ResizeToContents, which measures every row at each change of one).
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(DownloadsModel.PROGRESS, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(DownloadsModel.ACTIONS, QHeaderView.ResizeMode.Fixed)
        metrics, pad = self.fontMetrics(), 2 * SPACE_S + 8
        for column, widest in ((2, "999.9\u00a0MB\u00a0/\u00a0999.9\u00a0MB"), (3, "999.9 MB/s"), (4, "59 min")):
            width = max(metrics.horizontalAdvance(widest), metrics.horizontalAdvance(DownloadsModel.HEADERS[column]))
            self.view.setColumnWidth(column, width + pad)
        self.view.setColumnWidth(DownloadsModel.PROGRESS, 160)
        self.view.setColumnWidth(DownloadsModel.ACTIONS, 5 * 30 + 2 * SPACE_XS + 8)
        # Each row's buttons are made when the row first comes into view (a queue of 200 makes a screenful).
        self._rows: dict[str, RowActions] = {}
        self._fill = QTimer(self, singleShot=True, interval=0)
        self._fill.timeout.connect(self._add_visible_row_actions)
        self.view.verticalScrollBar().valueChanged.connect(self._fill.start)
        self.pause_button = QPushButton(icon("pause"), "Pause")
        self.resume_button = QPushButton(icon("play"), "Resume")
        self.cancel_button = QPushButton(icon("x"), "Cancel")
        self.clear_button = QPushButton("Clear finished")
        buttons = QHBoxLayout()
        for button in (self.pause_button, self.resume_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        note = QLabel("Downloads resume where they stopped, even after the app is closed.")
        secondary_text(note)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE_S * 2, SPACE_S * 2, SPACE_S * 2, SPACE_S)
        layout.setSpacing(SPACE_S)
        layout.addWidget(note)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        self.pause_button.clicked.connect(lambda: self._act_on_selected("pause"))
        self.resume_button.clicked.connect(lambda: self._act_on_selected("resume"))
        self.cancel_button.clicked.connect(lambda: self._act_on_selected("cancel"))
        self.clear_button.clicked.connect(self.clear_finished)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.modelReset.connect(self._rebuild_row_actions)
        self.model.rowsInserted.connect(self._add_row_actions)
        self.model.rowsAboutToBeRemoved.connect(self._drop_row_actions)
        self.timer = QTimer(self, interval=REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def refresh(self) -> None:
        finished, changed = self.model.refresh()
        for job in finished:
            self.model_downloaded.emit(job)
        for job in changed:
            if job.key in self._rows:
                self._rows[job.key].update_for(job)
        self._update_buttons()
        active = sum(job.state in ACTIVE for job in self.model.jobs)
        if active != self.active_count:
            self.active_count = active
            self.active_count_changed.emit(active)

    def _rebuild_row_actions(self) -> None:
        self._rows.clear()  # the view dropped its row widgets with the reset
        self._fill.start()

    def _add_row_actions(self, *_args) -> None:
        self._fill.start()

    def _add_visible_row_actions(self) -> None:
        """Buttons for the rows on screen (and a few past them) that have none yet."""
        count = len(self.model.jobs)
        if not count or not self.view.isVisible():
            return
        first = max(self.view.rowAt(0), 0)
        last = self.view.rowAt(self.view.viewport().height() - 1)
        last = count - 1 if last < 0 else min(count - 1, last + 4)
        for row in range(first, last + 1):
            if self.model.jobs[row].key not in self._rows:
                self._make_row_actions(row)

    def _make_row_actions(self, row: int) -> RowActions:
        job = self.model.jobs[row]
        actions = RowActions(self, job.key)
        actions.update_for(job)
        self.view.setIndexWidget(self.model.index(row, DownloadsModel.ACTIONS), actions)
        self._rows[job.key] = actions
        return actions

    def _drop_row_actions(self, _parent: Index, first: int, last: int) -> None:
        for job in self.model.jobs[first : last + 1]:
            self._rows.pop(job.key, None)  # the view deletes the row's widget with the row
        self._fill.start()  # the rows below move up into view

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fill.start()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fill.start()

    def _update_buttons(self, *_args) -> None:
        selected = self.selected()
        self.pause_button.setEnabled(selected is not None and applies("pause", selected))
        self.resume_button.setEnabled(selected is not None and applies("resume", selected))
        self.cancel_button.setEnabled(selected is not None and applies("cancel", selected))
        self.clear_button.setEnabled(any(job.finished for job in self.model.jobs))

    def row_actions(self, key: str) -> RowActions:
        """A row's buttons (made now if the row has not been in view yet)."""
        if key not in self._rows:
            row = next(row for row, job in enumerate(self.model.jobs) if job.key == key)
            return self._make_row_actions(row)
        return self._rows[key]

    def selected(self) -> Download | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.jobs[rows[0].row()] if rows and rows[0].row() < len(self.model.jobs) else None

    def _act_on_selected(self, action: str) -> None:
        job = self.selected()
        if job is not None:
            self.act(action, job.key)

    def act(self, action: str, key: str) -> None:
        """Do a row's action, if it still applies (the row may have changed since it was drawn)."""
        row = next((row for row, job in enumerate(self.model.jobs) if job.key == key), -1)
        if row < 0:
            return
        job = self.model.jobs[row]
        self.view.selectRow(row)  # a row's own button selects it: the buttons below follow
        if not applies(action, job):
            return
        if action == "pause":
            self.manager.pause(key)
        elif action == "resume":
            self.manager.resume(key)
        elif action == "cancel":
            self.manager.cancel(key)
        elif action == "folder":
            show_in_folder(job.destination)
        elif action == "load":
            self.load_requested.emit(str(job.destination))
        self.refresh()

    def clear_finished(self) -> None:
        for job in self.manager.jobs():
            self.manager.forget(job.key)
        self.refresh()
