"""The model bar: the picker of library models, Open GGUF…, Eject, and the loading state of the engine's model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolBar,
    QWidget,
)

from app.core.engines.interface import LoadedModel
from app.core.engines.model_options import FILE_NAME, ModelOptionsStore, default_load_options
from app.core.engines.remote_store import RemoteEngineEntry, RemoteEngineStore, remote_models
from app.core.paths import AppPaths
from app.core.prompting.prompt_formats import NO_TEMPLATE
from app.core.settings import Settings, SettingsStore
from app.ui.background import Background
from app.ui.engines.engine_client import EngineClient
from app.ui.engines.model_choices import (
    ESTIMATE_ROLE,
    REMOTE,
    ListWithEstimates,
    estimate_models,
    format_tooltip,
    placement_text,
    read_gguf_header,
    remote_key,
    scan_models,
    with_vision,
)
from app.ui.widgets import VISION_MARK

if TYPE_CHECKING:  # the library scan and the estimates run in the background, after the window is shown
    from app.core.engines.memory_use import LoadEstimate
    from app.core.library.models import LocalModel

PLACEHOLDER = "Select a model to load…"


class ModelBar(QToolBar):
    """Owns which model is loading or loaded; the library scan that fills the picker runs in the background."""

    load_started = Signal(str)  # a path: emitted before the engine is asked, so a running reply can be stopped first
    model_ready = Signal(object)  # LoadedModel
    model_failed = Signal(str)  # a message for people
    unloaded = Signal()
    models_listed = Signal(int)  # how many models the library holds, after every scan
    status = Signal(str, int)  # a status-bar message and how long to show it (0: until replaced)
    notice = Signal(str)  # something people should read about the load (fewer GPU layers than asked, a retry)

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
        self.picker.setItemDelegate(ListWithEstimates(self.picker))
        self.addWidget(self.picker)
        self.open_action = QAction("Open GGUF…", self, shortcut=QKeySequence(QKeySequence.StandardKey.Open))
        self.eject_action = QAction("Eject", self, enabled=False, toolTip="Unload the model and free its memory")
        self.options_action = QAction(
            "Load options…", self, enabled=False, toolTip="Context size, GPU layers, KV cache… for this model"
        )
        self.placement = QLabel()
        self.placement.setAccessibleName("Where the model runs")
        self.format_note = QLabel(f'<a href="format">{NO_TEMPLATE}</a>')  # opens Load options: its prompt format
        self.format_note.setAccessibleName("The model has no chat template: set its prompt format")
        self.format_note.linkActivated.connect(lambda _link: self.edit_load_options())
        self.progress = QProgressBar(maximum=1000, textVisible=False)
        self.progress.setMaximumWidth(120)
        self.progress.setAccessibleName("Loading the model")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel loading the model")
        self.model_options = ModelOptionsStore(paths.config / FILE_NAME)
        self.engines = RemoteEngineStore(paths.config)
        self.engines_action = QAction(
            "Engines…",
            self,
            toolTip="OpenAI-compatible servers (llama-server, vLLM, Ollama…) whose models you can chat with",
        )
        self._requested = ""  # the picker's data of the model asked for last
        self._loaded_key = ""  # the picker's data of the model loaded now (a path, or a remote key)
        engine = client.service.engine  # this machine's llama.cpp engine (and its state cache), kept for coming back
        self._local_engine = None if engine.capabilities.remote else engine
        self.addAction(self.options_action)
        self.addWidget(self.placement)
        self._format_note = self.addWidget(self.format_note)
        self._format_note.setVisible(False)
        self._loading_widgets = (self.addWidget(self.progress), self.addWidget(self.cancel_button))
        self._show_loading(False)
        self.addAction(self.open_action)
        self.addAction(self.eject_action)
        self.addAction(self.engines_action)
        client.model_loaded.connect(self._on_loaded)
        client.load_failed.connect(self._on_load_failed)
        client.model_unloaded.connect(self._on_unloaded)
        self.picker.activated.connect(self._on_model_picked)
        self.open_action.triggered.connect(self._open_file)
        self.eject_action.triggered.connect(self.eject)
        self.options_action.triggered.connect(self.edit_load_options)
        self.engines_action.triggered.connect(self.edit_engines)
        self.cancel_button.clicked.connect(client.cancel_load)
        client.load_progress.connect(lambda value: self.progress.setValue(int(1000 * max(0.0, min(1.0, value)))))
        self.picker.currentIndexChanged.connect(lambda _index: self.options_action.setEnabled(self._picked_file()))

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
            lambda: with_vision(scan_models(folders)),
            lambda found: self._show_models(scan, *found),
            self._scan_failed,
        )

    def _show_models(self, scan: int, models: list[LocalModel], vision: frozenset[Path] = frozenset()) -> None:
        """``vision``: the models that read images (a projector with a vision encoder beside them)."""
        if scan != self._scan:
            return  # a newer scan is on its way
        self.picker.blockSignals(True)
        self.picker.clear()
        self.picker.addItem(PLACEHOLDER, None)
        names = [model.name for model in models]
        for model in models:
            # two files of one name (the starter and a Hub download of it): their folders tell them apart
            name = f"{model.name} — {model.path.parent.name}" if names.count(model.name) > 1 else model.name
            seen = model.path in vision
            self.picker.addItem(f"{name}  ({model.size_text})" + (f"  {VISION_MARK}" if seen else ""),
                                str(model.path))  # fmt: skip
            tip = (
                f"{model.path}\nVision: reads images (projector {model.projector.name})"
                if seen and model.projector
                else ""
            )
            self.picker.setItemData(self.picker.count() - 1, tip or str(model.path), Qt.ItemDataRole.ToolTipRole)
        if self.loaded:
            self.select_path(str(self.loaded.info.path))  # a model opened from elsewhere stays listed
        elif self.picker.findData(self.loading_path) > 0:
            self.picker.setCurrentIndex(self.picker.findData(self.loading_path))
        self.picker.blockSignals(False)
        self.options_action.setEnabled(self._picked_file())  # (the picker's signals were blocked while it refilled)
        self.model_count = len(models)
        self.models_listed.emit(len(models))
        self._estimate(scan, models)
        if self.engines.entries():
            self.background.run(lambda: remote_models(self.engines), lambda found: self._show_remote(scan, found))

    def _estimate(self, scan: int, models: list[LocalModel]) -> None:
        """What each model would cost to load (RAM, VRAM, where), read from its header in the background."""
        defaults, options = default_load_options(self.settings.current), self.model_options

        def estimate() -> dict[str, LoadEstimate]:  # each model's options looked up there too (a path resolved each)
            wanted = {str(m.path): options.options(str(m.path), defaults) for m in models}
            return estimate_models(wanted, lambda: self.background.closed)

        if models:
            self.background.run(estimate, lambda found: self._show_estimates(scan, found))

    def _show_estimates(self, scan: int, found: dict[str, LoadEstimate]) -> None:
        if scan != self._scan:
            return
        for index in range(1, self.picker.count()):
            path = str(self.picker.itemData(index) or "")
            estimate = found.get(path)
            if estimate is None:
                continue
            self.picker.setItemData(index, f"needs {estimate.use}", ESTIMATE_ROLE)  # shown in the list
            said = str(self.picker.itemData(index, Qt.ItemDataRole.ToolTipRole) or path)  # the path (and Vision)
            self.picker.setItemData(index, f"{said}\nLoading it {estimate}", Qt.ItemDataRole.ToolTipRole)

    def _show_remote(self, scan: int, found: list[tuple[RemoteEngineEntry, list[str] | str]]) -> None:
        """The models of the remote engines, after the library's (an engine that does not answer is said)."""
        if scan != self._scan:
            return
        self.picker.blockSignals(True)
        for entry, models in found:
            if isinstance(models, str):
                self.status.emit(f"Engine {entry.name}: {models}", 10000)
                continue
            for model_id in models:
                self.picker.addItem(f"{model_id}  (remote · {entry.name})", remote_key(entry.name, model_id))
                self.picker.setItemData(self.picker.count() - 1, entry.base_url, Qt.ItemDataRole.ToolTipRole)
        if self._requested and self.picker.findData(self._requested) > 0:
            self.picker.setCurrentIndex(self.picker.findData(self._requested))
        self.picker.blockSignals(False)

    def edit_engines(self) -> None:
        from app.ui.engines.engines_dialog import EnginesDialog

        EnginesDialog(self.engines, self).exec()
        self.refresh_models()

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
            engine, _, model_id = path[len(REMOTE) :].partition("\x1f")
            self.picker.addItem(
                f"{model_id}  (remote · {engine})" if path.startswith(REMOTE) else Path(path).stem, path
            )
            index = self.picker.count() - 1
        self.picker.setCurrentIndex(index)

    # loading
    def load_model(self, path: str) -> None:
        """Load a library model (a path), or choose a remote engine's model (the picker's remote key)."""
        from app.core.engines.llama_engine import LlamaEngine

        self.load_started.emit(path)
        self.loading_path, self._requested = path, path
        service = self.client.service
        # The model in use stays loaded until the new one answers; a failure leaves it as it was.
        if path.startswith(REMOTE):
            engine_name, model_id = path[len(REMOTE) :].split("\x1f", 1)
            entry = self.engines.get(engine_name)
            if entry is None:
                self._on_load_failed(f"There is no engine named {engine_name!r} any more.")
                return
            from app.core.engines.remote import RemoteEngine

            self.status.emit(f"Connecting to {model_id} on {entry.name}…", 0)
            self.placement.setText(" Connecting… ")
            remote = RemoteEngine(entry.base_url, entry.api_key, name=entry.name)
            self.client.load(model_id, default_load_options(self.settings.current), engine=remote)
            return
        engine = None
        if service.engine.capabilities.remote:  # back to this machine's llama.cpp
            if self._local_engine is None:
                from app.core.engines.state_cache import from_settings

                self._local_engine = LlamaEngine(from_settings(self.paths.state_cache_dir, self.settings.current))
            engine = self._local_engine
        self.status.emit(f"Loading {Path(path).name}…", 0)
        self.placement.setText(" Loading… ")
        self._show_loading(True)
        options = self.model_options.options(path, default_load_options(self.settings.current))
        self.client.load(path, options, engine=engine)

    @property
    def loading_shown(self) -> bool:
        """Whether the progress bar and Cancel are in the bar."""
        return all(action.isVisible() for action in self._loading_widgets)

    def _show_loading(self, shown: bool) -> None:
        """The progress bar and Cancel, while llama.cpp reads a model file."""
        self.progress.setValue(0)
        for action in self._loading_widgets:
            action.setVisible(shown)

    def _picked(self) -> str:
        return str(self.picker.currentData() or "")

    def _picked_file(self) -> bool:
        """A model file is picked (a remote engine's model has no load options: its server loads it)."""
        return bool(self._picked()) and not self._picked().startswith(REMOTE)

    def edit_load_options(self) -> None:
        """This model's own load options (LM Studio's per-model defaults); accepting them reloads it."""
        from app.core.engines.devices import list_devices
        from app.core.errors import HermesError
        from app.ui.engines.load_options_dialog import LoadOptionsDialog

        path = self._picked()
        if not self._picked_file():
            if path:
                self.status.emit("A remote engine's model has no load options here: its server loads it.", 6000)
            return
        defaults = default_load_options(self.settings.current)
        try:
            info = read_gguf_header(path)
        except HermesError as exc:
            self.notice.emit(str(exc))
            return
        dialog = LoadOptionsDialog(
            Path(path).name, self.model_options.options(path, defaults), defaults,
            info=info, report=list_devices(), parent=self,
        )  # fmt: skip
        if dialog.exec():
            self.model_options.remember(path, dialog.result_options(), defaults)
            self.load_model(path)

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
        self._show_loading(False)
        remote = loaded.remote
        self._loaded_key = self._requested if remote else str(loaded.info.path)
        self.select_path(self._loaded_key)
        self.options_action.setEnabled(self._picked_file())  # (the loaded model may have been picked already)
        self.eject_action.setEnabled(True)
        if remote:
            engine_name = self._loaded_key[len(REMOTE) :].split("\x1f", 1)[0]
            base = loaded.info.metadata.get("hermes.remote_base", "")
            self.status.emit(f"Connected to {loaded.name} on {engine_name} ({base}) · the server formats the prompt",
                             8000)  # fmt: skip
        else:
            self.status.emit(
                f"{loaded.name} loaded in {loaded.load_seconds:.1f} s · {loaded.info.architecture}, "
                f"{loaded.info.size_label}, {loaded.info.quantization} · prompt format: {loaded.prompt_format}",
                8000,
            )
        self.placement.setText(f" {placement_text(loaded)} ")
        self._show_format(loaded)
        for note in loaded.notes:
            self.notice.emit(note)
        if not remote:
            self.settings.update(last_model=str(loaded.info.path))
        self.model_ready.emit(loaded)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self.loading_path = ""
        self._show_loading(False)
        self.status.emit("Load failed", 8000)
        self.picker.blockSignals(True)
        if self.loaded and self._loaded_key:  # the model loaded before is still (or again) there
            self.select_path(self._loaded_key)
            self.placement.setText(f" {placement_text(self.loaded)} ")
        else:
            self.picker.setCurrentIndex(0)
            self.placement.setText("")
        self._show_format(self.loaded)
        self.picker.blockSignals(False)
        self.options_action.setEnabled(self._picked_file())
        self.model_failed.emit(message)

    @Slot()
    def _on_unloaded(self) -> None:
        self._loaded_key = ""
        self.eject_action.setEnabled(False)
        self.picker.setCurrentIndex(0)
        self.placement.setText("")
        self._show_format(None)
        self.status.emit("Model unloaded", 4000)
        self.unloaded.emit()

    def _show_format(self, loaded: LoadedModel | None) -> None:
        """The prompt format in the bar's tooltips, always; the no-template note while such a model is loaded."""
        tip = format_tooltip(loaded) if loaded else ""
        where = (loaded.placement.reason if loaded.placement else "The server formats and runs it") if loaded else ""
        self.placement.setToolTip("\n".join(line for line in (where, tip) if line))
        self.picker.setToolTip(tip)
        self.format_note.setToolTip(tip)
        self._format_note.setVisible(loaded is not None and not loaded.has_template)
