"""The main window: it builds the widgets and wires the controllers (model bar, history, Hub pages, chat turn)."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QApplication,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QProgressBar,
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
from app.core.engine import GenerationStats, LoadedModel, Sampling
from app.core.paths import AppPaths
from app.core.presets import Preset, PresetLibrary
from app.core.settings import Settings, SettingsStore
from app.core.store import ChatStore, StoreError
from app.ui.background import Background
from app.ui.chat_list import ChatSidebar
from app.ui.chat_model import ChatModel, MessageState
from app.ui.chat_view import ChatView
from app.ui.conversation import Conversation
from app.ui.engine_worker import EngineClient, RequestOptions
from app.ui.history_actions import ChatHistory
from app.ui.hub_pages import HubPages
from app.ui.model_bar import ModelBar
from app.ui.persona_panel import PersonaPanel
from app.ui.prompt_preview import PromptPreview
from app.ui.settings_dialog import SettingsDialog
from app.ui.theme import apply_theme
from app.ui.widgets import ChatInput, ErrorBanner

log = logging.getLogger(__name__)

PAGES = (("Chat", "chat"), ("Discover", "discover"), ("My Models", "models"), ("Downloads", "downloads"))
STARTUP_DEFER_MS = 300

LOOKING = "<h2>Welcome to Hermes Studio</h2><p>Looking for your models…</p>"
WELCOME = "<h2>Welcome to Hermes Studio</h2><p>Pick a model in the bar above, then say hello.</p>"
NO_MODELS = (
    "<h2>No models yet</h2>"
    "<p><a href='discover'>Find OpenHermes 2 Mistral 7B on the Hugging Face Hub</a> (Discover, Ctrl+2),<br>"
    "put a <b>.gguf</b> file in your models folder (<code>{folder}</code>), use <b>Open GGUF…</b>,<br>"
    "or fetch the small offline starter model with <code>hermes-studio setup</code>.</p>"
)


class MainWindow(QMainWindow):
    """One chat with one model. Talks to the engine thread only through its EngineClient."""

    # Re-emitted on the GUI thread, so plain Python callables connected to them run there too.
    model_ready = Signal(object)  # LoadedModel
    model_failed = Signal(str)
    reply_finished = Signal(object)  # the finished ChatItem
    settings_changed = Signal(object, object)  # new Settings, old Settings (from the SettingsStore)

    def __init__(self, paths: AppPaths, settings: SettingsStore | Settings, client: EngineClient | None = None) -> None:
        """``settings``: the process's SettingsStore; a bare Settings gets a store of its own (tests, tools)."""
        super().__init__()
        self.paths = paths
        self.settings_store = (
            settings if isinstance(settings, SettingsStore) else SettingsStore(paths.settings_file, settings)
        )
        self._unsubscribe = self.settings_store.subscribe(self.settings_changed.emit)
        self.client = client or EngineClient(self)
        self.store = ChatStore(paths.chats_db)
        self.store.purge_deleted()
        self.background = Background(self)
        self._request_id = 0
        self.setWindowTitle(APP_NAME)
        self.resize(1100, 760)
        self._build()
        self._connect()
        self.model_bar.refresh_models()
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

    @property
    def settings(self) -> Settings:
        """The settings now (read-only: change them through ``settings_store.update``)."""
        return self.settings_store.current

    # construction
    def _build(self) -> None:
        self.model_bar = ModelBar(self.client, self.settings_store, self.paths, self.background, self)
        self.addToolBar(self.model_bar)
        self.model_picker = self.model_bar.picker
        self.new_chat_action = QAction("New chat", self, shortcut=QKeySequence("Ctrl+N"))
        self.settings_action = QAction("Settings…", self, shortcut=QKeySequence("Ctrl+,"))
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.model_bar.addWidget(spacer)
        self.model_bar.addAction(self.new_chat_action)
        self.model_bar.addAction(self.settings_action)

        self.banner = ErrorBanner()
        self.chat_model = ChatModel(self)
        self.conversation = Conversation(self.store, self.chat_model, self)
        self.chat_view = ChatView()
        self.chat_view.setModel(self.chat_model)
        self.sidebar = ChatSidebar(self.store)
        self.welcome = QLabel(LOOKING, alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.welcome.setTextFormat(Qt.TextFormat.RichText)
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
        column.addWidget(self.pages, 1)
        column.addLayout(input_row)

        self.persona = PersonaPanel(PresetLibrary(self.paths.presets_dir), self.settings.preset)
        self.prompt_preview = PromptPreview(self.chat_model, self.persona, self.input, self.client)
        self.preview, self.preview_notes = self.prompt_preview.text, self.prompt_preview.notes
        side = QTabWidget()
        side.addTab(self.persona, "Persona")
        side.addTab(self.prompt_preview, "Prompt preview")
        self.side_tabs = side

        splitter = QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(chat_column)
        splitter.addWidget(side)
        for index, stretch in enumerate((0, 1, 0)):  # the chat takes the room; the side columns keep theirs
            splitter.setStretchFactor(index, stretch)
        splitter.setSizes([200, 700, 300])
        self.stack = QStackedWidget()
        self.stack.addWidget(splitter)
        central = QWidget()  # the banner above every page: an error is seen wherever it happens
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.addWidget(self.banner)
        central_layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        rail = QToolBar("Pages", self, movable=False)
        rail.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, rail)
        self.page_actions = QActionGroup(self)
        self.hub = HubPages(
            self.stack, self.page_actions, splitter, paths=self.paths, settings=self.settings_store,
            background=self.background, model_bar=self.model_bar, parent=self,
        )  # fmt: skip
        for number, (title, name) in enumerate(PAGES, start=1):
            action = QAction(title, self, checkable=True, shortcut=QKeySequence(f"Ctrl+{number}"))
            action.setData(name)
            action.triggered.connect(lambda _checked=False, target=name: self.hub.show_page(target))
            self.page_actions.addAction(action)
            rail.addAction(action)
        self.page_actions.actions()[0].setChecked(True)
        self.history = ChatHistory(
            self.store, self.conversation, self.chat_model, self.chat_view, sidebar=self.sidebar,
            persona=self.persona, turn=self, parent=self,
        )  # fmt: skip

        self.speed_label = QLabel("— tok/s")
        self.ttft_label = QLabel("TTFT —")
        self.context_label = QLabel("context —")
        self.context_meter = QProgressBar(textVisible=False, maximum=1000)
        self.context_meter.setMaximumWidth(120)
        self.context_meter.setToolTip("How much of the context window this chat uses")
        self.statusBar().addPermanentWidget(self.history.undo_button)
        for label in (self.speed_label, self.ttft_label, self.context_label):
            label.setContentsMargins(8, 0, 8, 0)
            self.statusBar().addPermanentWidget(label)
        self.statusBar().addPermanentWidget(self.context_meter)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self).activated.connect(self.stop_generation)

    def _connect(self) -> None:
        client = self.client  # its signals arrive on the GUI thread
        client.tokens.connect(self._on_tokens)
        client.prompt_progress.connect(self._on_prompt_progress)
        client.generation_finished.connect(self._on_finished)
        client.generation_failed.connect(self._on_failed)
        bar = self.model_bar
        bar.load_started.connect(self._on_load_started)
        bar.model_ready.connect(self._on_model_ready)
        bar.model_failed.connect(self._on_model_failed)
        bar.unloaded.connect(self._on_unloaded)
        bar.models_listed.connect(self._update_welcome)
        self.welcome.linkActivated.connect(self._welcome_link)
        for reporter in (bar, self.hub, self.history):
            reporter.status.connect(self.statusBar().showMessage)
        for failing in (self.hub, self.history, self.persona):
            failing.error.connect(self.banner.show_message)
        self.background.unhandled.connect(self.banner.show_message)
        self.settings_changed.connect(bar.settings_changed)
        self.settings_changed.connect(self.hub.settings_changed)
        self.settings_changed.connect(self._apply_settings)
        self.history.chat_opened.connect(lambda _chat: self.pages.setCurrentWidget(self.chat_view))
        self.persona.preset_changed.connect(self._on_preset_changed)
        self.sidebar.new_chat_requested.connect(self.new_chat)
        self.conversation.save_failed.connect(self.banner.show_message)
        self.chat_view.edit_submitted.connect(self.resend_edited)
        # The Hub pages and the download queue are built after the window is up (not on the start-up path).
        QTimer.singleShot(STARTUP_DEFER_MS, self.hub.restore_downloads)
        self.new_chat_action.triggered.connect(self.new_chat)
        self.settings_action.triggered.connect(self.open_settings)
        self.input.submitted.connect(self.send)
        self.send_button.clicked.connect(self._send_or_stop)

    # the model (the model bar owns the loading state; the chat follows it)
    def load_model(self, path: str) -> None:
        self.model_bar.load_model(path)

    @property
    def _loading_path(self) -> str:  # read by the chat turn
        return self.model_bar.loading_path

    def _on_load_started(self, _path: str) -> None:
        self.stop_generation()
        self.banner.hide()
        self.send_button.setEnabled(False)

    def _on_model_ready(self, loaded: LoadedModel) -> None:
        self.send_button.setEnabled(True)
        self.context_label.setText(f"context 0 / {loaded.context_size:,}")
        self._update_welcome()
        self.input.setFocus()
        self.model_ready.emit(loaded)

    def _on_model_failed(self, message: str) -> None:
        self.banner.show_message(message)
        self.send_button.setEnabled(self.client.loaded is not None)
        self.model_failed.emit(message)

    def _on_unloaded(self) -> None:
        self.send_button.setEnabled(False)
        self.context_label.setText("context —")

    def _update_welcome(self, _count: int | None = None) -> None:
        if self.model_bar.model_count is None and not self.client.loaded:
            return  # still looking
        folder = str(self.model_bar.models_dir).replace("&", "&amp;").replace("<", "&lt;")
        has_models = bool(self.model_bar.model_count) or self.client.loaded is not None
        self.welcome.setText(WELCOME if has_models else NO_MODELS.format(folder=folder))

    def _welcome_link(self, link: str) -> None:
        if link == "discover":
            self.hub.find_starter()

    # chatting
    @property
    def generating(self) -> bool:
        last = self.chat_model.last()
        return last is not None and last.state == MessageState.STREAMING

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

    def _send_or_stop(self) -> None:
        if self.generating:
            self.stop_generation()
        else:
            self.send()

    @Slot()
    def send(self) -> None:
        text = self.input.toPlainText().strip()
        if not text or self.generating:
            return
        if not self._ready_to_generate():
            return
        self.input.clear()
        try:
            messages = self.conversation.send(text, **self._turn_fields())
        except (sqlite3.Error, StoreError) as exc:
            self.input.setPlainText(text)  # nothing typed is lost
            self.banner.show_message(f"The chat could not be saved ({exc}); free some disk space and send again.")
            return
        self._generate(messages)
        self.sidebar.select(self.conversation.chat_id)
        self.sidebar.refresh()

    def regenerate(self) -> None:
        if self.generating or not self._ready_to_generate():
            return
        try:
            messages = self.conversation.regenerate(**self._turn_fields())
        except ValueError as exc:
            self.banner.show_message(str(exc))
            return
        self._generate(messages)

    def continue_reply(self) -> None:
        if self.generating or not self._ready_to_generate():
            return
        try:
            messages, partial = self.conversation.continue_last(system_prompt=self.system_prompt.toPlainText())
        except ValueError as exc:
            self.banner.show_message(str(exc))
            return
        self._generate(messages, continue_text=partial)

    def edit_message(self, row: int) -> None:
        """Edit a message of yours in place; Enter sends it as a new version (a branch from that point)."""
        if self.generating or not self.chat_view.start_editing(row):
            return
        self.statusBar().showMessage("Editing — Enter sends a new version (the old one stays), Esc cancels", 10000)

    @Slot(int, str)
    def resend_edited(self, row: int, text: str) -> None:
        if self.generating or not self._ready_to_generate() or row >= self.chat_model.rowCount():
            return
        if text == self.chat_model.item(row).text:
            self.statusBar().clearMessage()
            return  # unchanged: nothing to send
        try:
            messages = self.conversation.edit(row, text, **self._turn_fields())
        except (sqlite3.Error, StoreError) as exc:
            self.banner.show_message(f"The chat could not be saved ({exc}); free some disk space and try again.")
            return
        self._generate(messages)
        self.sidebar.refresh()

    def _ready_to_generate(self) -> bool:
        if self.client.loaded is None:
            self.banner.show_message(
                "Still loading the model — one moment." if self._loading_path else "Pick a model to chat with first."
            )
            return False
        self.banner.hide()
        self.pages.setCurrentWidget(self.chat_view)
        return True

    def _turn_fields(self) -> dict[str, str]:
        loaded = self.client.loaded
        model = loaded.info.path.stem if loaded else ""
        return {
            "system_prompt": self.system_prompt.toPlainText(),
            "model": model,
            "preset": self.preset.id,
            "speaker": f"{model} · {self.preset.name}",
        }

    def _generate(self, messages, continue_text: str = "") -> None:
        self.chat_model.mark_left_out([])  # the next reply says afresh what it left out
        policy = self.persona.overflow.currentData()
        if self.conversation.chat_id is not None:
            self.store.set_chat_fields(self.conversation.chat_id, overflow=policy)
        options = RequestOptions(
            prompt_format=(self.preset.prompt_format, self.preset.custom_template),
            context_policy=policy,
            continue_text=continue_text,
        )
        self._request_id = self.client.generate(messages, self.sampling(), options)
        self.send_button.setText("Stop")
        self.statusBar().showMessage("Reading the conversation… (Esc to stop)")

    @Slot()
    def stop_generation(self) -> None:
        if self.generating:
            self.client.stop()

    @Slot(int, int, int)
    def _on_prompt_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id == self._request_id and self.generating and total:
            progress = f"{100 * done // total} % of {total:,} tokens"
            self.chat_model.set_reading(progress)
            self.statusBar().showMessage(f"Reading the conversation… {progress} (Esc to stop)")

    @Slot(int, str)
    def _on_tokens(self, request_id: int, text: str) -> None:
        if request_id == self._request_id and self.generating:
            if self.statusBar().currentMessage().startswith("Reading"):
                self.statusBar().showMessage("Generating… (Esc to stop)")
            self.conversation.append(text)

    @Slot(int, object)
    def _on_finished(self, request_id: int, stats: GenerationStats) -> None:
        if request_id != self._request_id or not self.generating:
            return
        self.conversation.finish(stats)
        self._show_stats(stats)
        if stats.dropped_messages:
            sent = self.chat_model.sent_rows[stats.dropped_start : stats.dropped_start + stats.dropped_messages]
            self.chat_model.mark_left_out([row for row in sent if row >= 0])
            noun = "message was" if stats.dropped_messages == 1 else "messages were"
            self.statusBar().showMessage(
                f"{stats.dropped_messages} earlier {noun} left out to fit the context (dimmed in the chat).", 10000
            )
        self._generation_ended()

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self._request_id or not self.generating:
            return
        self.conversation.fail(message)
        self.banner.show_message(message)
        self._generation_ended()

    def _generation_ended(self) -> None:
        self.send_button.setText("Send")
        if self.statusBar().currentMessage().startswith(("Reading", "Generating")):
            self.statusBar().clearMessage()
        self.sidebar.refresh()
        last = self.chat_model.last()
        if last is not None:
            self.reply_finished.emit(last)

    def _show_stats(self, stats: GenerationStats) -> None:
        self.speed_label.setText(f"{stats.tokens_per_s:.1f} tok/s")
        self.ttft_label.setText(f"TTFT {stats.ttft_s * 1000:.0f} ms")
        self._show_context(stats.context_used, stats.context_size)

    def _show_context(self, used: int, size: int) -> None:
        self.context_label.setText(f"context {used:,} / {size:,}" if size else "context —")
        self.context_meter.setValue(int(1000 * min(1.0, used / size)) if size else 0)
        self.context_meter.setToolTip(f"This chat uses {used:,} of {size:,} context tokens" if size else "")

    def show_context(self, used: int, size: int) -> None:
        self._show_context(used, size)

    def abandon_reply(self) -> None:
        """Stop a reply in progress; whatever it still sends is ignored."""
        self.stop_generation()
        self._request_id = -1

    @Slot()
    def new_chat(self) -> None:
        self.abandon_reply()  # late tokens of the old chat are ignored
        self._greet()
        self.sidebar.select(None)
        self.send_button.setText("Send")
        self._show_context(0, self.client.loaded.context_size if self.client.loaded else 0)
        self.input.setFocus()

    def _greet(self) -> None:
        """A new chat opens with the preset's greeting, when it has one."""
        greeting = self.preset.greeting.strip()
        self.conversation.new(greeting, self.preset.name)
        self.pages.setCurrentWidget(self.chat_view if greeting else self.welcome)

    @Slot(object)
    def _on_preset_changed(self, preset: Preset) -> None:
        self.settings_store.update(preset=preset.id)
        if self.conversation.chat_id is None and not any(item.role == "user" for item in self.chat_model.items):
            self._greet()  # an untouched chat takes the new persona's greeting

    # settings and lifetime
    @Slot()
    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.paths.default_models_dir, self)
        if dialog.exec():
            chosen = dialog.result_settings()
            self.settings_store.update(
                models_dir=chosen.models_dir, context_size=chosen.context_size, cpu_threads=chosen.cpu_threads,
                gpu_layers=chosen.gpu_layers, theme=chosen.theme,
            )  # fmt: skip

    def _apply_settings(self, new: Settings, old: Settings) -> None:
        if new.theme != old.theme:
            apply_theme(QApplication.instance(), new.theme)  # type: ignore[arg-type]
        if new.models_path(self.paths.default_models_dir) != old.models_path(self.paths.default_models_dir):
            self._update_welcome()

    # drag and drop: models, presets and character cards
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(_dropped_kind(url.toLocalFile()) for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            path = url.toLocalFile()
            kind = _dropped_kind(path)
            if kind == "model":
                self.model_bar.open_model(path)
            elif kind == "preset":
                self.persona.import_file(Path(path))
        event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._unsubscribe()
        self.hub.shutdown()
        self.background.shutdown()
        self.client.shutdown()
        if self.generating:  # the engine thread is gone: save what was written
            self.conversation.finish(GenerationStats(finish_reason="cancelled"))
        self.history.forget_undo()
        with contextlib.suppress(sqlite3.Error):
            self.store.close()
        super().closeEvent(event)


def _dropped_kind(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".gguf":
        return "model"
    if suffix in (".json", ".png"):
        return "preset"
    return ""
