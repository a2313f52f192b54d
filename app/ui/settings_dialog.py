"""The settings dialog (Ctrl+,): Models, Performance, Appearance, and About (app, llama.cpp, backends)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.about import versions
from app.core.settings import FLASH_ATTENTION, KV_CACHE_TYPES, THEMES, Settings
from app.ui.engines.load_options_dialog import GpuLayersBox
from app.ui.theme import SPACE_L, SPACE_S, secondary_text_css
from app.ui.widgets import name_for_accessibility


class SettingsDialog(QDialog):
    FIELDS = (
        "models_dir",
        "context_size",
        "cpu_threads",
        "gpu_layers",
        "flash_attn",
        "kv_cache_type",
        "use_mmap",
        "theme",
    )  # fmt: skip  (what the dialog edits)

    def __init__(self, settings: Settings, default_models_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        self.models_dir = QLineEdit(str(settings.models_path(default_models_dir)))
        self.models_dir.setMinimumWidth(380)
        self.models_dir.setAccessibleName("Models folder")
        browse = QPushButton("Browse…")
        browse.setAccessibleName("Choose the models folder")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.models_dir, 1)
        folder_row.addWidget(browse)

        self.context_size = QSpinBox(minimum=256, maximum=1 << 20, singleStep=1024, value=settings.context_size)
        self.context_size.setSuffix(" tokens")
        self.cpu_threads = QSpinBox(minimum=0, maximum=512, value=settings.cpu_threads)
        self.cpu_threads.setSpecialValueText(f"Automatic ({max(1, (os.cpu_count() or 2) // 2)})")
        self.gpu_layers = GpuLayersBox(settings.gpu_layers)  # auto / all / N
        self.gpu_layers.setMinimumWidth(self.gpu_layers.fontMetrics().horizontalAdvance("Auto (as many as fit)") + 48)
        self.flash_attn = QComboBox()
        for value in FLASH_ATTENTION:
            self.flash_attn.addItem(value.capitalize(), value)
        self.flash_attn.setCurrentIndex(max(0, self.flash_attn.findData(settings.flash_attn)))
        self.kv_cache_type = QComboBox()
        for value in KV_CACHE_TYPES:
            self.kv_cache_type.addItem(value, value)
        self.kv_cache_type.setCurrentIndex(max(0, self.kv_cache_type.findData(settings.kv_cache_type)))
        self.kv_cache_type.setToolTip(
            "q8_0 halves the KV cache's memory (a longer context fits); it needs flash attention"
        )
        self.use_mmap = QCheckBox("Map the model file into memory (mmap)")
        self.use_mmap.setChecked(settings.use_mmap)
        self.theme = QComboBox()
        for name in THEMES:
            self.theme.addItem(name.capitalize(), name)
        self.theme.setCurrentIndex(max(0, THEMES.index(settings.theme) if settings.theme in THEMES else 0))

        models = _group("Models", [("Models folder", folder_row)])
        note = QLabel("These apply the next time a model is loaded.")
        note.setStyleSheet(secondary_text_css())
        performance = _group("Performance", [("Default context size", self.context_size),
                                             ("CPU threads", self.cpu_threads), ("GPU layers", self.gpu_layers),
                                             ("Flash attention", self.flash_attn), ("KV cache", self.kv_cache_type),
                                             ("", self.use_mmap), ("", note)])  # fmt: skip
        appearance = _group("Appearance", [("Theme", self.theme)])
        about_rows: list[tuple[str, QWidget | QHBoxLayout]] = []
        for label, value in {**versions(), "Qt (PySide6)": f"{qVersion()} ({pyside_version})"}.items():
            text = QLabel(value)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            about_rows.append((label, text))
        self.about = _group("About", about_rows)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE_L, SPACE_L, SPACE_L, SPACE_L)
        layout.setSpacing(SPACE_S + 4)
        for group in (models, performance, appearance, self.about):
            layout.addWidget(group)
        layout.addStretch(1)
        layout.addWidget(buttons)
        name_for_accessibility(self)
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
            flash_attn=self.flash_attn.currentData(),
            kv_cache_type=self.kv_cache_type.currentData(),
            use_mmap=self.use_mmap.isChecked(),
            theme=self.theme.currentData(),
        ).validated()


def _group(title: str, rows: list[tuple[str, QWidget | QHBoxLayout]]) -> QGroupBox:
    """A titled group of labelled rows; each label is its field's buddy (its accessible name)."""
    group = QGroupBox(title)
    form = QFormLayout(group)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
    form.setHorizontalSpacing(SPACE_L)
    form.setVerticalSpacing(SPACE_S)
    for label, field in rows:
        if not label:
            form.addRow(field)
            continue
        form.addRow(label, field)
        if isinstance(field, QWidget) and not field.accessibleName():
            field.setAccessibleName(label)
    return group
