"""The cold start (issue 20, part 4): the window shown pulls in none of the heavy libraries, and builds no page
before it is shown; the page router (issue 18, part 5) builds each page once, on first show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel

from app.ui.shell.pages import Page

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
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path), json.dumps(HEAVY)],
        check=False, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
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
