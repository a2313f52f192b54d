"""The Server page: serve the window's model to other programs over OpenAI's HTTP API.

The server runs in this process on the window's own ``EngineService`` (``EngineClient.service``), so an
API request waits behind a chat in the window and never runs beside it. Start/Stop, the port, "serve on
the local network" (off by default, with a warning), an optional API key, allowed CORS origins; an
endpoint cheat sheet (``app.server.snippets``: curl and Python for the loaded model, each copyable); and
the request log, one row per request from the moment it starts (time, request, "…" while it runs, then
its status, tokens and speed). While it runs, ``server_indicator.ServerIndicator`` shows it in the
status bar and the rail.

Wiring (main window): ``self.server_page = ServerPage(self.engine.service, paths, library_folders=...)``,
add it as a page, and call ``server_page.shutdown()`` in ``closeEvent`` before the engine closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.engines.service import EngineService
from app.core.errors import HermesError
from app.core.paths import AppPaths
from app.server.app import ServerOptions
from app.server.routes import STARTED, RequestRecord
from app.server.runner import ALL_INTERFACES, LOCAL_ONLY, ServerRunner, describe
from app.server.snippets import KEY_VARIABLE, Snippet, snippets

LAN_WARNING = (
    "Anyone on your network can then use this model (and your computer's power). "
    "Set an API key, and only do this on a network you trust."
)
MAX_LOG_LINES = 500


class ServerPage(QWidget):
    """Start/stop the local server; ``request_logged`` carries each answered request (on the GUI thread)."""

    request_logged = Signal(object)  # RequestRecord
    running_changed = Signal(bool)

    def __init__(
        self,
        service: EngineService,
        paths: AppPaths,
        library_folders: Callable[[], list[Path]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.paths = paths
        self.library_folders = library_folders or (lambda: [paths.default_models_dir])
        self.runner: ServerRunner | None = None

        self.port = QSpinBox(minimum=1, maximum=65535, value=1234)
        self.lan = QCheckBox("Serve on the local network")
        self.lan_warning = QLabel(LAN_WARNING)
        self.lan_warning.setWordWrap(True)
        self.lan_warning.setVisible(False)
        self.lan.toggled.connect(self.lan_warning.setVisible)
        self.api_key = QLineEdit(placeholderText="optional: clients send 'Authorization: Bearer KEY'")
        self.api_key.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.cors = QLineEdit(placeholderText="e.g. http://localhost:3000, https://my.app (comma-separated)")
        self.jit = QCheckBox("Load library models on request (just in time)")
        self.toggle = QPushButton("Start server")
        self.toggle.clicked.connect(self._toggle)
        self.status = QLabel("Stopped.")
        self.snippet_picker = QComboBox()
        self.snippet_picker.setAccessibleName("Snippet")
        self.snippet_view = QPlainTextEdit(readOnly=True)
        self.snippet_view.setAccessibleName("Snippet code")
        self.snippet_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.snippet_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.snippet_view.setFixedHeight(self.snippet_view.fontMetrics().lineSpacing() * 8 + 12)
        self.copy_snippet = QPushButton("Copy")
        self.copy_snippet.setToolTip("Copy this snippet")
        self.snippet_note = QLabel(wordWrap=True)
        self.snippets: list[Snippet] = []
        self.log = QTreeWidget()
        self.log.setAccessibleName("Requests")
        self.log.setHeaderLabels(["Time", "Request", "Status", "Details"])
        self.log.setRootIsDecorated(False)
        self.log.setUniformRowHeights(True)
        self.log.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.log.header().setStretchLastSection(True)
        self._rows: dict[int, QTreeWidgetItem] = {}  # requests by id, while their row is in the log

        form = QFormLayout()
        form.addRow("Port", self.port)
        form.addRow("", self.lan)
        form.addRow("", self.lan_warning)
        form.addRow("API key", self.api_key)
        form.addRow("Allowed origins (CORS)", self.cors)
        form.addRow("", self.jit)
        row = QHBoxLayout()
        row.addWidget(self.toggle)
        row.addWidget(self.status, 1)
        picker_row = QHBoxLayout()
        picker_row.addWidget(self.snippet_picker, 1)
        picker_row.addWidget(self.copy_snippet)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(QLabel("<b>Use it from your code</b>"))
        layout.addLayout(picker_row)
        layout.addWidget(self.snippet_view)
        layout.addWidget(self.snippet_note)
        layout.addWidget(QLabel("<b>Requests</b>"))
        layout.addWidget(self.log, 1)
        self.request_logged.connect(self._append)
        self.snippet_picker.currentIndexChanged.connect(self._show_snippet)
        self.copy_snippet.clicked.connect(self._copy_snippet)
        for changed in (self.port.valueChanged, self.api_key.textChanged):
            changed.connect(self.refresh_snippets)
        self.refresh_snippets()

    @property
    def running(self) -> bool:
        return self.runner is not None and self.runner.running

    def options(self) -> ServerOptions:
        origins = tuple(o.strip() for o in self.cors.text().split(",") if o.strip())
        return ServerOptions(
            host=ALL_INTERFACES if self.lan.isChecked() else LOCAL_ONLY, port=self.port.value(),
            api_key=self.api_key.text().strip(), cors_origins=origins, jit=self.jit.isChecked(),
            library_folders=self.library_folders, presets_dir=self.paths.presets_dir,
            knowledge_db=self.paths.knowledge_db,
        )  # fmt: skip

    def start(self) -> bool:
        if self.running:
            return True
        runner = ServerRunner(self.service, self.options(), record=self.request_logged.emit)  # emitted cross-thread
        try:
            runner.start()
        except HermesError as exc:
            self.status.setText(str(exc))
            return False
        self.runner = runner
        self._set_editable(False)
        where = "on the local network" if self.lan.isChecked() else "on this computer only"
        self.status.setText(f"Serving on {runner.url} ({where}).")
        self.toggle.setText("Stop server")
        self.refresh_snippets()
        self.running_changed.emit(True)
        return True

    def stop(self) -> None:
        runner, self.runner = self.runner, None
        if runner is not None:
            runner.stop()
        self._set_editable(True)
        self.status.setText("Stopped.")
        self.toggle.setText("Start server")
        self.refresh_snippets()
        self.running_changed.emit(False)

    def shutdown(self) -> None:
        """The window is closing: stop serving (the engine service is the window's to close)."""
        if self.runner is not None:
            self.stop()

    @Slot()
    def _toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    # the cheat sheet
    def base_url(self) -> str:
        return self.runner.url if self.runner is not None else f"http://{LOCAL_ONLY}:{self.port.value()}/v1"

    def model_id(self) -> str:
        """The loaded model's id as the server names it (what ``GET /v1/models`` lists)."""
        loaded = self.service.loaded
        if loaded is None:
            return ""
        return str(loaded.info.path) if loaded.remote else loaded.info.path.stem

    @Slot()
    def refresh_snippets(self) -> None:
        key = bool(self.api_key.text().strip())
        self.snippets = snippets(self.base_url(), self.model_id(), api_key=key)
        chosen = max(0, self.snippet_picker.currentIndex())
        self.snippet_picker.blockSignals(True)
        self.snippet_picker.clear()
        self.snippet_picker.addItems([snippet.title for snippet in self.snippets])
        self.snippet_picker.setCurrentIndex(min(chosen, len(self.snippets) - 1))
        self.snippet_picker.blockSignals(False)
        self._show_snippet()
        notes = [] if self.model_id() else ["Load a model first: MODEL stands for its name."]
        if key:
            notes.append(f"Set {KEY_VARIABLE} to your API key before you run these.")
        if not self.running:
            notes.append("Start the server to use them.")
        self.snippet_note.setText(" ".join(notes))

    def snippet(self) -> Snippet:
        return self.snippets[max(0, self.snippet_picker.currentIndex())]

    def _show_snippet(self) -> None:
        self.snippet_view.setPlainText(self.snippet().code)

    def _copy_snippet(self) -> None:
        QGuiApplication.clipboard().setText(self.snippet().code)
        self.copy_snippet.setText("Copied")
        QTimer.singleShot(1500, lambda: self.copy_snippet.setText("Copy"))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh_snippets()  # the model may have changed while the page was away

    # the request log
    @Slot(object)
    def _append(self, record: RequestRecord) -> None:
        clock = time.strftime("%H:%M:%S", time.localtime(record.at))
        if record.phase == STARTED:
            row = QTreeWidgetItem([clock, f"{record.method} {record.path}", "…", "running"])
            self.log.addTopLevelItem(row)
            self._rows[record.request_id] = row
            while self.log.topLevelItemCount() > MAX_LOG_LINES:
                oldest = self.log.takeTopLevelItem(0)
                self._rows = {key: item for key, item in self._rows.items() if item is not oldest}
            self.log.scrollToItem(row)
            return
        answered = self._rows.pop(record.request_id, None) if record.request_id else None
        if answered is None:
            answered = QTreeWidgetItem([clock, f"{record.method} {record.path}", "", ""])
            self.log.addTopLevelItem(answered)
        details = describe(record).removeprefix(f"{record.method} {record.path} {record.status}").lstrip(" ·")
        answered.setText(2, str(record.status))
        answered.setText(3, f"{details} · answered {clock}" if details else f"answered {clock}")
        if record.model == "" and record.path.endswith("/models") and record.status == 200:
            self.refresh_snippets()

    def log_lines(self) -> list[str]:
        """The log as text, a line per request (for tests and Copy)."""
        rows = (self.log.topLevelItem(index) for index in range(self.log.topLevelItemCount()))
        return [" ".join(row.text(column) for column in range(4)) for row in rows if row is not None]

    def _set_editable(self, editable: bool) -> None:
        for widget in (self.port, self.lan, self.api_key, self.cors, self.jit):
            widget.setEnabled(editable)
