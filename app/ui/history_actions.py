"""Chat history actions of the main window: open, versions, delete with undo, export/import, message menu."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, Slot
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu

from app.core.code_blocks import code_blocks
from app.core.presets import PresetError
from app.core.store import StoreError

log = logging.getLogger(__name__)


class ChatHistoryMixin:
    """Part of MainWindow: everything done to stored chats and their messages."""

    @Slot(int)
    def open_chat(self, chat_id: int) -> None:
        if chat_id == self.conversation.chat_id:
            return
        self.stop_generation()
        try:
            self.conversation.open(chat_id)
        except StoreError as exc:
            self.banner.show_message(str(exc))
            self.sidebar.refresh()
            return
        chat = self.store.chat(chat_id)
        try:
            preset = self.persona.library.get(chat.preset) if chat.preset else None
        except PresetError:
            preset = None
        if preset is not None and preset.id != self.preset.id:
            self.persona.apply(preset)
        if self.conversation.system_message is not None:
            self.system_prompt.setPlainText(self.conversation.system_message.content)
        self.persona.overflow.setCurrentIndex(max(0, self.persona.overflow.findData(chat.overflow)))
        self.pages.setCurrentWidget(self.chat_view)
        self.sidebar.select(chat_id)
        stats = self.conversation.last_stats()
        self._show_context(stats.context_used if stats else 0, stats.context_size if stats else 0)

    def switch_version(self, row: int, step: int) -> None:
        if not self.generating:
            self.conversation.switch_version(row, step)

    def delete_chat(self, chat_id: int) -> None:
        self._forget_undo()
        self.store.delete_chat(chat_id)
        self._undo_chat = chat_id
        if self.conversation.chat_id == chat_id:
            self.new_chat()
        self.sidebar.refresh()
        self.undo_button.show()
        self._undo_timer.start()
        self.statusBar().showMessage("Chat deleted.", 6000)

    def undo_delete(self) -> None:
        if self._undo_chat is not None:
            self.store.undelete_chat(self._undo_chat)
            chat_id, self._undo_chat = self._undo_chat, None
            self.undo_button.hide()
            self.sidebar.refresh()
            self.open_chat(chat_id)

    def _forget_undo(self) -> None:
        self._undo_chat = None
        self.undo_button.hide()
        try:
            self.store.purge_deleted()
        except StoreError as exc:  # the history file went away or the disk is full: try again next start
            log.warning("could not purge deleted chats: %s", exc)

    def export_chat(self, chat_id: int) -> None:
        filters = "Markdown (*.md);;Chat with every branch (*.json);;OpenAI messages (*.openai.json)"
        path, chosen = QFileDialog.getSaveFileName(self, "Export chat", f"chat-{chat_id}.md", filters)
        if path:
            kind = "openai" if "OpenAI" in chosen else "json" if "branch" in chosen else "md"
            self.write_export(chat_id, Path(path), kind)

    def write_export(self, chat_id: int, path: Path, kind: str) -> None:
        if kind == "md":
            text = self.store.export_markdown(chat_id)
        elif kind == "json":
            text = json.dumps(self.store.export_tree(chat_id), indent=2, ensure_ascii=False)
        else:
            text = json.dumps(self.store.export_openai(chat_id), indent=2, ensure_ascii=False)
        try:
            path.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            self.banner.show_message(f"Could not export the chat: {exc.strerror or exc}")

    def import_chat(self, path: Path | None = None) -> int | None:
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self, "Import a chat", "", "Chat exports (*.json)")
            if not chosen:
                return None
            path = Path(chosen)
        try:
            chat_id = self.store.import_tree(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, StoreError) as exc:
            self.banner.show_message(f"Could not import {path.name}: {exc}")
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
        busy = self.generating
        menu = QMenu(self)
        menu.addAction("Copy message", lambda: QGuiApplication.clipboard().setText(item.text))
        for number, block in enumerate(code_blocks(item.text), start=1):
            label = f"Copy code block {number}" + (f" ({block.language})" if block.language else "")
            menu.addAction(label, lambda code=block.code: QGuiApplication.clipboard().setText(code))
        menu.addSeparator()
        if item.role == "user":
            edit = menu.addAction("Edit", lambda: self.edit_message(row))
            edit.setShortcut(QKeySequence(Qt.Key.Key_F2))  # shown beside it; F2 and double-click edit in the chat
            edit.setEnabled(not busy)
        if item.role == "assistant" and last:
            menu.addAction("Regenerate", self.regenerate).setEnabled(not busy and item.message_id is not None)
            menu.addAction("Continue", self.continue_reply).setEnabled(not busy and item.can_continue)
        if item.sibling_count > 1:
            menu.addAction("Previous version", lambda: self.switch_version(row, -1)).setEnabled(not busy)
            menu.addAction("Next version", lambda: self.switch_version(row, 1)).setEnabled(not busy)
        menu.addSeparator()
        menu.addAction("Delete (with what follows)", lambda: self.conversation.delete(row)).setEnabled(not busy)
        return menu
