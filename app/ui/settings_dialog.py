"""The settings dialog (Ctrl+,)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import THEMES, Settings
from app.ui.load_options_dialog import GpuLayersBox


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, default_models_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        self.models_dir = QLineEdit(str(settings.models_path(default_models_dir)))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.models_dir, 1)
        folder_row.addWidget(browse)

        self.context_size = QSpinBox(minimum=256, maximum=1 << 20, singleStep=1024, value=settings.context_size)
        self.context_size.setSuffix(" tokens")
        self.cpu_threads = QSpinBox(minimum=0, maximum=512, value=settings.cpu_threads)
        self.cpu_threads.setSpecialValueText(f"Automatic ({max(1, (os.cpu_count() or 2) // 2)})")
        self.gpu_layers = GpuLayersBox(settings.gpu_layers)  # auto / all / N
        self.theme = QComboBox()
        for name in THEMES:
            self.theme.addItem(name.capitalize(), name)
        self.theme.setCurrentIndex(max(0, THEMES.index(settings.theme) if settings.theme in THEMES else 0))

        form = QFormLayout()
        form.addRow("Models folder", folder_row)
        form.addRow("Default context size", self.context_size)
        form.addRow("CPU threads", self.cpu_threads)
        form.addRow("GPU layers", self.gpu_layers)
        form.addRow("Theme", self.theme)
        note = QLabel("Context size, threads and GPU layers apply the next time a model is loaded.")
        note.setWordWrap(True)
        note.setEnabled(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self._default_models_dir = default_models_dir

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Models folder", self.models_dir.text())
        if chosen:
            self.models_dir.setText(chosen)

    def result_settings(self) -> Settings:
        folder = self.models_dir.text().strip()
        if folder and Path(folder).expanduser() == self._default_models_dir:
            folder = ""
        return replace(
            self._settings,
            models_dir=folder,
            context_size=self.context_size.value(),
            cpu_threads=self.cpu_threads.value(),
            gpu_layers=self.gpu_layers.value(),
            theme=self.theme.currentData(),
        ).validated()
