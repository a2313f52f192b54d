"""The Server page: serve the window's model to other programs over OpenAI's HTTP API.

The server runs in this process on the window's own ``EngineService`` (``EngineClient.service``), so an
API request waits behind a chat in the window and never runs beside it. Start/Stop, the port, "serve on
the local network" (off by default, with a warning), an optional API key, allowed CORS origins, and a
live log of requests with their speed.

Wiring (main window): ``self.server_page = ServerPage(self.engine.service, paths, library_folders=...)``,
add it as a page, and call ``server_page.shutdown()`` in ``closeEvent`` before the engine closes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.engines.service import EngineService
from app.core.errors import HermesError
from app.core.paths import AppPaths
from app.server.app import ServerOptions
from app.server.routes import RequestRecord
from app.server.runner import ALL_INTERFACES, LOCAL_ONLY, ServerRunner, describe

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
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(MAX_LOG_LINES)

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
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(QLabel("Requests"))
        layout.addWidget(self.log, 1)
        self.request_logged.connect(self._append)

    @property
    def running(self) -> bool:
        return self.runner is not None and self.runner.running

    def options(self) -> ServerOptions:
        origins = tuple(o.strip() for o in self.cors.text().split(",") if o.strip())
        return ServerOptions(
            host=ALL_INTERFACES if self.lan.isChecked() else LOCAL_ONLY, port=self.port.value(),
            api_key=self.api_key.text().strip(), cors_origins=origins, jit=self.jit.isChecked(),
            library_folders=self.library_folders, presets_dir=self.paths.presets_dir,
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
        self.running_changed.emit(True)
        return True

    def stop(self) -> None:
        runner, self.runner = self.runner, None
        if runner is not None:
            runner.stop()
        self._set_editable(True)
        self.status.setText("Stopped.")
        self.toggle.setText("Start server")
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

    @Slot(object)
    def _append(self, record: RequestRecord) -> None:
        self.log.appendPlainText(describe(record))

    def _set_editable(self, editable: bool) -> None:
        for widget in (self.port, self.lan, self.api_key, self.cors, self.jit):
            widget.setEnabled(editable)
