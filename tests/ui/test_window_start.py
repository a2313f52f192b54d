"""The cold start (issue 20, part 4): the window shown pulls in none of the heavy libraries, and builds no page
before it is shown; the page router (issue 18, part 5) builds each page once, on first show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.core.paths import resolve_paths
from app.core.settings import Settings
from app.ui.main_window import STAGES
from app.ui.shell.pages import Page
from tests.ui.probes import run_probe

# Libraries (and the app's own modules that hold them) that no first paint needs: each loads when its feature is used.
HEAVY = (
    "jinja2",  # chat templates: on the first template compiled (app.core.prompting.template_sandbox)
    "llama_cpp",  # the engine: on the first model loaded
    "numpy",  # the knowledge package: on the first attached document
    "PIL",  # images: on the first image attached or shown to a model
    "pypdfium2",
    "docx",
    "mcp",  # the MCP SDK: when a server is switched on
    "asyncio",  # (the MCP client)
    "huggingface_hub",  # the Hub: on the first search or download
    "app.core.prompting.template_sandbox",
    "app.core.knowledge.base",
    "app.core.tools.mcp_client",
    "app.ui.tools.tool_turn",
    "app.ui.settings_dialog",
    "app.ui.personas.preset_editor",
    "app.ui.hub.discover_page",
    "app.ui.hub.models_page",
    "app.ui.hub.downloads_page",
    "app.ui.engines.server_page",
    "app.ui.personas.lorebooks_page",
)

PROBE = """
import json, sys
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from app.core.paths import resolve_paths
from app.core.settings import Settings
from app.ui.main_window import MainWindow
window = MainWindow(resolve_paths(sys.argv[1]).ensure(), Settings())
window.show()
for _ in range(5):
    app.processEvents()
heavy = json.loads(sys.argv[2])
print(json.dumps({
    "loaded": [name for name in heavy if name in sys.modules],
    "built": [name for name in window.router.names if window.router.built(name) is not None],
}))
window.close()
"""


def test_the_window_shown_loads_no_heavy_library_and_builds_no_page(tmp_path: Path) -> None:
    found = run_probe(PROBE, str(tmp_path), json.dumps(HEAVY))
    assert found["loaded"] == [], f"on the start path: {found['loaded']} (import them where they are used)"
    assert found["built"] == [Page.CHAT]


def test_a_page_is_built_on_first_show_and_once(qtbot, window) -> None:
    router = window.router
    assert [router.built(name) for name in router.names[1:]] == [None] * (len(router.names) - 1)
    built: list[str] = []
    router.page_built.connect(lambda name, _page: built.append(name))
    page = router.show(Page.MODELS)
    assert window.stack.currentWidget() is page and router.current == Page.MODELS
    assert router.action(Page.MODELS).isChecked() and not router.action(Page.CHAT).isChecked()
    assert router.show(Page.CHAT) is not page and router.show(Page.MODELS) is page  # the same page, not a new one
    assert built == [Page.MODELS]


def test_registering_a_page_is_one_line_and_its_action_switches_to_it(qtbot, window) -> None:
    router = window.router
    calls: list[int] = []

    def build() -> QLabel:
        calls.append(1)
        return QLabel("A new page")

    action = router.add("extra", "E&xtra", "compass", build)
    assert calls == []  # nothing built until shown
    number = len(router.names)
    assert action.shortcut().toString() == (f"Ctrl+{number}" if number <= 9 else "")
    assert action.iconText() == "Extra"  # the rail's label: no "&"
    action.trigger()
    assert calls == [1] and router.current == "extra"
    assert isinstance(window.stack.currentWidget(), QLabel) and action.isChecked()
    with pytest.raises(ValueError, match="registered already"):
        router.add("extra", "Again", "compass", build)
    with pytest.raises(KeyError):
        router.show("nowhere")


def test_the_view_menu_and_the_rail_hold_the_same_page_actions(qtbot, window) -> None:
    view = [action for action in window.menus.menus["view"].actions() if action.data() in window.router.names]
    assert view == window.router.actions.actions()
    assert {action.data() for action in view} == {str(page) for page in Page}
    window.menus.actions["focus_input"].trigger()  # a View item that goes through the router too
    assert window.router.current == Page.CHAT


def test_closing_the_window_shuts_down_the_pages_that_were_built(qtbot, window) -> None:
    stopped: list[str] = []

    class Stopping(QLabel):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.name = name

        def shutdown(self) -> None:
            stopped.append(self.name)

    window.router.add("shown", "Shown", "compass", lambda: Stopping("shown"))
    window.router.add("never", "Never", "compass", lambda: Stopping("never"))
    window.router.show("shown")
    window.close()
    assert stopped == ["shown"]  # a page never shown is neither built nor stopped
    with pytest.raises(RuntimeError, match="closing"):
        window.router.page("never")


# The progressive first paint: the constructor builds the chat column's outline (app/ui/shell/first_paint.py); the
# chat column itself and everything else are built in the event-loop turns after the window's first paint, importing
# their modules only then (app/ui/shell/startup.py).
DEFERRED = (
    "app.ui.chat.chat_controller",  # the chat column: its view, renderer, composer, conversation
    "app.ui.chat.chat_view",
    "app.ui.chat.message_delegate",
    "app.ui.chat.attachments",
    "app.ui.chat.conversation",
    "app.core.chat.session",  # the core's chat and the engine stack under it
    "app.core.engines.service",
    "app.core.engines.llama_engine",
    "app.core.history.store",
    "app.ui.engines.engine_client",
    "app.ui.widgets",
    "app.ui.background",
    "app.ui.background",
    "app.ui.engines.model_bar",
    "app.ui.personas.persona_panel",
    "app.ui.chat.chat_list",
    "app.ui.tools.hooks",
    "app.ui.chat.prompt_preview",
    "app.ui.personas.roleplay_panel",
    "app.ui.hub.hub_pages",
    "app.ui.engines.server_indicator",
    "app.ui.chat.chat_history",
    "app.ui.shell.keyboard",
    "app.ui.chat.group_chat",
    "app.ui.shell.menu_bar",
    "app.ui.knowledge.hooks",
)

FIRST_PAINT_PROBE = """
import json, sys, time
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from app.core.paths import resolve_paths
from app.core.settings import Settings
from app.ui.main_window import MainWindow
deferred = json.loads(sys.argv[2])
window = MainWindow(resolve_paths(sys.argv[1]).ensure(), Settings())
painted = {}

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and "stages" not in painted:
            painted["stages"] = list(window.stage_times_ms)  # the stages run before the input was first painted
            painted["modules"] = [name for name in deferred if name in sys.modules]
        return False

first_paint = FirstPaint()
first_input = window.first_paint.input  # the message box of the first paint (the real one comes next turn)
first_input.installEventFilter(first_paint)
window.show()
shown = {"modules": [name for name in deferred if name in sys.modules], "input": first_input.isVisible(),
         "focus": window.focusWidget() is first_input}
deadline = time.monotonic() + 120  # (a deadlock guard: the stages take well under a second)
while not window.built and time.monotonic() < deadline:
    app.processEvents()
listing = window.knowledge._timer  # the knowledge picker lists the collections a moment after the window is up
while listing.isActive() and time.monotonic() < deadline:
    app.processEvents()
print(json.dumps({
    "numpy": "numpy" in sys.modules,  # no knowledge database yet: nothing of the knowledge package is imported
    "shown": shown, "painted": painted, "built": window.built, "stages": list(window.stage_times_ms),
    "modules": [name for name in deferred if name in sys.modules],
    "menus": len(window.menuBar().actions()), "model_bar": window.model_bar.isVisible(),
    "focus": window.focusWidget() is window.input, "first_paint": window.first_paint is None,
}))
window.close()
"""


def test_the_first_paint_is_the_chat_column_and_the_rest_is_built_after_it(tmp_path: Path) -> None:
    found = run_probe(FIRST_PAINT_PROBE, str(tmp_path), json.dumps(DEFERRED))
    assert found["shown"] == {"modules": [], "input": True, "focus": True}  # typing starts at the first paint
    assert found["painted"] == {"stages": [], "modules": []}  # painted before any later part was built or imported
    assert found["built"] and found["stages"] == list(STAGES)  # then every stage ran, in order, by itself
    assert found["modules"] == list(DEFERRED)
    assert found["menus"] >= 6 and found["model_bar"]
    assert found["focus"] and found["first_paint"]  # the chat column took the outline's place, and the focus
    assert not found["numpy"]


def test_a_part_asked_for_before_its_stage_is_built_then_with_the_whole_window(qtbot, basedir: Path) -> None:
    from app.ui.main_window import MainWindow

    window = MainWindow(resolve_paths(basedir).ensure(), Settings(context_size=2048))
    qtbot.addWidget(window)
    try:
        assert not window.built and not window.stage_built("background")
        ran: list[bool] = []
        window.when_built(lambda: ran.append(window.built))
        assert ran == []
        persona = window.persona  # as code and tests read it right after the constructor
        assert window.built and ran == [True]  # wired to the rest: no signal of it goes unheard
        assert window.persona is persona and window.sidebar.isVisibleTo(window)
        assert "&Chat" in [action.text() for action in window.menuBar().actions()]
        window.when_built(lambda: ran.append(True))  # once built: at once
        assert ran == [True, True]
        with pytest.raises(AttributeError, match="no_such_part"):
            _ = window.no_such_part
    finally:
        window.close()


def test_enter_pressed_before_the_chat_controller_exists_loses_nothing(qtbot, basedir: Path) -> None:
    from app.ui.main_window import MainWindow

    window = MainWindow(resolve_paths(basedir).ensure(), Settings(context_size=2048))
    qtbot.addWidget(window)
    window.show()
    try:
        assert not window.stage_built("chat")
        window.input.setPlainText("Hello there")
        qtbot.keyClick(window.input, Qt.Key.Key_Return)  # before the stages ran: the controller is built and sends
        assert window.stage_built("chat") and window.built
        assert window.input.toPlainText() == "Hello there"  # no model yet: kept, and said why
        assert window.banner.isVisible() and "Pick a model" in window.banner.message
        assert window.chat_model.rowCount() == 0
    finally:
        window.close()


def test_closing_before_the_rest_was_built_builds_nothing_more(qtbot, basedir: Path) -> None:
    from app.ui.main_window import MainWindow

    window = MainWindow(resolve_paths(basedir).ensure(), Settings(context_size=2048))
    qtbot.addWidget(window)
    window.show()
    window.close()  # closed before its first stage: no engine thread was started, no store opened
    qtbot.wait(50)  # (turns in which the stages would have run)
    assert not window.stage_built("column") and not window.built
    assert "client" not in window.__dict__ and "store" not in window.__dict__


def test_text_typed_in_the_first_paint_moves_to_the_chat_column_with_its_cursor(qtbot, basedir: Path) -> None:
    from app.ui.main_window import MainWindow

    window = MainWindow(resolve_paths(basedir).ensure(), Settings(context_size=2048))
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.first_paint is not None and not window.stage_built("column")
        first_input = window.first_paint.input
        assert window.focusWidget() is first_input
        qtbot.keyClicks(first_input, "Hello world")
        qtbot.keyClick(first_input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)  # a new line, not a send
        qtbot.keyClicks(first_input, "again")
        cursor = first_input.textCursor()
        cursor.setPosition(5)  # the cursor moved back into the text
        first_input.setTextCursor(cursor)
        assert not window.stage_built("column")  # (all of it typed before the chat column was built)
        qtbot.waitUntil(lambda: window.stage_built("column"), timeout=60_000)
        assert window.first_paint is None
        assert window.input.toPlainText() == "Hello world\nagain"
        assert window.input.textCursor().position() == 5
        assert window.focusWidget() is window.input
        qtbot.waitUntil(lambda: window.built, timeout=60_000)
        assert window.input.toPlainText() == "Hello world\nagain"  # no later stage touched it
    finally:
        window.close()


def test_enter_in_the_first_paint_builds_the_chat_column_and_sends(qtbot, basedir: Path) -> None:
    from app.ui.main_window import MainWindow

    window = MainWindow(resolve_paths(basedir).ensure(), Settings(context_size=2048))
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.first_paint is not None
        first_input = window.first_paint.input
        qtbot.keyClicks(first_input, "Hello there")
        qtbot.keyClick(first_input, Qt.Key.Key_Return)  # before any stage ran: the column is built and sends
        assert window.stage_built("column") and window.built
        assert window.input.toPlainText() == "Hello there"  # no model yet: kept, and said why
        assert window.banner.isVisible() and "Pick a model" in window.banner.message
        assert window.chat_model.rowCount() == 0
    finally:
        window.close()
