"""The open chat: keeps the message list model and the chat store in step.

Every turn is written to the store as it starts; a streaming reply is saved at most every 0.5 s
and at its end, so a crash loses at most half a second and never a finished message. Regenerate,
edit and continue work on the message tree: old versions stay reachable with the ‹ › arrows.
"""

from __future__ import annotations

import sqlite3

from PySide6.QtCore import QObject, Signal

from app.core.engine import GenerationStats
from app.core.prompt_formats import ChatMessage
from app.core.store import ChatStore, Message, StreamingSaver
from app.ui.chat_model import ChatItem, ChatModel, MessageState


class Conversation(QObject):
    save_failed = Signal(str)  # a message for people: the chat could not be written (disk full, …)

    def __init__(self, store: ChatStore, model: ChatModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.model = model
        self.chat_id: int | None = None
        self.system_message: Message | None = None
        self._saver: StreamingSaver | None = None
        self._save_error = ""

    # opening
    def open(self, chat_id: int) -> None:
        """Show a stored chat (its active branch)."""
        self.store.chat(chat_id)  # raises StoreError for an unknown chat
        self.chat_id = chat_id
        self._saver = None
        self.reload()

    def reload(self) -> None:
        if self.chat_id is None:
            return
        path = self.store.active_path(self.chat_id)
        self.system_message = path[0] if path and path[0].role == "system" else None
        self.model.reset([_item(m) for m in path if m.role != "system"])

    def new(self, greeting: str = "", speaker: str = "") -> None:
        """A fresh, unsaved chat (saved when the first message is sent)."""
        self.chat_id, self.system_message, self._saver = None, None, None
        self.model.reset([ChatItem(role="assistant", text=greeting, model_name=speaker)] if greeting else [])

    # starting replies: each returns what the engine is to be sent
    def send(self, text: str, *, system_prompt: str, model: str, preset: str, speaker: str) -> list[ChatMessage]:
        parent = self._ensure_saved(system_prompt, model, preset)
        user = self.store.add_message(self._chat(), parent, "user", text)
        self.model.append(_item(user))
        messages = self.model.conversation(system_prompt)
        self._start_reply(user.id, model, preset, speaker)
        return messages

    def regenerate(self, *, system_prompt: str, model: str, preset: str, speaker: str) -> list[ChatMessage]:
        """A new version of the last reply (the old one stays as a sibling)."""
        row = self.model.rowCount() - 1
        last = self.model.last()
        if last is None or last.role != "assistant" or last.message_id is None:
            raise ValueError("There is no reply to regenerate.")
        self._sync_system_prompt(system_prompt)
        parent = self.store.message(last.message_id).parent_id
        messages = self.model.conversation(system_prompt, upto=row)
        reply = self.store.add_message(
            self._chat(), parent, "assistant", "", state="streaming", model=model, preset=preset
        )
        self.reload()  # the new version, with its place among its siblings
        self._mark_streaming(speaker)
        self._saver = StreamingSaver(self.store, reply.id)
        return messages

    def edit(
        self, row: int, text: str, *, system_prompt: str, model: str, preset: str, speaker: str
    ) -> list[ChatMessage]:
        """Resend an edited user message as a new branch from the same point."""
        original = self.model.item(row)
        if original.role != "user" or original.message_id is None:
            raise ValueError("Only your own saved messages can be edited.")
        self._sync_system_prompt(system_prompt)
        parent = self.store.message(original.message_id).parent_id
        user = self.store.add_message(self._chat(), parent, "user", text)
        self.reload()
        messages = self.model.conversation(system_prompt)
        self._start_reply(user.id, model, preset, speaker)
        return messages

    def continue_last(self, *, system_prompt: str) -> tuple[list[ChatMessage], str]:
        """Carry on with the last reply where it stopped: (messages before it, its text so far)."""
        row = self.model.rowCount() - 1
        last = self.model.last()
        if last is None or not last.can_continue or last.message_id is None:
            raise ValueError("There is no stopped reply to continue.")
        self._sync_system_prompt(system_prompt)
        messages = self.model.conversation(system_prompt, upto=row)
        self.model.finish_last(MessageState.STREAMING, last.stats)
        self.store.update_message(last.message_id, state="streaming")
        self._saver = StreamingSaver(self.store, last.message_id)
        return messages, last.text

    # while streaming
    def append(self, text: str) -> None:
        self.model.append_to_last(text)
        last = self.model.last()
        if self._saver is not None and last is not None:
            self._save(lambda saver: saver.update(last.text))

    def finish(self, stats: GenerationStats) -> None:
        state = MessageState.STOPPED if stats.finish_reason == "cancelled" else MessageState.DONE
        self.model.finish_last(state, stats)
        last = self.model.last()
        if self._saver is not None and last is not None:
            self._save(lambda saver: saver.finish(last.text, state.store_name, stats.as_dict()))
        self._saver = None

    def fail(self, message: str) -> None:
        self.model.finish_last(MessageState.ERROR, error=message)
        last = self.model.last()
        if self._saver is not None and last is not None:
            self._save(lambda saver: saver.finish(last.text, "error", {"error": message}))
        self._saver = None

    def _save(self, write) -> None:
        """A failed write (disk full, say) is reported once; the reply stays on screen and is retried next time."""
        try:
            write(self._saver)
        except sqlite3.Error as exc:
            if not self._save_error:
                self._save_error = (
                    f"The chat could not be saved ({exc}). Free some disk space; the reply is kept on screen."
                )
                self.save_failed.emit(self._save_error)
        else:
            self._save_error = ""

    # the tree
    def switch_version(self, row: int, step: int) -> None:
        item = self.model.item(row)
        if item.message_id is not None:
            self.store.switch_version(item.message_id, step)
            self.reload()

    def delete(self, row: int) -> None:
        item = self.model.item(row)
        if item.message_id is not None:
            self.store.delete_message(item.message_id)
            self.reload()
        elif row == self.model.rowCount() - 1:
            self.model.reset(self.model.items[:-1])

    def last_stats(self) -> GenerationStats | None:
        for item in reversed(self.model.items):
            if item.stats is not None:
                return item.stats
        return None

    # helpers
    def _chat(self) -> int:
        assert self.chat_id is not None
        return self.chat_id

    def _ensure_saved(self, system_prompt: str, model: str, preset: str) -> int | None:
        """Create the chat on its first message; returns the id of the message to answer under."""
        if self.chat_id is None:
            self.chat_id = self.store.create_chat(model=model, preset=preset)
            parent = None
            if system_prompt.strip():
                self.system_message = self.store.add_message(self.chat_id, None, "system", system_prompt)
                parent = self.system_message.id
            for item in self.model.items:  # the greeting, shown before the chat existed
                if item.message_id is None and item.text:
                    saved = self.store.add_message(self.chat_id, parent, item.role, item.text, preset=preset)
                    item.message_id = saved.id
                    parent = saved.id
            return parent
        self.store.set_chat_fields(self.chat_id, model=model, preset=preset)
        self._sync_system_prompt(system_prompt)
        last = self.model.last()
        if last is not None and last.message_id is not None:
            return last.message_id
        return self.system_message.id if self.system_message else None

    def _sync_system_prompt(self, system_prompt: str) -> None:
        """An edited system prompt is saved into the chat's root system message."""
        if self.system_message is not None and self.system_message.content != system_prompt:
            self.store.update_message(self.system_message.id, content=system_prompt)
            self.system_message = self.store.message(self.system_message.id)

    def _mark_streaming(self, speaker: str) -> None:
        last = self.model.last()
        if last is not None:
            last.model_name = speaker
            self.model.finish_last(MessageState.STREAMING)

    def _start_reply(self, parent: int, model: str, preset: str, speaker: str) -> None:
        reply = self.store.add_message(
            self._chat(), parent, "assistant", "", state="streaming", model=model, preset=preset
        )
        item = _item(reply)
        item.model_name = speaker
        item.state = MessageState.STREAMING
        self.model.append(item)
        self._saver = StreamingSaver(self.store, reply.id)


def _item(message: Message) -> ChatItem:
    stats = GenerationStats.from_dict(message.stats) if message.stats and "generated_tokens" in message.stats else None
    speaker = " · ".join(part for part in (message.model, message.preset) if part)
    return ChatItem(
        role=message.role,
        text=message.content,
        state=MessageState.from_store(message.state),
        stats=stats,
        model_name=speaker,
        error=str(message.stats.get("error", "")) if message.state == "error" else "",
        message_id=message.id,
        sibling_index=message.sibling_index,
        sibling_count=message.sibling_count,
    )
