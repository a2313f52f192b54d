"""The model bar: the picker of library models, Open GGUF…, Eject, and the loading state of the engine's model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QToolBar, QWidget

from app.core.engine import LoadedModel, LoadOptions
from app.core.library import LocalModel, scan_models
from app.core.paths import AppPaths
from app.core.settings import Settings, SettingsStore
from app.ui.background import Background
from app.ui.engine_worker import EngineClient

PLACEHOLDER = "Select a model to load…"


class ModelBar(QToolBar):
    """Owns which model is loading or loaded; the library scan that fills the picker runs in the background."""

    load_started = Signal(str)  # a path: emitted before the engine is asked, so a running reply can be stopped first
    model_ready = Signal(object)  # LoadedModel
    model_failed = Signal(str)  # a message for people
    unloaded = Signal()
    models_listed = Signal(int)  # how many models the library holds, after every scan
    status = Signal(str, int)  # a status-bar message and how long to show it (0: until replaced)

    def __init__(
        self,
        client: EngineClient,
        settings: SettingsStore,
        paths: AppPaths,
        background: Background,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Model", parent, movable=False)
        self.client = client
        self.settings = settings
        self.paths = paths
        self.background = background
        self.loading_path = ""
        self.model_count: int | None = None  # None until the first scan has answered
        self._scan = 0  # the newest scan; an older one answering late is ignored
        self.addWidget(QLabel(" Model "))
        self.picker = QComboBox(minimumContentsLength=36)
        self.picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.picker.addItem(PLACEHOLDER, None)
        self.addWidget(self.picker)
        self.open_action = QAction("Open GGUF…", self, shortcut=QKeySequence(QKeySequence.StandardKey.Open))
        self.eject_action = QAction("Eject", self, enabled=False, toolTip="Unload the model and free its memory")
        self.addAction(self.open_action)
        self.addAction(self.eject_action)
        client.model_loaded.connect(self._on_loaded)
        client.load_failed.connect(self._on_load_failed)
        client.model_unloaded.connect(self._on_unloaded)
        self.picker.activated.connect(self._on_model_picked)
        self.open_action.triggered.connect(self._open_file)
        self.eject_action.triggered.connect(self.eject)

    @property
    def loaded(self) -> LoadedModel | None:
        return self.client.loaded

    @property
    def models_dir(self) -> Path:
        return self.settings.current.models_path(self.paths.default_models_dir)

    # the library
    def refresh_models(self) -> None:
        """Re-read the library folders in the background; the picker is refilled when they answer."""
        self._scan += 1
        scan = self._scan
        folders = self.settings.current.library_folders(self.paths.default_models_dir)
        self.background.run(
            lambda: scan_models(folders), lambda models: self._show_models(scan, models), self._scan_failed
        )

    def _show_models(self, scan: int, models: list[LocalModel]) -> None:
        if scan != self._scan:
            return  # a newer scan is on its way
        self.picker.blockSignals(True)
        self.picker.clear()
        self.picker.addItem(PLACEHOLDER, None)
        for model in models:
            self.picker.addItem(f"{model.name}  ({model.size_text})", str(model.path))
            self.picker.setItemData(self.picker.count() - 1, str(model.path), Qt.ItemDataRole.ToolTipRole)
        if self.loaded:
            self.select_path(str(self.loaded.info.path))  # a model opened from elsewhere stays listed
        elif self.picker.findData(self.loading_path) > 0:
            self.picker.setCurrentIndex(self.picker.findData(self.loading_path))
        self.picker.blockSignals(False)
        self.model_count = len(models)
        self.models_listed.emit(len(models))

    def _scan_failed(self, error: Exception) -> None:
        self.status.emit(f"Could not read the models folders: {error}", 10000)
        self.model_count = self.model_count or 0
        self.models_listed.emit(self.model_count)

    def settings_changed(self, new: Settings, old: Settings) -> None:
        if new.library_folders(self.paths.default_models_dir) != old.library_folders(self.paths.default_models_dir):
            self.refresh_models()

    def select_path(self, path: str) -> None:
        index = self.picker.findData(path)
        if index < 0:
            self.picker.addItem(Path(path).stem, path)
            index = self.picker.count() - 1
        self.picker.setCurrentIndex(index)

    # loading
    def load_model(self, path: str) -> None:
        self.load_started.emit(path)
        self.loading_path = path
        self.status.emit(f"Loading {Path(path).name}…", 0)
        current = self.settings.current
        options = LoadOptions(
            context_size=current.context_size, cpu_threads=current.cpu_threads, gpu_layers=current.gpu_layers
        )
        self.client.load(path, options)

    def open_model(self, path: str) -> None:
        """Show ``path`` in the picker and load it (Open GGUF…, a dropped file, My Models)."""
        self.select_path(path)
        self.load_model(path)

    def restore_last(self) -> bool:
        """Load the model of the last session, as LM Studio does; False when there is none (or it is gone)."""
        last = self.settings.current.last_model
        if not last or self.loaded or self.loading_path:
            return False
        if not Path(last).is_file():
            self.status.emit(f"The last model used, {Path(last).name}, is no longer there.", 8000)
            return False
        # Forgotten until it has loaded again: a model that brings the app down is not retried at every start.
        self.settings.update(last_model="")
        self.open_model(last)
        return True

    def eject(self) -> None:
        self.client.unload()

    @Slot(int)
    def _on_model_picked(self, index: int) -> None:
        path = self.picker.itemData(index)
        if path:
            self.load_model(path)

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a GGUF model", str(self.models_dir), "GGUF models (*.gguf)")
        if path:
            self.open_model(path)

    @Slot(object)
    def _on_loaded(self, loaded: LoadedModel) -> None:
        self.loading_path = ""
        self.select_path(str(loaded.info.path))
        self.eject_action.setEnabled(True)
        self.status.emit(
            f"{loaded.name} loaded in {loaded.load_seconds:.1f} s · {loaded.info.architecture}, "
            f"{loaded.info.size_label}, {loaded.info.quantization} · prompt format: {loaded.prompt_format}",
            8000,
        )
        self.settings.update(last_model=str(loaded.info.path))
        self.model_ready.emit(loaded)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self.loading_path = ""
        self.status.emit("Load failed", 8000)
        self.picker.blockSignals(True)
        if self.loaded:
            self.select_path(str(self.loaded.info.path))
        else:
            self.picker.setCurrentIndex(0)
        self.picker.blockSignals(False)
        self.model_failed.emit(message)

    @Slot()
    def _on_unloaded(self) -> None:
        self.eject_action.setEnabled(False)
        self.picker.setCurrentIndex(0)
        self.status.emit("Model unloaded", 4000)
        self.unloaded.emit()
