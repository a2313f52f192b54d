"""The main window: its first paint is the chat column's outline (app/ui/shell/first_paint.py); the chat column
itself and the rest are built in stages after it (app/ui/shell/window_parts.py, run by app/ui/shell/startup.py); it
wires the controllers (model bar, history, Hub pages, chat turn)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication, QMainWindow, QStatusBar

from app import APP_NAME
from app.core.paths import AppPaths
from app.core.settings import Settings, SettingsStore
from app.ui.shell.chat_column import dropped_kind
from app.ui.shell.first_paint import FirstPaint
from app.ui.shell.startup import StagedBuild
from app.ui.shell.window_parts import BUILT_BY, STAGES

if TYPE_CHECKING:  # built after the first paint (app/ui/shell/startup.py): imported by their stage
    from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QMenuBar, QSplitter, QStackedWidget, QTabWidget, QToolBar, QToolButton

    from app.core.engines.interface import LoadedModel
    from app.core.engines.state_cache import StateCache
    from app.core.history.store import ChatStore
    from app.core.knowledge.embedder import Embedder
    from app.core.media.store import ImageStore
    from app.core.personas.presets import Preset
    from app.ui.background import Background
    from app.ui.chat.attachments import Attachments
    from app.ui.chat.chat_controller import ChatColumn, ChatController
    from app.ui.chat.chat_history import ChatHistory
    from app.ui.chat.chat_list import ChatSidebar
    from app.ui.chat.conversation import Conversation
    from app.ui.chat.group_chat import GroupChat
    from app.ui.chat.prompt_preview import PromptPreview
    from app.ui.engines.engine_client import EngineClient
    from app.ui.engines.model_bar import ModelBar
    from app.ui.engines.server_indicator import ServerIndicator
    from app.ui.hub.hub_pages import HubPages
    from app.ui.knowledge.hooks import WindowKnowledge
    from app.ui.personas.persona_panel import PersonaPanel
    from app.ui.personas.roleplay_panel import RoleplayControls, RoleplayPanel
    from app.ui.personas.user_persona_picker import UserPersonaPicker
    from app.ui.shell.menu_bar import WindowMenus
    from app.ui.shell.pages import PageRouter
    from app.ui.tools.hooks import WindowTools
    from app.ui.widgets import ErrorBanner

log = logging.getLogger(__name__)

STARTUP_DEFER_MS = 300


class MainWindow(QMainWindow):
    """One chat with one model. Talks to the engine thread only through its EngineClient.

    The constructor builds what the first paint shows: the chat column's outline (app/ui/shell/first_paint.py); the
    rest is built in stages after it (``STAGES``: the chat column itself first), or at once when it is asked for
    (app/ui/shell/startup.py)."""

    # Re-emitted on the GUI thread, so plain Python callables connected to them run there too.
    model_ready = Signal(object)  # LoadedModel
    model_failed = Signal(str)
    reply_finished = Signal(object)  # the finished ChatItem
    settings_changed = Signal(object, object)  # new Settings, old Settings (from the SettingsStore)

    # built after the first paint (``STAGES``): the chat column (its first stage)
    client: EngineClient
    state_cache: StateCache | None
    store: ChatStore
    _purge_failure: str  # why last time's deleted chats could not be removed ("": they were)
    banner: ErrorBanner
    images: ImageStore
    conversation: Conversation
    chat_model: Any
    session: Any
    chat_column: ChatColumn
    chat_view: Any
    welcome: Any
    pages: QStackedWidget
    input: Any
    send_button: Any
    think: Any
    attachments: Attachments
    splitter: QSplitter
    stack: QStackedWidget
    # and the rest
    background: Background
    model_bar: ModelBar
    model_picker: Any
    new_chat_action: QAction
    settings_action: QAction
    persona: PersonaPanel
    sidebar: ChatSidebar
    tools: WindowTools
    prompt_preview: PromptPreview
    preview: Any
    preview_notes: Any
    roleplay_panel: RoleplayPanel
    user_persona: UserPersonaPicker
    side_tabs: QTabWidget
    rail: QToolBar
    router: PageRouter
    hub: HubPages
    server_indicator: ServerIndicator
    chat: ChatController
    history: ChatHistory
    roleplay: RoleplayControls
    speed_label: Any
    ttft_label: Any
    context_label: Any
    context_meter: Any
    group: GroupChat
    menus: WindowMenus
    knowledge: WindowKnowledge
    interrupted_notice: QToolButton

    def __init__(self, paths: AppPaths, settings: SettingsStore | Settings, client: EngineClient | None = None) -> None:
        """``settings``: the process's SettingsStore; a bare Settings gets a store of its own (tests, tools)."""
        super().__init__()
        self._stages = StagedBuild([(name, partial(build, self)) for name, (build, _made) in STAGES.items()], self)
        self.paths = paths
        self.settings_store = (
            settings if isinstance(settings, SettingsStore) else SettingsStore(paths.settings_file, settings)
        )
        self._unsubscribe = self.settings_store.subscribe(self.settings_changed.emit)
        self._closing = False
        self._client = client
        self.setWindowTitle(APP_NAME)
        self.resize(1100, 760)
        painted = self._stages.start_after_paint()  # the rest: in the event-loop turns after the first paint
        first_paint = FirstPaint(on_enter=self._enter_before_the_column, on_painted=painted)
        self.first_paint: FirstPaint | None = first_paint  # (None once the chat column took its place)
        self.setCentralWidget(first_paint)
        super().statusBar()  # (empty until its figures come: the chat column does not move when they do)
        first_paint.input.setFocus()  # typing starts at the first paint

    def __getattr__(self, name: str) -> Any:
        """A part built after the first paint, asked for before its stage ran: the window is finished now (its parts
        are wired to each other, so none is handed out before all are: no signal of it goes unheard)."""
        stage = BUILT_BY.get(name)
        stages = self.__dict__.get("_stages")
        if stage is None or stages is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        stages.ensure(stage if stages.building else next(reversed(STAGES)))  # (building: a stage out of order)
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}") from None

    @property
    def built(self) -> bool:
        """Every part of the window is built (the stages after the first paint have all run)."""
        return self._stages.done

    @property
    def stage_times_ms(self) -> dict[str, float]:
        """How long each stage after the first paint took (bench.cold_start, the start-up log)."""
        return dict(self._stages.times_ms)

    def stage_built(self, stage: str) -> bool:
        return self._stages.built(stage)

    def when_built(self, callback: Callable[[], None]) -> None:
        """``callback`` runs once the whole window is built (at once if it is): what waits on the model bar, the
        pages or the menus without building them before the first paint (loading the last session's model)."""
        self._stages.when_built(callback)

    def after_first_paint(self, callback: Callable[[], None]) -> None:
        """``callback`` runs in the first event-loop turn after the window's first paint (before the next stage)."""
        self._stages.after_paint(callback)

    def finish_building(self) -> None:
        """Build every part not built yet, now."""
        self._stages.ensure(next(reversed(STAGES)))

    def menuBar(self) -> QMenuBar:
        if not self._stages.building:
            self.finish_building()  # its menus, not an empty bar
        return super().menuBar()

    def statusBar(self) -> QStatusBar:
        if not self._stages.building:
            self.finish_building()  # its figures, the server's light, the undo button
        return super().statusBar()

    @property
    def settings(self) -> Settings:
        """The settings now (read-only: change them through ``settings_store.update``)."""
        return self.settings_store.current

    def _enter_before_the_column(self) -> None:
        """Enter pressed in the first paint's box: the chat column takes the text, and sends it."""
        if self._stages.building:
            return  # (a stage is running: the column comes with it)
        self._stages.ensure("column")
        self.input.submitted.emit()

    def _describe_preset(self, preset: str) -> str:
        return self.persona.library.name_of(preset)  # (the persona panel is built after the first paint)

    @Slot()
    def _submitted_early(self) -> None:
        """Enter pressed before the chat controller was built: it is built now and takes the message."""
        if not self._stages.built("chat"):
            self.chat.send()

    def _connect(self) -> None:
        from app.ui.knowledge.hooks import WindowKnowledge

        self.input.submitted.disconnect(self._submitted_early)
        self.chat.reply_finished.connect(self.reply_finished)
        self.chat.chat_changed.connect(self._follow_chat)
        self.conversation.state_changed.connect(lambda _state: self.chat_view.refresh_actions())
        self.chat_view.regenerate_requested.connect(lambda _row: self.chat.regenerate())
        self.chat_view.continue_requested.connect(lambda _row: self.chat.continue_reply())
        self.chat_view.edit_requested.connect(self.chat.edit_message)
        self.chat_view.copied.connect(lambda _text: self.statusBar().showMessage("Copied.", 2000))
        self.chat_view.image_clicked.connect(self.show_image)
        self.attachments.refused.connect(self.banner.show_message)
        self.chat_column.documents.refused.connect(self.banner.show_message)
        self.chat.embedder = self._embedder  # on the grounding thread
        self.knowledge = WindowKnowledge(self)  # the Knowledge page, the chat's collections, a source opened
        self.attachments.noted.connect(lambda note: self.statusBar().showMessage(note, 10000))
        bar = self.model_bar
        bar.load_started.connect(self._on_load_started)
        bar.model_ready.connect(self._on_model_ready)
        bar.model_failed.connect(self._on_model_failed)
        bar.unloaded.connect(self._on_unloaded)
        bar.models_listed.connect(self._update_welcome)
        bar.notice.connect(self.banner.show_message)
        self.welcome.browse_requested.connect(self.hub.find_starter)
        self.welcome.starter_requested.connect(self.get_starter_model)
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
        self.roleplay.changed.connect(self.prompt_preview.schedule)
        self.roleplay.error.connect(self.banner.show_message)
        self.user_persona.changed.connect(self._greet_if_untouched)  # the greeting says the new name
        self.history.chat_opened.connect(lambda chat: self.roleplay.show_chat(self.store.chat(chat).settings))
        self.persona.chat_in_use = lambda: any(item.role == "user" for item in self.chat_model.items)
        self.persona.new_chat_requested.connect(self.new_chat)
        self.history.new_chat_needed.connect(self.new_chat)
        self.sidebar.new_chat_requested.connect(self.new_chat)
        # The Hub pages and the download queue are built after the window is up (not on the start-up path).
        self._restore_timer = QTimer(self, singleShot=True, interval=STARTUP_DEFER_MS)  # stopped if closed first
        self._restore_timer.timeout.connect(self.hub.restore_downloads)
        self._restore_timer.start()
        self.new_chat_action.triggered.connect(self.new_chat)
        self.settings_action.triggered.connect(self.open_settings)

    # the model (the model bar owns the loading state: ``model_bar.load_model``; the chat follows it)
    def _on_load_started(self, _path: str) -> None:
        self.chat.stop()
        self.banner.hide()
        self.send_button.setEnabled(False)

    def _on_model_ready(self, loaded: LoadedModel) -> None:
        from app.core.prompting.parts import thinking_switch

        self.send_button.setEnabled(True)
        self.attachments.set_model(loaded)
        self.think.setVisible(bool(thinking_switch(loaded.info.chat_template or "")))
        self.context_label.setText(f"context 0 / {loaded.context_size:,}")
        self._update_welcome()
        self.input.setFocus()
        self.model_ready.emit(loaded)

    def _on_model_failed(self, message: str) -> None:
        self.banner.show_message(message)
        self.send_button.setEnabled(self.client.loaded is not None)
        self.attachments.set_model(self.client.loaded)
        self.model_failed.emit(message)

    def _on_unloaded(self) -> None:
        self.send_button.setEnabled(False)
        self.attachments.set_model(None)
        self._update_welcome()
        self.chat.figures.clear()  # no model: no speed, no context

    def _update_welcome(self, _count: int | None = None) -> None:
        looking = self.model_bar.model_count is None and not self.client.loaded
        has_models = bool(self.model_bar.model_count) or self.client.loaded is not None
        loaded = self.client.loaded.info.path.stem if self.client.loaded else ""
        self.welcome.show_state(looking=looking, has_models=has_models, folder=self.model_bar.models_dir, loaded=loaded)

    def get_starter_model(self) -> None:
        """Fetch the small offline starter model into the library, then load it."""
        from app.core.library.starter import ensure_starter_model  # off the start path, as the dialogs are

        models_dir, wheels = self.model_bar.models_dir, self.paths.cache / "wheels"
        self.welcome.busy("Getting the starter model…")

        def done(path: Path) -> None:
            self.welcome.busy("")
            self.model_bar.refresh_models()
            self.model_bar.open_model(str(path))

        def failed(error: Exception) -> None:
            self.welcome.busy("")
            self.banner.show_message(str(error))

        report = self.welcome.progress.emit  # from the worker thread: queued to the page
        self.background.run(lambda: ensure_starter_model(models_dir, wheels, report), done, failed)

    # chatting: the chat controller (``self.chat``) does it; the persona panel holds the sampling fields
    @Slot(int, int)
    def show_image(self, row: int, number: int) -> None:
        """A message's image at full size (a click on its thumbnail, or View images), its others a key away."""
        images = self.chat_model.item(row).images if 0 <= row < self.chat_model.rowCount() else []
        if not 0 <= number < len(images):
            return
        from app.ui.chat.image_viewer import ImageViewer

        self.image_viewer = ImageViewer(images, self.images.load, number, self)
        self.image_viewer.show()

    @Slot()
    def _follow_chat(self) -> None:
        """A turn started or ended: the sidebar shows the chat (a new chat appears with its first message)."""
        if self.session.chat_id is not None:
            self.sidebar.select(self.session.chat_id)
        self.sidebar.refresh()

    @Slot()
    def new_chat(self) -> None:
        self.roleplay.show_chat("")  # no lorebooks of its own yet, your default persona, no note
        self._greet()  # a reply still being written is stopped and kept
        self.sidebar.select(None)
        self.chat.figures.clear(self.client.loaded.context_size if self.client.loaded else 0)
        self.input.setFocus()

    def _greet(self) -> None:
        """A new chat opens with the preset's greeting, when it has one (a card's alternate greetings: swipeable)."""
        greetings = self.roleplay.greetings()
        self.conversation.new(greetings, self.persona.preset.name)
        self.pages.setCurrentWidget(self.chat_view if greetings else self.welcome)

    @Slot()
    def _greet_if_untouched(self) -> None:
        if self.session.chat_id is None and not any(item.role == "user" for item in self.chat_model.items):
            self._greet()  # an untouched chat takes the new persona's greeting

    @Slot(object)
    def _on_preset_changed(self, preset: Preset) -> None:
        self.settings_store.update(preset=preset.id)
        self._greet_if_untouched()

    # settings and lifetime
    @Slot()
    def open_settings(self) -> None:
        from app.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(
            self.settings, self.paths.default_models_dir, self, state_cache=self.state_cache,
            extra=self.tools.section(),
        )  # fmt: skip
        if dialog.exec():
            chosen = dialog.result_settings()
            self.settings_store.update(**{name: getattr(chosen, name) for name in SettingsDialog.FIELDS})

    def _apply_settings(self, new: Settings, old: Settings) -> None:
        if self.settings_store.save_error:
            self.banner.show_message(self.settings_store.save_error)
        if self.state_cache is not None:
            self.state_cache.set_budgets(new.state_memory_mib << 20, new.state_disk_mib << 20)
        if new.theme != old.theme:
            from app.ui.theme import apply_theme

            apply_theme(QApplication.instance(), new.theme)  # type: ignore[arg-type]
        if new.models_path(self.paths.default_models_dir) != old.models_path(self.paths.default_models_dir):
            self._update_welcome()

    # drag and drop: models, presets and character cards
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if not self._stages.built("column"):
            return
        if any(dropped_kind(url.toLocalFile()) for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            self.open_file(url.toLocalFile())
        event.acceptProposedAction()

    def _embedder(self) -> Embedder | None:
        """For attached documents: the library's embedding model (loaded on first use), or None (keyword search)."""
        from app.ui.chat.documents import library_embedder

        return library_embedder(self.client.service, self.settings.library_folders(self.paths.default_models_dir))

    def open_file(self, path: str) -> None:
        """A model is loaded; a preset or a character card is imported; another picture is attached to the next message
        (dropped, or handed over by a second start)."""
        kind = dropped_kind(path)
        if kind and not self.attachments.unavailable and not dropped_kind(path, card_check=True):
            self.attachments.add_files([Path(path)])  # a picture, not a character card, and a vision model to see it
        elif kind == "model":
            self.model_bar.open_model(path)
        elif kind:
            self.persona.import_file(Path(path))

    def closeEvent(self, event: QCloseEvent) -> None:
        """Shut down in order, once: after this nothing submits work, and no late answer reaches a widget."""
        if not self._closing:
            self._closing = True
            self._shut_down()
        super().closeEvent(event)

    def _shut_down(self) -> None:
        self._stages.stop()  # no stage is built any more unless asked for
        for timer in self.findChildren(QTimer):  # the deferred start-up work, the pages' polling, pending searches
            timer.stop()
        built = self._stages.built
        self._unsubscribe()  # no settings reach the pages any more
        if not built("column"):  # closed before the chat column: no engine thread started, no store opened
            if self._client is not None:
                self._client.shutdown()  # (one handed in is the window's to shut down, as ever)
            return
        if built("background"):
            self.background.shutdown()  # nothing new runs; what runs is awaited and its answer dropped
        if built("pages"):
            self.router.close()  # no page is built any more; the Server page's server stops, the Lorebooks page saves
            self.hub.shutdown()  # downloads pause (resumed at the next start)
        self.conversation.close()  # a reply being written is kept, as stopped
        if built("tools"):
            self.tools.shutdown()  # every MCP server's process ends
        self.client.shutdown()  # a load is cancelled, the engine thread joined, the model freed; no signal after
        if built("chat"):
            self.history.forget_undo()
        if built("sidebar"):
            self.sidebar.close_search()  # a search in progress stops; its thread and connection go
        self.store.close()
