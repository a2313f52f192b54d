"""Engines… (the model bar; Model → Engines…): OpenAI-compatible endpoints (llama-server, vLLM, Ollama, LM Studio,
another Hermes Studio).

Add one by name, base URL and optional API key; "Check" asks it for its models on a background thread
and says what it found or why it failed (never a frozen dialog). The entries live in ``engines.json``
under the config directory (``RemoteEngineStore``); the model picker lists their models, marked remote.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.engines.remote import list_models
from app.core.engines.remote_store import RemoteEngineStore
from app.core.errors import HermesError

ELSEWHERE_HELP = (
    "Point Hermes Studio at a model server: llama-server (http://HOST:8080), vLLM (http://HOST:8000), "
    "Ollama (http://HOST:11434), LM Studio (http://HOST:1234) or another Hermes Studio's Server page."
)


class EnginesDialog(QDialog):
    checked = Signal(str, object)  # engine name, list of model ids or an error message (str)

    def __init__(self, store: RemoteEngineStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Engines")
        self.setMinimumWidth(560)  # a URL and the help text read on one or two lines, not six
        self.store = store
        self.engines = QListWidget()
        self.name = QLineEdit(placeholderText="GPU box")
        self.url = QLineEdit(placeholderText="http://192.168.1.20:8000/v1")
        self.key = QLineEdit(placeholderText="optional")
        self.key.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.message = QLabel(store.problem)
        self.message.setWordWrap(True)
        add, remove, check = QPushButton("Add"), QPushButton("Remove"), QPushButton("Check")
        add.clicked.connect(self.add_engine)
        remove.clicked.connect(self.remove_selected)
        check.clicked.connect(self.check_selected)
        self.checked.connect(self._show_check)

        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Base URL", self.url)
        form.addRow("API key", self.key)
        buttons = QHBoxLayout()
        for button in (add, remove, check):
            buttons.addWidget(button)
        help_text = QLabel(ELSEWHERE_HELP)
        help_text.setWordWrap(True)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(help_text)
        layout.addWidget(self.engines)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(close)
        self.reload()

    def reload(self) -> None:
        self.engines.clear()
        for entry in self.store.entries():
            self.engines.addItem(f"{entry.name} — {entry.base_url}")

    def selected_name(self) -> str | None:
        row = self.engines.currentRow()
        entries = self.store.entries()
        return entries[row].name if 0 <= row < len(entries) else None

    @Slot()
    def add_engine(self) -> None:
        try:
            entry = self.store.add(self.name.text(), self.url.text(), self.key.text())
        except HermesError as exc:
            self.message.setText(str(exc))
            return
        for field in (self.name, self.url, self.key):
            field.clear()
        self.reload()
        self.engines.setCurrentRow(self.engines.count() - 1)
        self.message.setText(f"Added {entry.name}. Checking it…")
        self.check_selected()

    @Slot()
    def remove_selected(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.store.remove(name)
            self.reload()
            self.message.setText(f"Removed {name}.")

    @Slot()
    def check_selected(self) -> None:
        name = self.selected_name()
        entry = self.store.get(name) if name else None
        if entry is None:
            self.message.setText("Choose an engine to check.")
            return
        self.message.setText(f"Asking {entry.name} for its models…")

        def ask() -> None:
            try:
                result: object = list_models(entry.base_url, entry.api_key, timeout=10)
            except HermesError as exc:
                result = str(exc)
            self.checked.emit(entry.name, result)  # queued to the GUI thread

        threading.Thread(target=ask, name="engine-check", daemon=True).start()

    @Slot(str, object)
    def _show_check(self, name: str, result: object) -> None:
        if isinstance(result, list):
            models = ", ".join(result) or "no models"
            self.message.setText(f"{name} answers: {models}.")
        else:
            self.message.setText(f"{name}: {result}")
