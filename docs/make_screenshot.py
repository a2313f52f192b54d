"""Save a screenshot of the main window mid-conversation (run under xvfb for a real X screen).

    xvfb-run -a -s "-screen 0 1280x860x24" .venv/bin/python docs/make_screenshot.py docs/screenshot.png

It drives the real app: a fresh base directory, the starter model loaded through the engine
thread, one exchange finished, and the shot taken while the second reply is still streaming.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QTimer

from app.core.library.starter import ensure_starter_model
from app.core.paths import resolve_paths
from app.core.settings import Settings
from app.ui.app import create_application
from app.ui.main_window import MainWindow
from app.ui.theme import apply_theme

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = ["Hello, who are you?", "Show me a Python function that adds two numbers, in a code block."]


def place_in_library(model: Path, folder: Path) -> Path:
    """Put the model in the library: a hard link where possible, else a copy."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / model.name
    try:
        os.link(model, target)
    except OSError:
        shutil.copy(model, target)
    return target


def main(output: Path, theme: str = "light") -> int:
    app = create_application(sys.argv[:1])
    apply_theme(app, theme)
    with tempfile.TemporaryDirectory() as base:
        paths = resolve_paths(base).ensure()
        model = place_in_library(
            ensure_starter_model(REPO / ".cache" / "models", REPO / ".cache" / "wheels"), paths.default_models_dir
        )
        window = MainWindow(paths, Settings())
        window.persona.temperature.setValue(0.3)
        window.persona.max_tokens.setValue(200)
        window.resize(1200, 800)
        window.show()
        asked = iter(QUESTIONS)
        shot: dict[str, bool] = {}

        def ask() -> None:
            window.input.setPlainText(next(asked))
            window.chat.send()

        def on_tokens(_request: int, _text: str) -> None:
            last = window.chat_model.last()
            if window.chat_model.rowCount() == 4 and last is not None and len(last.text) > 120 and not shot:
                shot["taken"] = window.grab().save(str(output))
                window.close()
                app.quit()

        def on_finished(_item) -> None:
            if window.chat_model.rowCount() == 2:
                QTimer.singleShot(300, ask)
            elif not shot:  # the reply ended before it was long enough: take it anyway
                shot["taken"] = window.grab().save(str(output))
                window.close()
                app.quit()

        window.model_ready.connect(lambda _m: QTimer.singleShot(200, ask))
        window.client.tokens.connect(on_tokens)
        window.reply_finished.connect(on_finished)
        QTimer.singleShot(120_000, app.quit)
        window.model_bar.load_model(str(model))
        app.exec()
        window.close()
    print(f"saved {output}" if shot.get("taken") else "no screenshot taken", file=sys.stderr)
    return 0 if shot.get("taken") else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "screenshot.png")))
