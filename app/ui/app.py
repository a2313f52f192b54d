"""Start the Qt application (and the self-test's window step, which proves a build's window can chat)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import QMessageLogContext, QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app import APP_ID, APP_NAME, __version__
from app.core.paths import AppPaths
from app.core.settings import SettingsStore
from app.ui.resource_files import resource_file
from app.ui.theme import FUSION_PROPERTY, apply_theme, confirm_scheme, fusion_arguments

log = logging.getLogger(__name__)
qt_log = logging.getLogger("qt")

SELF_TEST_PROMPT = "Hello, who are you?"
SELF_TEST_TIMEOUT_MS = 120_000


SCHEME_FILE = "color-scheme"  # in the cache folder: the desktop's colour scheme as last seen ("dark" or "light")

# Warnings that say something about the platform, not about the app.
EXPECTED_QT_WARNINGS = ("This plugin does not support propagateSizeHints()",)


class QtMessages:
    """Routes Qt's own warnings to logging and remembers unexpected ones (the self-test fails on them)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def __call__(self, kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
        if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            if message.startswith(EXPECTED_QT_WARNINGS):
                qt_log.debug("%s", message)
                return
            self.warnings.append(message)
            qt_log.warning("%s", message)
        else:
            qt_log.debug("%s", message)


def create_application(argv: list[str]) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        app = QApplication(fusion_arguments(argv))
        app.setProperty(FUSION_PROPERTY, True)  # (apply_theme: no need to ask the style)
    app.setApplicationName(APP_ID)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    icon = resource_file("icons", "hermes-studio.svg")
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def run_gui(
    paths: AppPaths,
    settings: SettingsStore,
    *,
    model: str | None = None,
    open_file: str | None = None,
) -> int:
    """``settings``: the store the CLI loaded (settings are read once per process); ``open_file``: a model,
    preset or character card to open (handed to the running window if there is one)."""
    qInstallMessageHandler(QtMessages())
    app = create_application(sys.argv[:1])
    from app.ui.single_instance import SingleInstance, resolve_message

    instance = SingleInstance(paths, app)
    if not instance.claim(resolve_message(model or open_file)):
        return 0  # the running window has it now
    theme = settings.current.theme
    scheme_file = paths.cache / SCHEME_FILE
    apply_theme(app, theme, scheme_file)  # "system": the desktop's scheme as last seen, asked after the first paint

    from app.ui.main_window import MainWindow  # after QApplication: widgets need it

    window = MainWindow(paths, settings)
    window.show()  # the chat column's outline; the rest is built in the event-loop turns after its first paint
    instance.message_received.connect(lambda path: bring_forward(window, path))
    window.after_first_paint(instance.listen)  # later starts wait for it until then
    if theme not in ("dark", "light"):
        window.after_first_paint(lambda: confirm_scheme(app, scheme_file))
    window.when_built(lambda: _open_at_start(window, model, open_file))
    return app.exec()


def _open_at_start(window, model: str | None, open_file: str | None) -> None:
    """Once the window is built: the model asked for, or the last session's (as LM Studio does), and a file."""
    if model:
        window.model_bar.load_model(model)
    elif not (open_file and open_file.lower().endswith(".gguf")):
        window.model_bar.restore_last()
    if open_file:
        window.open_file(str(Path(open_file).resolve()))


class WindowSelfTestFailed(Exception):
    """The window could not load the model, chat, or close without a Qt warning (the message says which)."""


def window_self_test(paths: AppPaths, settings: SettingsStore, model: str) -> str:
    """Offscreen, the real window loads ``model`` through its engine client, streams a short reply and closes;
    returns the reply. A self-test is its own instance: it tests, it does not hand over to a running window."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    messages = QtMessages()
    qInstallMessageHandler(messages)
    app = create_application(sys.argv[:1])
    apply_theme(app, settings.current.theme)
    from app.ui.main_window import MainWindow

    window = MainWindow(paths, settings)
    window.show()
    outcome: dict[str, str] = {}

    def fail(reason: str) -> None:
        outcome.setdefault("error", reason)
        window.close()
        app.quit()

    def loaded(_model) -> None:
        window.persona.max_tokens.setValue(32)
        window.persona.temperature.setValue(0.0)
        window.input.setPlainText(SELF_TEST_PROMPT)
        window.chat.send()

    def finished(item) -> None:
        if item.error:
            fail(item.error)
            return
        outcome["reply"] = item.text
        window.close()
        app.quit()

    window.model_ready.connect(loaded)
    window.model_failed.connect(fail)
    window.reply_finished.connect(finished)
    QTimer.singleShot(SELF_TEST_TIMEOUT_MS, lambda: fail("timed out waiting for a reply"))
    window.model_bar.load_model(model)
    app.exec()
    reply = outcome.get("reply", "").strip()
    if "error" in outcome:
        raise WindowSelfTestFailed(outcome["error"])
    if not reply:
        raise WindowSelfTestFailed("the model produced an empty reply")
    if messages.warnings:
        raise WindowSelfTestFailed("Qt warnings: " + " | ".join(messages.warnings))
    return reply


def bring_forward(window, path: str) -> None:
    """A later start handed over: show the window (and load the model it was asked to open)."""
    if window.isMinimized():
        window.showNormal()
    window.raise_()
    window.activateWindow()
    if path:
        window.open_file(path)
