"""The chat column built in place of the first paint's outline (the window's first stage after the first paint:
``window_parts.column``), the chats deleted last time purged as the history opens, and which dropped files the
window opens."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

log = logging.getLogger("app.ui.main_window")

MIN_CHAT_WIDTH = 420  # the chat column keeps this much; the side panels give way (and collapse)


def build_chat_column(window: MainWindow) -> None:
    """The chat column (the conversation and the input, in the page stack, under the banner), in place of the first
    paint's outline, with what was typed in it: the first stage after the first paint."""
    from PySide6.QtWidgets import QSplitter, QStackedWidget, QVBoxLayout, QWidget

    from app.core.engines import state_cache
    from app.core.engines.llama_engine import LlamaEngine
    from app.core.history.store import ChatStore
    from app.core.media.store import ImageStore
    from app.ui.chat.attachments import Thumbnails
    from app.ui.chat.chat_controller import ChatColumn
    from app.ui.chat.conversation import Conversation
    from app.ui.engines.engine_client import EngineClient
    from app.ui.widgets import ErrorBanner

    cache = state_cache.from_settings(window.paths.state_cache_dir, window.settings_store.current)
    window.client = window._client or EngineClient(window, engine=LlamaEngine(cache))
    window.state_cache = window.client.engine.state_cache
    window.store = ChatStore(window.paths.chats_db)
    window._purge_failure = purge_deleted_chats(window)
    window.banner = ErrorBanner()
    window.images = ImageStore(window.paths.images_dir)
    window.conversation = Conversation(
        window.store, window.client, window, describe_preset=window._describe_preset,
        images=window.images,
    )  # fmt: skip
    window.chat_model = window.conversation.model
    window.session = window.conversation.session  # the core's chat: what is open, its items, its state
    chat_column = window.chat_column = ChatColumn(window.chat_model)
    window.chat_view, window.welcome, window.pages = chat_column.chat_view, chat_column.welcome, chat_column.pages
    window.input, window.send_button, window.think = chat_column.input, chat_column.send_button, chat_column.think
    window.attachments = chat_column.attachments  # images for the next message (attach, paste, drop)
    chat_column.drops.window_opens = lambda path: bool(dropped_kind(str(path), card_check=True))
    window.chat_view.message_delegate.thumbnails = Thumbnails(window.images)
    window.input.submitted.connect(window._submitted_early)  # Enter before the chat controller: it is built then
    window.splitter = QSplitter()
    window.splitter.addWidget(chat_column)
    window.splitter.setCollapsible(0, False)  # the side panels collapse (drag them shut); the chat never does
    chat_column.setMinimumWidth(MIN_CHAT_WIDTH)
    window.stack = QStackedWidget()
    window.stack.addWidget(window.splitter)
    central = QWidget()  # the banner above every page: an error is seen wherever it happens
    central_layout = QVBoxLayout(central)
    central_layout.setContentsMargins(0, 0, 0, 0)
    central_layout.addWidget(window.banner)
    central_layout.addWidget(window.stack, 1)
    first_paint, window.first_paint = window.first_paint, None
    focus = first_paint is None or first_paint.holds_focus()
    window.setCentralWidget(central)  # (the first paint's outline is deleted later)
    central.show()  # now, not in the next turn (what asked for the column may show the banner at once)
    if first_paint is not None:
        first_paint.hand_over(window.input, focus)  # what was typed in the first paint's box, its cursor, the focus
    else:
        window.input.setFocus()
    window.setAcceptDrops(True)
    if window.store.recovered_from is not None:
        window.banner.show_message(
            f"Your chat history file was damaged, so a fresh one was started. The damaged file was kept as "
            f"{window.store.recovered_from}."
        )


def purge_deleted_chats(window: MainWindow) -> str:
    """Remove chats deleted last time; a failure never stops the window (it is retried at the next start)."""
    from app.core.history.store import StoreError
    from app.core.media.store import ImageStore

    try:
        window.store.purge_deleted()
        ImageStore(window.paths.images_dir).prune(window.store.image_hashes())  # their images, unless shared
    except StoreError as exc:
        log.warning("could not purge deleted chats: %s", exc)
        return str(exc)
    return ""


def dropped_kind(path: str, card_check: bool = False) -> str:
    """ "model" (.gguf), "preset" (a preset or a character card: .json, .png), or "" (nothing this app opens).

    ``card_check``: a .png counts only when it carries a character card (dropped on the chat, any other picture is
    an image to attach)."""
    kind = {".gguf": "model", ".json": "preset", ".png": "preset"}.get(Path(path).suffix.lower(), "")
    if kind == "preset" and card_check and Path(path).suffix.lower() == ".png":
        from app.ui.chat.attachments import is_card_png

        if not is_card_png(Path(path)):
            return ""
    return kind
