"""What the cold start imports (issue 20, part 4): the modules a window start has no use for stay off its path.

The probe starts the app as ``bench/cold_start.py`` does (``app.cli``'s ``main``, the window shown, one event-loop
turn) and reads ``sys.modules`` there, then again once the window's later stages have all run (no model loaded: none
of these modules is needed before one is). Each module below was moved off the path with its import cost measured
(docs/benchmarks.md, the cold start); tests/ui/test_window_start.py keeps the heavy libraries and the pages off it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.ui.probes import run_probe

OFF_THE_START_PATH = (
    # the engine's load, reply and embedding path: imported by LlamaEngine.load / stream / embed
    "app.core.engines.grammar_build",
    "app.core.prompting.gbnf_bounds",
    "app.core.prompting.schema_bounds",
    "app.core.engines.llama_vision",
    "app.core.engines.llama_state",
    "app.core.engines.llama_open",
    "app.core.engines.llama_embed",
    "app.core.engines.llama_adapter",
    "app.core.engines.memory_use",
    "app.core.engines.prompt_lookup",
    "app.core.engines.file_watch",
    "app.core.engines.offload",  # (its constants live in load_options)
    "app.core.engines.devices",
    "ctypes",
    "subprocess",
    "platform",
    # RE2 (the lorebook scanner's sets): on the first scan or key checked
    "re2",
    # CHARX card archives: on the first card imported or exported
    "app.core.personas.charx",
    # the command line's commands: a plain window start is read without building their parsers
    "app.cli.library",
    "app.cli.knowledge",
    "app.cli.group",
    "app.cli.personas",
    "app.cli.user_personas",
    "app.cli.text",
)

# Off the path to the window ready, imported by the window's stages after its first paint (app/ui/shell/first_paint.py):
# the chat column and what it stands on, the single instance's server, the icons, the desktop's colour scheme.
AFTER_THE_FIRST_PAINT = (
    "app.ui.chat.chat_controller",
    "app.ui.chat.chat_view",
    "app.ui.chat.conversation",
    "app.core.chat.session",
    "app.core.engines.service",
    "app.core.engines.llama_engine",
    "app.core.history.store",
    "app.ui.engines.engine_client",
    "app.ui.widgets",
    "app.ui.theme_icons",
    "PySide6.QtNetwork",  # the single instance listens after the first paint
    "PySide6.QtSvg",  # the icons
    "hashlib",  # (the single instance's server name)
    "platformdirs",  # only without a base directory
    "importlib.resources",  # (a source checkout's resources are files)
)
# PySide6 types built for the window ready beyond a bare window's, each one costly: the ``Qt`` namespace (93 enum
# classes, ~15 ms), QStyle (~6–10 ms), QEvent (an event filter or ``event()`` in Python builds ~80 event types).
COSTLY_TYPES = ("Qt", "QStyle", "QEvent")

PROBE = """
import json, sys, time
import PySide6.QtCore, PySide6.QtWidgets
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import app.ui.main_window as main_window
show = main_window.MainWindow.show
def show_then_report(self):
    show(self)
    def report():
        wanted = json.loads(sys.argv[2])
        ready = sorted(name for name in wanted if name in sys.modules)
        built_types = {*vars(PySide6.QtCore), *vars(PySide6.QtWidgets)}
        types = sorted(name for name in json.loads(sys.argv[3]) if name in built_types)
        first = sorted(name for name in json.loads(sys.argv[4]) if name in sys.modules)
        deadline = time.monotonic() + 120  # (a deadlock guard: the stages take well under a second)
        while not self.built and time.monotonic() < deadline:
            QApplication.processEvents()
        built = sorted(name for name in wanted if name in sys.modules)
        later = sorted(name for name in json.loads(sys.argv[4]) if name in sys.modules)
        print(json.dumps({"ready": ready, "built": self.built, "after": built, "types": types, "first": first,
                          "later": later}), flush=True)
        self.close()
        QApplication.quit()
    QTimer.singleShot(0, report)
main_window.MainWindow.show = show_then_report
from app.cli import main
sys.exit(main(["--basedir", sys.argv[1]]))
"""


def test_the_start_path_imports_none_of_the_modules_moved_off_it(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "color-scheme").write_text("light", encoding="utf-8")  # as every start but the first finds
    lists = (OFF_THE_START_PATH, COSTLY_TYPES, AFTER_THE_FIRST_PAINT)
    found = run_probe(PROBE, str(tmp_path), *(json.dumps(names) for names in lists))
    assert found["ready"] == [], f"back on the start path: {found['ready']} (import them where they are used)"
    assert found["built"], "the window's later stages did not all run"
    assert found["after"] == [], f"imported by the window's later stages: {found['after']} (no model is loaded)"
    assert found["types"] == [], f"PySide6 types built before the window was ready: {found['types']}"
    assert found["first"] == [], f"imported before the first paint: {found['first']} (import them in a stage)"
    assert "app.core.chat.session" in found["later"] and "PySide6.QtNetwork" in found["later"]  # (then, they were)
