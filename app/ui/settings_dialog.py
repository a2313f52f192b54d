"""The settings dialog (Ctrl+,): Models, Performance, Appearance, and About (app, llama.cpp, backends)."""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
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
    QVBoxLayout,
    QWidget,
)

from app.core.about import versions
from app.core.engines.model_options import default_load_options
from app.core.engines.state_cache import StateCache
from app.core.settings import THEMES, Settings
from app.ui.engines.load_fields import LoadOptionsFields
from app.ui.engines.state_fields import StateCacheFields
from app.ui.theme import SPACE_L, SPACE_S, secondary_text
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
        "prompt_lookup",
        "state_memory_mib",
        "state_disk_mib",
        "theme",
    )  # fmt: skip  (what the dialog edits)

    def __init__(
        self,
        settings: Settings,
        default_models_dir: Path,
        parent: QWidget | None = None,
        state_cache: StateCache | None = None,
        extra: QWidget | None = None,
    ) -> None:
        """``state_cache``: the engine's chat states (Performance shows and clears them); None: none to show.
        ``extra``: a section of its own (the MCP servers), shown above About."""
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

        self.load_fields = LoadOptionsFields(per_model=False)
        self.load_fields.set_options(default_load_options(settings))
        self.theme = QComboBox()
        for name in THEMES:
            self.theme.addItem(name.capitalize(), name)
        self.theme.setCurrentIndex(max(0, THEMES.index(settings.theme) if settings.theme in THEMES else 0))

        models = _group("Models", [("Models folder", folder_row)])
        note = QLabel("These apply the next time a model is loaded.")
        secondary_text(note)
        load_rows: list[tuple[str, QWidget | QHBoxLayout]] = [*self.load_fields.rows("Default context size")]
        self.states = StateCacheFields(settings, state_cache)
        performance = _group("Performance", [*load_rows, *self.states.rows(), ("", note)])
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
        for group in (models, performance, appearance, extra, self.about):
            if group is not None:
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
        known = {field.name for field in fields(Settings)}  # a per-model option (the projector) is not a setting
        load = {name: value for name, value in asdict(self.load_fields.options()).items() if name in known}
        load.update(self.states.values())  # the chat states' budgets and the prompt-lookup default
        return replace(self._settings, models_dir=folder, theme=self.theme.currentData(), **load).validated()


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
