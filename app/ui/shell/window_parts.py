"""The parts of the main window built after its first paint: one function a stage, in the order they run
(``STAGES``; app/ui/shell/startup.py runs them, one per event-loop turn), the chat column first. Each imports what it
needs inside itself, so nothing of it is on the start path; each may use what the stages before it built, never a
later one's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

from app.ui.shell.chat_column import MIN_CHAT_WIDTH

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


def engine_modules(_window: MainWindow) -> None:
    """The chat column's imports, in slices (each one turn; aim ≤ 50 ms): the engine and its Qt face."""
    import app.core.engines.llama_engine
    import app.core.engines.state_cache
    import app.ui.engines.engine_client  # noqa: F401


def conversation_modules(_window: MainWindow) -> None:
    """The core's chat (prompting, personas, the engine service) and the history store."""
    import app.core.history.store
    import app.ui.chat.conversation  # noqa: F401


def view_modules(_window: MainWindow) -> None:
    """The chat view, its renderer and the composer."""
    import app.ui.chat.chat_controller  # noqa: F401


def column(window: MainWindow) -> None:
    """The chat column: the conversation (the engine client, the history store) and the message box, in place of the
    first paint's outline, with what was typed in it."""
    from app.ui.shell.chat_column import build_chat_column

    build_chat_column(window)


def background(window: MainWindow) -> None:
    from app.ui.background import Background

    window.background = Background(window)


def model_bar(window: MainWindow) -> None:
    from PySide6.QtCore import QSize, Qt
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QSizePolicy, QToolButton

    from app.ui.engines.model_bar import ModelBar
    from app.ui.theme import ICON_SIZE, icon

    window.model_bar = ModelBar(window.client, window.settings_store, window.paths, window.background, window)
    window.addToolBar(window.model_bar)
    window.model_picker = window.model_bar.picker
    window.new_chat_action = QAction("New chat", window, shortcut=QKeySequence("Ctrl+N"))
    window.settings_action = QAction("Settings…", window, shortcut=QKeySequence("Ctrl+,"))
    spacer = QWidget()
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    window.model_bar.addWidget(spacer)
    window.model_bar.addAction(window.new_chat_action)
    window.model_bar.addAction(window.settings_action)
    window.model_bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    window.model_bar.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
    for action, name in ((window.model_bar.open_action, "folder-open"), (window.model_bar.eject_action, "power"),
                         (window.model_bar.options_action, "gauge"), (window.model_bar.engines_action, "server"),
                         (window.new_chat_action, "square-pen"), (window.settings_action, "settings")):  # fmt: skip
        action.setIcon(icon(name))
    for action in (window.model_bar.open_action, window.model_bar.eject_action, window.model_bar.engines_action):
        button = window.model_bar.widgetForAction(action)  # icons (names in their tooltips and the Model menu):
        if isinstance(button, QToolButton):  # New chat and Settings stay in sight while a model loads
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)


def persona(window: MainWindow) -> None:
    from app.core.personas.presets import PresetLibrary
    from app.ui.personas.persona_panel import PersonaPanel

    window.persona = PersonaPanel(PresetLibrary(window.paths.presets_dir), window.settings.preset)


def sidebar(window: MainWindow) -> None:
    from app.ui.chat.chat_list import ChatSidebar

    window.sidebar = ChatSidebar(window.store, describe_preset=window.persona.library.name_of)
    window.splitter.insertWidget(0, window.sidebar)


def tools(window: MainWindow) -> None:
    from app.ui.tools.hooks import WindowTools

    window.tools = WindowTools(window.paths, window.conversation, window.chat_column, window)  # MCP servers, approvals


def side_panels(window: MainWindow) -> None:
    from PySide6.QtWidgets import QTabWidget

    from app.ui.chat.prompt_preview import PromptPreview
    from app.ui.personas.roleplay_panel import RoleplayPanel
    from app.ui.personas.user_persona_picker import UserPersonaPicker
    from app.ui.widgets import scrolling

    window.prompt_preview = PromptPreview(window.chat_model, window.persona, window.input, window.client)
    window.preview, window.preview_notes = window.prompt_preview.text, window.prompt_preview.notes
    side = window.side_tabs = QTabWidget()
    side.addTab(scrolling(window.persona), "Persona")  # a short window scrolls the panel, never grows past it
    side.addTab(window.prompt_preview, "Prompt preview")
    window.roleplay_panel = RoleplayPanel()  # the chat's lorebooks and author's note
    side.addTab(window.roleplay_panel, "Roleplay")
    window.user_persona = UserPersonaPicker(window.paths.data)  # who you are in this chat, above the input
    window.chat_column.add_above_input(window.user_persona)
    splitter = window.splitter
    splitter.addWidget(side)
    for index, stretch in enumerate((0, 1, 0)):  # the chat takes the room; the side columns keep theirs
        splitter.setStretchFactor(index, stretch)
    splitter.setCollapsible(0, True)
    splitter.setCollapsible(1, False)
    side.setMinimumWidth(MIN_CHAT_WIDTH // 2 + 40)  # less than its contents ask for: the chat comes first
    splitter.setSizes([200, 700, 300])


def pages(window: MainWindow) -> None:
    from PySide6.QtCore import QSize, Qt
    from PySide6.QtWidgets import QToolBar

    from app.ui.engines.server_indicator import ServerIndicator
    from app.ui.hub.hub_pages import HubPages
    from app.ui.shell.pages import Page, PageRouter
    from app.ui.shell.window_pages import register_pages
    from app.ui.theme import ICON_SIZE

    rail = window.rail = QToolBar("Pages", window, movable=False)
    rail.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
    rail.setIconSize(QSize(ICON_SIZE + 4, ICON_SIZE + 4))
    window.addToolBar(Qt.ToolBarArea.LeftToolBarArea, rail)
    window.router = PageRouter(window.stack, rail, window)  # every page, built on first show
    window.hub = HubPages(
        window.router, paths=window.paths, settings=window.settings_store, background=window.background,
        model_bar=window.model_bar, parent=window,
    )  # fmt: skip
    register_pages(window, window.splitter)  # app/ui/shell/window_pages.py: one line a page
    window.server_indicator = ServerIndicator(  # the Server page's server, or a terminal's `serve`, is running
        window.statusBar(), window.router.action(Page.SERVER), lambda: window.router.show(Page.SERVER),
        window.paths.data / "servers",
    )  # fmt: skip


def chat(window: MainWindow) -> None:
    from app.core.personas.roleplay import RoleplaySources
    from app.ui.chat.chat_controller import ChatController, ChatWidgets
    from app.ui.chat.chat_history import ChatHistory
    from app.ui.personas.roleplay_panel import RoleplayControls
    from app.ui.widgets import style_slim_meter

    chat_column = window.chat_column
    widgets = ChatWidgets(
        window.input, window.send_button, window.think, window.banner, window.chat_view, window.statusBar(),
        chat_column.show_chat, chat_column.attachments, chat_column.documents,
    )  # fmt: skip
    window.chat = ChatController(
        window.conversation, window.client, window.persona, widgets,
        loading=lambda: bool(window.model_bar.loading_path), parent=window,
    )  # fmt: skip
    window.history = ChatHistory(
        window.store, window.conversation, window.chat_model, window.chat_view, sidebar=window.sidebar,
        persona=window.persona, turn=window.chat, parent=window,
    )  # fmt: skip
    window.statusBar().insertPermanentWidget(1, window.history.undo_button)  # after the server's, before the figures
    window.roleplay = RoleplayControls(
        RoleplaySources(window.paths.data, window.persona.library), window.roleplay_panel, window.user_persona,
        window.conversation, window.client, busy=lambda: bool(window.model_bar.loading_path), parent=window,
    )  # fmt: skip
    window.chat.roleplay = window.prompt_preview.roleplay = window.roleplay.roleplay
    window.roleplay.show_preset(window.persona.preset)
    window.persona.preset_changed.connect(window.roleplay.show_preset)  # before the new persona's greeting
    figures = window.chat.figures
    window.speed_label, window.ttft_label, window.context_label = (figures.speed_label, figures.ttft_label,
                                                             figures.context_label)  # fmt: skip
    window.context_meter = figures.context_meter
    style_slim_meter(window.context_meter)


def order(window: MainWindow) -> None:
    """The Tab chain and the accessible names, once every widget in them is built."""
    from app.ui.shell.keyboard import tab_chain
    from app.ui.widgets import name_for_accessibility

    tab_chain(window, window.rail)  # the model bar, the pages, the chats list; then the chat:
    for first, second in ((window.sidebar.view, window.chat_view), (window.chat_view, window.input),
                          (window.input, window.send_button), (window.send_button, window.persona.picker)):  # fmt: skip
        QWidget.setTabOrder(first, second)
    for widget, name in ((window.model_picker, "Model"), (window.chat_view, "Messages"), (window.input, "Message"),
                         (window.preview, "The prompt"), (window.side_tabs, "Persona and prompt preview")):  # fmt: skip
        widget.setAccessibleName(name)
    name_for_accessibility(window)


def group(window: MainWindow) -> None:
    from app.ui.chat.group_chat import install as install_group_chats

    window.group = install_group_chats(window)  # the speaker bar, "New group chat…"


def menus(window: MainWindow) -> None:
    from app.ui.shell.menu_bar import WindowMenus

    window.menus = WindowMenus(window)  # every action, with its shortcut (Esc stops a reply)


def wiring(window: MainWindow) -> None:
    window._connect()
    window.model_bar.refresh_models()
    window._greet_if_untouched()  # a new chat opens with the persona's greeting (unless one was opened already)
    if window.store.recovered_from is None and window._purge_failure:
        window.statusBar().showMessage(window._purge_failure, 15000)
    elif window.store.recovered_from is None and window.store.interrupted:  # said until dismissed
        from app.ui.widgets import tool_button

        window.interrupted_notice = tool_button(
            text="A reply was interrupted when the app last closed: it is kept, marked “interrupted” "
            "(right-click › Continue to finish it)  ✕",
            tooltip="Dismiss",
        )
        window.interrupted_notice.clicked.connect(window.interrupted_notice.hide)
        window.statusBar().insertPermanentWidget(0, window.interrupted_notice)
        window.interrupted_notice.show()  # now, not in a later turn: the status bar is shown already


COLUMN_PARTS = (
    *("client", "state_cache", "store", "banner", "images", "conversation", "chat_model", "session", "chat_column"),
    *("chat_view", "welcome", "pages", "input", "send_button", "think", "attachments", "splitter", "stack"),
    "_purge_failure",
)

# What each stage makes, in the order they run: an attribute read before its stage ran finishes the window then
# (MainWindow.__getattr__).
STAGES: dict[str, tuple[Callable[[MainWindow], None], tuple[str, ...]]] = {
    "engine_modules": (engine_modules, ()),
    "conversation_modules": (conversation_modules, ()),
    "view_modules": (view_modules, ()),
    "column": (column, COLUMN_PARTS),
    "background": (background, ("background",)),
    "model_bar": (model_bar, ("model_bar", "model_picker", "new_chat_action", "settings_action")),
    "persona": (persona, ("persona",)),
    "sidebar": (sidebar, ("sidebar",)),
    "tools": (tools, ("tools",)),
    "side_panels": (
        side_panels,
        ("prompt_preview", "preview", "preview_notes", "roleplay_panel", "user_persona", "side_tabs"),
    ),
    "pages": (pages, ("rail", "router", "hub", "server_indicator")),
    "chat": (chat, ("chat", "history", "roleplay", "speed_label", "ttft_label", "context_label", "context_meter")),
    "order": (order, ()),
    "group": (group, ("group",)),
    "menus": (menus, ("menus",)),
    "wiring": (wiring, ("knowledge", "interrupted_notice")),
}
BUILT_BY = {attribute: stage for stage, (_build, attributes) in STAGES.items() for attribute in attributes}
