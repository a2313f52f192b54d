"""Chat history actions: open, versions, rename, delete with undo, export/import, and the menu of one message.

Every write to the history goes through here (the chat list only asks): one that fails is said in the banner."""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QPoint, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QPushButton, QWidget

from app.core.history.store import ChatStore, StoreError
from app.core.personas.presets import PresetError
from app.core.personas.roleplay import record_with
from app.core.rendering.code_blocks import code_blocks
from app.ui.chat.chat_list import ChatSidebar
from app.ui.chat.chat_model import ChatModel
from app.ui.chat.chat_view import ChatView
from app.ui.chat.conversation import Conversation
from app.ui.personas.persona_panel import PersonaPanel

log = logging.getLogger(__name__)
UNDO_MS = 6000


class ChatTurn(Protocol):
    """What the history needs of the chat turn (the chat controller)."""

    @property
    def generating(self) -> bool: ...

    def abandon_reply(self) -> None:
        """Stop a reply in progress and ignore whatever it still sends."""

    def regenerate(self) -> None: ...

    def continue_reply(self) -> None: ...

    def edit_message(self, row: int) -> None: ...

    def show_context(self, used: int, size: int) -> None: ...


class ChatHistory(QObject):
    """Everything done to stored chats and their messages; owns the undo of the last deleted chat."""

    error = Signal(str)  # a message for the banner
    status = Signal(str, int)  # a status-bar message and how long to show it
    chat_opened = Signal(int)  # a chat id, once its messages are on screen
    new_chat_needed = Signal()  # the open chat was deleted: the window opens a new one

    def __init__(
        self,
        store: ChatStore,
        conversation: Conversation,
        chat_model: ChatModel,
        chat_view: ChatView,
        *,
        sidebar: ChatSidebar,
        persona: PersonaPanel,
        turn: ChatTurn,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.conversation = conversation
        self.chat_model = chat_model
        self.chat_view = chat_view
        self.sidebar = sidebar
        self.persona = persona
        self.turn = turn
        self.dialog_parent = parent
        self.undo_chat: int | None = None
        self.undo_button = QPushButton("Undo delete")
        self.undo_button.hide()
        self.undo_timer = QTimer(self, singleShot=True, interval=UNDO_MS)
        self.undo_button.clicked.connect(self.undo_delete)
        self.undo_timer.timeout.connect(self.forget_undo)
        sidebar.chat_selected.connect(self.open_chat)
        sidebar.delete_requested.connect(self.delete_chat)
        sidebar.rename_requested.connect(self.rename_chat)
        sidebar.export_requested.connect(self.export_chat)
        sidebar.import_requested.connect(self.import_chat)
        chat_view.version_requested.connect(self.switch_version)
        chat_view.menu_requested.connect(self._message_menu)
        persona.sampling_panel.changed.connect(self.keep_settings)

    @Slot()
    def keep_settings(self) -> None:
        """A sampling field changed: the open chat keeps it (a new chat keeps it with its first message)."""
        if self.conversation.session.chat_id is None:
            return
        try:
            chat_id, record = self.conversation.session.chat_id, self.persona.sampling_panel.record()
            self.store.set_chat_settings(chat_id, record_with(self.store.chat(chat_id).settings, sampling=record))
        except StoreError as exc:
            self.error.emit(str(exc))

    @Slot(int)
    def open_chat(self, chat_id: int) -> None:
        if chat_id == self.conversation.session.chat_id:
            return
        self.turn.abandon_reply()
        try:
            self.conversation.open(chat_id)
        except StoreError as exc:
            self.error.emit(str(exc))
            self.sidebar.refresh()
            return
        chat = self.store.chat(chat_id)
        try:
            preset = self.persona.library.get(chat.preset) if chat.preset else None
        except PresetError:
            preset = None
        if preset is not None and preset.id != self.persona.preset.id:
            self.persona.apply(preset)
        if self.conversation.session.system_message is not None:
            self.persona.system_prompt.setPlainText(self.conversation.session.system_message.content)
        self.persona.overflow.setCurrentIndex(max(0, self.persona.overflow.findData(chat.overflow)))
        self.persona.sampling_panel.load_record(chat.settings)  # the chat's own sampling ('': the preset's)
        self.sidebar.select(chat_id)
        self._show_context()
        self.chat_opened.emit(chat_id)

    def switch_version(self, row: int, step: int) -> None:
        if not self.turn.generating:
            self.conversation.session.switch_version(row, step)
            self._show_context()  # the version shown now is what the next prompt holds

    def _show_context(self) -> None:
        stats = self.conversation.session.last_stats()
        self.turn.show_context(stats.context_used if stats else 0, stats.context_size if stats else 0)

    def rename_chat(self, chat_id: int, title: str) -> None:
        try:
            self.store.rename_chat(chat_id, title)
        except StoreError as exc:  # a full disk, a locked or read-only history: said, and the old title stays
            self.error.emit(f"Could not rename the chat: {exc}")
            return
        self.sidebar.refresh()

    def delete_chat(self, chat_id: int) -> None:
        self.forget_undo()
        try:
            self.store.delete_chat(chat_id)
        except StoreError as exc:
            self.error.emit(f"Could not delete the chat: {exc}")
            return
        self.undo_chat = chat_id
        if self.conversation.session.chat_id == chat_id:
            self.new_chat_needed.emit()
        self.sidebar.refresh()
        self.undo_button.show()
        self.undo_timer.start()
        self.status.emit("Chat deleted.", UNDO_MS)

    def undo_delete(self) -> None:
        if self.undo_chat is not None:
            try:
                self.store.undelete_chat(self.undo_chat)
            except StoreError as exc:
                self.error.emit(f"Could not bring the chat back: {exc}")
                return
            chat_id, self.undo_chat = self.undo_chat, None
            self.undo_button.hide()
            self.sidebar.refresh()
            self.open_chat(chat_id)

    def forget_undo(self) -> None:
        self.undo_chat = None
        self.undo_button.hide()
        try:
            self.store.purge_deleted()
            images = self.conversation.session.images
            if images is not None:  # the deleted chats' images, unless another chat shows them too
                images.prune(self.store.image_hashes())
        except StoreError as exc:  # the history file went away or the disk is full: try again next start
            log.warning("could not purge deleted chats: %s", exc)

    def export_chat(self, chat_id: int) -> None:
        filters = "Markdown (*.md);;Chat with every branch (*.json);;OpenAI messages (*.openai.json)"
        path, chosen = QFileDialog.getSaveFileName(self.dialog_parent, "Export chat", f"chat-{chat_id}.md", filters)
        if path:
            kind = "openai" if "OpenAI" in chosen else "json" if "branch" in chosen else "md"
            self.write_export(chat_id, Path(path), kind)

    def write_export(self, chat_id: int, path: Path, kind: str) -> None:
        from app.core.history import exchange  # with the first export, not at start

        if kind == "md":
            text = exchange.export_markdown(self.store, chat_id)
        elif kind == "json":
            text = json.dumps(exchange.export_tree(self.store, chat_id), indent=2, ensure_ascii=False)
        else:
            text = json.dumps(exchange.export_openai(self.store, chat_id), indent=2, ensure_ascii=False)
        try:
            exchange.write_export(path, text + "\n")
        except StoreError as exc:
            self.error.emit(str(exc))

    def import_chat(self, path: Path | None = None) -> int | None:
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self.dialog_parent, "Import a chat", "", "Chat exports (*.json)")
            if not chosen:
                return None
            path = Path(chosen)
        from app.core.history import exchange

        try:
            chat_id = exchange.import_tree(self.store, exchange.read_export(path))
        except StoreError as exc:
            self.error.emit(f"Could not import {path.name}: {exc}")
            return None
        self.sidebar.refresh()
        self.open_chat(chat_id)
        return chat_id

    def _message_menu(self, row: int, position: QPoint) -> None:
        menu = self.message_menu(row)
        if menu is not None:
            menu.exec(position)

    def message_menu(self, row: int) -> QMenu | None:
        """The actions on one message (right-click)."""
        if not 0 <= row < self.chat_model.rowCount():
            return None
        item = self.chat_model.item(row)
        last = row == self.chat_model.rowCount() - 1
        busy = self.turn.generating
        turn = self.turn
        menu = QMenu(self.dialog_parent)
        menu.addAction("Copy message", partial(_copy_text, item.text))
        for number, block in enumerate(code_blocks(item.text), start=1):
            label = f"Copy code block {number}" + (f" ({block.language})" if block.language else "")
            menu.addAction(label, partial(_copy_text, block.code))
        menu.addSeparator()
        if item.role == "user":
            edit = menu.addAction("Edit", lambda: turn.edit_message(row))
            edit.setShortcut(QKeySequence(Qt.Key.Key_F2))  # shown beside it; F2 and double-click edit in the chat
            edit.setEnabled(not busy)
        if item.role == "assistant" and last:
            menu.addAction("Regenerate", turn.regenerate).setEnabled(not busy and item.message_id is not None)
            menu.addAction("Continue", turn.continue_reply).setEnabled(not busy and item.can_continue)
        if item.sibling_count > 1:
            menu.addAction("Previous version", lambda: self.switch_version(row, -1)).setEnabled(not busy)
            menu.addAction("Next version", lambda: self.switch_version(row, 1)).setEnabled(not busy)
        menu.addSeparator()
        menu.addAction("Delete (with what follows)", lambda: self.conversation.session.delete(row)).setEnabled(not busy)
        return menu


def _copy_text(text: str) -> None:
    QGuiApplication.clipboard().setText(text)
