"""The main window: model picker, chat, system prompt, input, stats."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QFontDatabase,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.core.chat_types import LoadOptions, Sampling
from app.core.engine import LoadedModel
from app.core.library import scan_models
from app.core.paths import AppPaths
from app.core.presets import Preset, PresetLibrary
from app.core.settings import Settings, save_settings
from app.core.store import ChatStore
from app.ui.background import Background
from app.ui.chat_controller import ChatController, ChatWidgets
from app.ui.chat_list import ChatSidebar
from app.ui.chat_view import ChatView
from app.ui.conversation import Conversation
from app.ui.engine_worker import EngineClient
from app.ui.history_actions import ChatHistoryMixin
from app.ui.hub_pages import HubPagesMixin
from app.ui.persona_panel import PersonaPanel
from app.ui.settings_dialog import SettingsDialog
from app.ui.theme import apply_theme
from app.ui.widgets import ChatInput, ErrorBanner

if TYPE_CHECKING:
    from app.core.downloads import DownloadManager

log = logging.getLogger(__name__)

PAGES = (("Chat", "chat"), ("Discover", "discover"), ("My Models", "models"), ("Downloads", "downloads"))
STARTUP_DEFER_MS = 300

WELCOME = "<h2>Welcome to Hermes Studio</h2><p>Pick a model in the bar above, then say hello.</p>"
NO_MODELS = (
    "<h2>No models yet</h2>"
    "<p><a href='discover'>Find OpenHermes 2 Mistral 7B on the Hugging Face Hub</a> (Discover, Ctrl+2),<br>"
    "put a <b>.gguf</b> file in your models folder (<code>{folder}</code>), use <b>Open GGUF…</b>,<br>"
    "or fetch the small offline starter model with <code>hermes-studio setup</code>.</p>"
)


class MainWindow(HubPagesMixin, ChatHistoryMixin, QMainWindow):
    """One chat with one model. Talks to the engine thread only through its EngineClient."""

    # Re-emitted on the GUI thread, so plain Python callables connected to them run there too.
    model_ready = Signal(object)  # LoadedModel
    model_failed = Signal(str)
    reply_finished = Signal(object)  # the finished ChatItem

    def __init__(self, paths: AppPaths, settings: Settings, client: EngineClient | None = None) -> None:
        super().__init__()
        self.paths = paths
        self.settings = settings
        self.client = client or EngineClient(self)
        self.store = ChatStore(paths.chats_db)
        self.store.purge_deleted()
        self.background = Background(self)
        self._downloads: DownloadManager | None = None
        self._pages: dict[str, QWidget] = {}
        self._loading_path = ""
        self._undo_chat: int | None = None
        self.setWindowTitle(APP_NAME)
        self.resize(1100, 760)
        self._build()
        self._connect()
        self.refresh_models()
        self.setAcceptDrops(True)
        self._greet()
        if self.store.recovered_from is not None:
            self.banner.show_message(
                f"Your chat history file was damaged, so a fresh one was started. The damaged file was kept as "
                f"{self.store.recovered_from}."
            )
        elif self.store.interrupted:
            self.statusBar().showMessage(
                "A reply was interrupted when the app last closed; it is kept and marked as interrupted.", 10000
            )

    # construction
    def _build(self) -> None:
        toolbar = QToolBar("Model", self, movable=False)
        self.addToolBar(toolbar)
        toolbar.addWidget(QLabel(" Model "))
        self.model_picker = QComboBox(minimumContentsLength=36)
        self.model_picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        toolbar.addWidget(self.model_picker)
        self.open_action = QAction("Open GGUF…", self, shortcut=QKeySequence.StandardKey.Open)
        self.eject_action = QAction("Eject", self, enabled=False, toolTip="Unload the model and free its memory")
        self.new_chat_action = QAction("New chat", self, shortcut=QKeySequence("Ctrl+N"))
        self.settings_action = QAction("Settings…", self, shortcut=QKeySequence("Ctrl+,"))
        for action in (self.open_action, self.eject_action):
            toolbar.addAction(action)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addAction(self.new_chat_action)
        toolbar.addAction(self.settings_action)

        self.banner = ErrorBanner()
        self.persona = PersonaPanel(PresetLibrary(self.paths.presets_dir), self.settings.preset)
        self.conversation = Conversation(self.store, self.client, self, describe_preset=self.persona.library.name_of)
        self.chat_model = self.conversation.model
        self.chat_view = ChatView()
        self.chat_view.setModel(self.chat_model)
        self.sidebar = ChatSidebar(self.store)
        self.welcome = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.welcome.setTextFormat(Qt.TextFormat.RichText)
        self.welcome.linkActivated.connect(self._welcome_link)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.chat_view)

        self.input = ChatInput()
        self.input.setFixedHeight(84)
        self.send_button = QPushButton("Send")
        self.send_button.setMinimumWidth(90)
        self.send_button.setEnabled(False)
        input_row = QHBoxLayout()
        input_row.addWidget(self.input, 1)
        input_row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)

        chat_column = QWidget()
        column = QVBoxLayout(chat_column)
        column.setContentsMargins(8, 8, 8, 8)
        column.addWidget(self.banner)
        column.addWidget(self.pages, 1)
        column.addLayout(input_row)

        self.preview = QPlainTextEdit(readOnly=True)
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.preview_notes = QLabel(wordWrap=True)
        preview_page = QWidget()
        preview_layout = QVBoxLayout(preview_page)
        preview_layout.setContentsMargins(8, 8, 8, 8)
        preview_layout.addWidget(QLabel("Exactly what the model receives for the next message:"))
        preview_layout.addWidget(self.preview, 1)
        preview_layout.addWidget(self.preview_notes)
        side = QTabWidget()
        side.addTab(self.persona, "Persona")
        side.addTab(preview_page, "Prompt preview")
        self.side_tabs = side
        self._preview_timer = QTimer(self, singleShot=True, interval=150)

        splitter = QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(chat_column)
        splitter.addWidget(side)
        for index, stretch in enumerate((0, 1, 0)):  # the chat takes the room; the side columns keep theirs
            splitter.setStretchFactor(index, stretch)
        splitter.setSizes([200, 700, 300])
        self.stack = QStackedWidget()
        self.stack.addWidget(splitter)
        self._pages["chat"] = splitter
        self.setCentralWidget(self.stack)
        rail = QToolBar("Pages", self, movable=False)
        rail.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, rail)
        self.page_actions = QActionGroup(self)
        for number, (label, name) in enumerate(PAGES, start=1):
            action = QAction(label, self, checkable=True, shortcut=QKeySequence(f"Ctrl+{number}"))
            action.setData(name)
            action.triggered.connect(lambda _checked=False, target=name: self.show_page(target))
            self.page_actions.addAction(action)
            rail.addAction(action)
        self.page_actions.actions()[0].setChecked(True)

        self.undo_button = QPushButton("Undo delete", visible=False)
        self._undo_timer = QTimer(self, singleShot=True, interval=6000)
        self.statusBar().addPermanentWidget(self.undo_button)
        widgets = ChatWidgets(
            self.input, self.send_button, self.banner, self.chat_view, self.statusBar(), self._show_chat_page
        )
        self.chat = ChatController(
            self.conversation, self.client, self.persona, widgets, loading=lambda: bool(self._loading_path), parent=self
        )
        figures = self.chat.figures
        self.speed_label, self.ttft_label, self.context_label = (
            figures.speed_label,
            figures.ttft_label,
            figures.context_label,
        )
        self.context_meter = figures.context_meter
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.stop_generation)

    def _connect(self) -> None:
        client = self.client  # its signals arrive on the GUI thread
        client.model_loaded.connect(self._on_loaded)
        client.load_failed.connect(self._on_load_failed)
        client.model_unloaded.connect(self._on_unloaded)
        self.chat.reply_finished.connect(self.reply_finished)
        self.chat.chat_changed.connect(self._follow_chat)
        self.persona.preset_changed.connect(self._on_preset_changed)
        self.persona.error.connect(self.banner.show_message)
        self.persona.changed.connect(self.schedule_preview)
        self.input.textChanged.connect(self.schedule_preview)
        self.chat_model.rowsInserted.connect(self.schedule_preview)
        self.chat_model.modelReset.connect(self.schedule_preview)
        self._preview_timer.timeout.connect(self.update_preview)
        self.side_tabs.currentChanged.connect(self.schedule_preview)
        self.model_picker.activated.connect(self._on_model_picked)
        self.sidebar.chat_selected.connect(self.open_chat)
        self.sidebar.new_chat_requested.connect(self.new_chat)
        self.sidebar.delete_requested.connect(self.delete_chat)
        self.sidebar.export_requested.connect(self.export_chat)
        self.sidebar.import_requested.connect(self.import_chat)
        self.undo_button.clicked.connect(self.undo_delete)
        self._undo_timer.timeout.connect(self._forget_undo)
        self.chat_view.version_requested.connect(self.switch_version)
        self.chat_view.menu_requested.connect(self._message_menu)
        # The Hub pages and the download queue are built after the window is up (not on the start-up path).
        QTimer.singleShot(STARTUP_DEFER_MS, self._restore_downloads)
        self.open_action.triggered.connect(self._open_file)
        self.eject_action.triggered.connect(self.eject)
        self.new_chat_action.triggered.connect(self.new_chat)
        self.settings_action.triggered.connect(self.open_settings)

    # models
    @property
    def models_dir(self) -> Path:
        return self.settings.models_path(self.paths.default_models_dir)

    def refresh_models(self) -> None:
        current = self.client.loaded.info.path if self.client.loaded else None
        models = scan_models(self.settings.library_folders(self.paths.default_models_dir))
        self.model_picker.blockSignals(True)
        self.model_picker.clear()
        self.model_picker.addItem("Select a model to load…", None)
        for model in models:
            self.model_picker.addItem(f"{model.name}  ({model.size_text})", str(model.path))
            self.model_picker.setItemData(self.model_picker.count() - 1, str(model.path), Qt.ItemDataRole.ToolTipRole)
        if current is not None:
            self._select_path(str(current))
        self.model_picker.blockSignals(False)
        self._update_welcome(has_models=bool(models))

    def _select_path(self, path: str) -> None:
        index = self.model_picker.findData(path)
        if index < 0:
            self.model_picker.addItem(Path(path).stem, path)
            index = self.model_picker.count() - 1
        self.model_picker.setCurrentIndex(index)

    def _update_welcome(self, has_models: bool) -> None:
        folder = str(self.models_dir).replace("&", "&amp;").replace("<", "&lt;")
        self.welcome.setText(WELCOME if has_models or self.client.loaded else NO_MODELS.format(folder=folder))

    def load_model(self, path: str) -> None:
        self.stop_generation()
        self._loading_path = path
        self.banner.hide()
        self.send_button.setEnabled(False)
        self.statusBar().showMessage(f"Loading {Path(path).name}…")
        options = LoadOptions(
            context_size=self.settings.context_size,
            cpu_threads=self.settings.cpu_threads,
            gpu_layers=self.settings.gpu_layers,
        )
        self.client.load(path, options)

    def eject(self) -> None:
        self.client.unload()

    @Slot(int)
    def _on_model_picked(self, index: int) -> None:
        path = self.model_picker.itemData(index)
        if path:
            self.load_model(path)

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a GGUF model", str(self.models_dir), "GGUF models (*.gguf)")
        if path:
            self._select_path(path)
            self.load_model(path)

    @Slot(object)
    def _on_loaded(self, loaded: LoadedModel) -> None:
        self._loading_path = ""
        self._select_path(str(loaded.info.path))
        self.eject_action.setEnabled(True)
        self.send_button.setEnabled(True)
        self.context_label.setText(f"context 0 / {loaded.context_size:,}")
        self.statusBar().showMessage(
            f"{loaded.name} loaded in {loaded.load_seconds:.1f} s · {loaded.info.architecture}, "
            f"{loaded.info.size_label}, {loaded.info.quantization} · prompt format: {loaded.prompt_format}",
            8000,
        )
        self.settings = replace(self.settings, last_model=str(loaded.info.path))
        self._update_welcome(has_models=True)
        self.input.setFocus()
        self.model_ready.emit(loaded)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self._loading_path = ""
        self.banner.show_message(message)
        self.statusBar().showMessage("Load failed", 8000)
        self.model_picker.blockSignals(True)
        if self.client.loaded:
            self._select_path(str(self.client.loaded.info.path))
        else:
            self.model_picker.setCurrentIndex(0)
        self.model_picker.blockSignals(False)
        self.send_button.setEnabled(self.client.loaded is not None)
        self.model_failed.emit(message)

    @Slot()
    def _on_unloaded(self) -> None:
        self.eject_action.setEnabled(False)
        self.send_button.setEnabled(False)
        self.model_picker.setCurrentIndex(0)
        self.context_label.setText("context —")
        self.statusBar().showMessage("Model unloaded", 4000)

    # chatting: the chat controller does it; these are the window's handles on it
    @property
    def generating(self) -> bool:
        return self.chat.generating

    def sampling(self) -> Sampling:
        return self.persona.sampling()

    @property
    def preset(self) -> Preset:
        return self.persona.preset

    @property
    def temperature(self) -> QDoubleSpinBox:
        return self.persona.temperature

    @property
    def max_tokens(self) -> QSpinBox:
        return self.persona.max_tokens

    @property
    def system_prompt(self) -> QPlainTextEdit:
        return self.persona.system_prompt

    def send(self) -> None:
        self.chat.send()

    def regenerate(self) -> None:
        self.chat.regenerate()

    def continue_reply(self) -> None:
        self.chat.continue_reply()

    def edit_message(self, row: int) -> None:
        self.chat.edit_message(row)

    @Slot()
    def stop_generation(self) -> None:
        self.chat.stop()

    def _show_chat_page(self) -> None:
        self.pages.setCurrentWidget(self.chat_view)

    @Slot()
    def _follow_chat(self) -> None:
        """A turn started or ended: the sidebar shows the chat (new chats appear at their first message)."""
        if self.conversation.chat_id is not None:
            self.sidebar.select(self.conversation.chat_id)
        self.sidebar.refresh()

    def _show_context(self, used: int, size: int) -> None:
        self.chat.figures.show_context(used, size)

    @Slot()
    def new_chat(self) -> None:
        self._greet()  # a reply still being written is stopped and kept
        self.sidebar.select(None)
        self.chat.figures.clear(self.client.loaded.context_size if self.client.loaded else 0)
        self.input.setFocus()

    def _greet(self) -> None:
        """A new chat opens with the preset's greeting, when it has one."""
        greeting = self.preset.greeting.strip()
        self.conversation.new(greeting, self.preset.name)
        self.pages.setCurrentWidget(self.chat_view if greeting else self.welcome)

    @Slot(object)
    def _on_preset_changed(self, preset: Preset) -> None:
        self.settings = replace(self.settings, preset=preset.id)
        if self.conversation.chat_id is None and not any(item.role == "user" for item in self.chat_model.items):
            self._greet()  # an untouched chat takes the new persona's greeting

    # prompt preview
    @Slot()
    def schedule_preview(self) -> None:
        if self.side_tabs.currentIndex() == 1:
            self._preview_timer.start()

    @Slot()
    def update_preview(self) -> None:
        """Render the exact prompt of the next turn, on the GUI thread (templates render in milliseconds)."""
        from app.core.prompt_formats import PREVIEW_PLACEHOLDER, preview_prompt

        messages = self.conversation.session.conversation(self.system_prompt.toPlainText())
        messages.append({"role": "user", "content": self.input.toPlainText().strip() or PREVIEW_PLACEHOLDER})
        loaded = self.client.loaded
        text, notes = preview_prompt(
            messages,
            self.preset.prompt_format,
            custom_template=self.preset.custom_template,
            model_template=loaded.info.chat_template if loaded else None,
            bos_token=loaded.bos_token if loaded else None,
            eos_token=loaded.eos_token if loaded else None,
            model_loaded=loaded is not None,
        )
        self.preview.setPlainText(text)
        self.preview_notes.setText("\n".join(notes))

    # settings and lifetime
    @Slot()
    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.paths.default_models_dir, self)
        if dialog.exec():
            self.settings = dialog.result_settings()
            apply_theme(self._application(), self.settings.theme)
            self._save_settings()
            self.refresh_models()

    @staticmethod
    def _application() -> QApplication:
        return QApplication.instance()  # type: ignore[return-value]

    def _save_settings(self) -> None:
        self.settings = replace(self.settings, preset=self.preset.id)
        try:
            save_settings(self.settings, self.paths.settings_file)
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    # drag and drop: models, presets and character cards
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(_dropped_kind(url.toLocalFile()) for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            path = url.toLocalFile()
            kind = _dropped_kind(path)
            if kind == "model":
                self._select_path(path)
                self.load_model(path)
            elif kind == "preset":
                self.persona.import_file(Path(path))
        event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_settings()
        if "downloads" in self._pages:
            self.downloads_page.timer.stop()
        if self._downloads is not None:
            self._downloads.shutdown()  # paused: they resume at the next start
        self.background.shutdown()
        self.conversation.close()  # a reply being written is kept, as stopped
        self.client.shutdown()
        self._forget_undo()
        self.store.close()
        super().closeEvent(event)


def _dropped_kind(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".gguf":
        return "model"
    if suffix in (".json", ".png"):
        return "preset"
    return ""
