"""The chat page before a chat: what to do next, with buttons rather than terminal commands."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

LOOKING = "<h2>Welcome to Hermes Studio</h2><p>Looking for your models…</p>"
WELCOME = "<h2>Welcome to Hermes Studio</h2><p>Pick a model in the bar above, then say hello.</p>"
NO_MODELS = (
    "<h2>No models yet</h2>"
    "<p>Get the small offline starter model (SmolLM2-135M, 94 MB) to try things out,<br>"
    "<a href='discover'>find OpenHermes 2 Mistral 7B on the Hugging Face Hub</a> (Discover, Ctrl+2),<br>"
    "or put a <b>.gguf</b> file in your models folder (<code>{folder}</code>) and use <b>Open GGUF…</b>.</p>"
)


class WelcomePage(QWidget):
    starter_requested = Signal()  # "Get the starter model"
    browse_requested = Signal()  # "Browse models": the Discover page
    progress = Signal(str)  # what getting the starter model is doing (emitted from any thread)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(LOOKING, alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.linkActivated.connect(lambda _link: self.browse_requested.emit())
        self.starter_button = QPushButton("Get the starter model")
        self.starter_button.setAccessibleName("Get the starter model")
        self.browse_button = QPushButton("Browse models")
        self.browse_button.setAccessibleName("Browse models on the Hugging Face Hub")
        self.starter_button.clicked.connect(self.starter_requested)
        self.progress.connect(self._show_progress)  # queued from a worker thread
        self.browse_button.clicked.connect(self.browse_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.starter_button)
        buttons.addWidget(self.browse_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.label)
        layout.addLayout(buttons)
        layout.addStretch(2)
        self.show_buttons(False)
        self.progress_seen: list[str] = []  # what the button said while getting the starter model

    def text(self) -> str:
        return self.label.text()

    def show_state(self, *, looking: bool, has_models: bool, folder: Path, loaded: str = "") -> None:
        if loaded:  # not "Pick a model" while one is loaded
            safe_name = loaded.replace("&", "&amp;").replace("<", "&lt;")
            self.label.setText(f"<h2>{safe_name} is ready</h2><p>Type a message below and press Enter.</p>")
            self.show_buttons(False)
            return
        if looking:
            self.label.setText(LOOKING)
            self.show_buttons(False)
            return
        safe = str(folder).replace("&", "&amp;").replace("<", "&lt;")
        self.label.setText(WELCOME if has_models else NO_MODELS.format(folder=safe))
        self.show_buttons(not has_models)

    def show_buttons(self, shown: bool) -> None:
        # the packaged app cannot run pip to fetch the starter wheel: it offers the Hub instead
        self.starter_button.setVisible(shown and not getattr(sys, "frozen", False))
        self.browse_button.setVisible(shown)

    def _show_progress(self, message: str) -> None:
        if not self.starter_button.isEnabled():  # still getting it (a late message after the end is dropped)
            self.busy(message)
            self.progress_seen.append(message)

    def busy(self, message: str) -> None:
        """While the starter model is fetched."""
        self.starter_button.setEnabled(not message)
        self.starter_button.setText(message or "Get the starter model")
