"""The window's pages, registered with its router: one line a page, in rail order (Ctrl+1…).

A factory builds its page on first show: it imports the page's module inside itself (so nothing of the page is on
the start path) and wires the page to the window. A page with a ``shutdown()`` has it called when the window closes
(``PageRouter.close``), in this order: the Server page stops its server before the engine stops, the Lorebooks page
saves its edits, the Knowledge page cancels an add in progress and joins its threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

from app.ui.shell.pages import Page

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


def register_pages(window: MainWindow, chat_page: QWidget) -> None:
    add, hub = window.router.add, window.hub
    add(Page.CHAT, "&Chat", "message-square", lambda: chat_page)
    add(Page.DISCOVER, "&Discover", "compass", hub.build_discover)
    add(Page.MODELS, "My &Models", "hard-drive", hub.build_models)
    add(Page.DOWNLOADS, "Do&wnloads", "download", hub.build_downloads)
    add(Page.SERVER, "Se&rver", "server", lambda: server_page(window))
    add(Page.LOREBOOKS, "L&orebooks", "book-open", lambda: lorebooks_page(window))
    add(Page.KNOWLEDGE, "&Knowledge", "library", lambda: knowledge_page(window))


def server_page(window: MainWindow) -> QWidget:
    from app.ui.engines.server_page import ServerPage

    paths = window.paths
    page = ServerPage(window.client.service, paths, lambda: window.settings.library_folders(paths.default_models_dir))
    window.server_indicator.watch(page)  # the status bar and the rail say when it serves
    return page


def lorebooks_page(window: MainWindow) -> QWidget:
    from app.core.personas.lorebook_library import LorebookLibrary
    from app.core.personas.presets import PresetLibrary
    from app.ui.personas.lorebooks_page import LorebooksPage

    page = LorebooksPage(LorebookLibrary(window.paths.data, PresetLibrary(window.paths.presets_dir)))
    page.status.connect(window.statusBar().showMessage)
    return page


def knowledge_page(window: MainWindow) -> QWidget:
    from app.ui.knowledge.knowledge_page import KnowledgePage

    page = KnowledgePage(window.paths.knowledge_db, window._embedder)  # indexes with the library's embedding model
    window.knowledge.attach(page)
    return page
