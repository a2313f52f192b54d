"""The open chat in the window: a ``ChatSession`` (the core owns the turn) driven by the engine's signals.

This is a thin Qt adapter. It starts a turn on the session, queues the session's request on the
engine, feeds the reply's text back into the session as it arrives, and re-emits what the session
says as Qt signals. Views render the session's items (``ChatModel``) and its response state; nothing
here or in the window decides a message's state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from app.core.chat.session import ChatItem, ChatSession, TurnSettings
from app.core.engines.service import GenerationRequest
from app.core.history.store import ChatStore
from app.core.media.images import CheckedImage
from app.core.media.store import ImageStore
from app.core.prompting.parts import Thought
from app.core.prompting.types import FinishReason, GenerationStats, ResponseState
from app.ui.chat.chat_model import ChatModel
from app.ui.engines.engine_client import EngineClient

if TYPE_CHECKING:
    from app.core.knowledge.grounding import Grounding  # numpy: loaded with the first attached document
    from app.ui.tools.tool_turn import ToolTurns

TOOL_TURN = -2  # the request id of a turn the window's tool turns run (app.ui.tools)

__all__ = ["ChatItem", "Conversation", "TurnSettings"]


class Conversation(QObject):
    """The session of the open chat, its list model, and the engine request of its current turn."""

    state_changed = Signal(object)  # ResponseState
    reply_finished = Signal(object)  # the finished ChatItem (done, stopped)
    reply_failed = Signal(str)  # a message for people; the reply keeps its text and shows the error
    save_failed = Signal(str)  # a message for people: the chat could not be written (disk full, …)
    reading = Signal(str)  # how far the prompt has been read ("45 % of 2,048 tokens")
    left_out = Signal(int)  # how many earlier messages the context policy left out of the last prompt
    opened = Signal()  # another chat is shown (a stored one, or a new one)

    def __init__(
        self,
        store: ChatStore,
        client: EngineClient,
        parent: QObject | None = None,
        describe_preset: Callable[[str], str] | None = None,
        images: ImageStore | None = None,
    ) -> None:
        """``images``: where attached images are kept (the data folder's; None: in memory)."""
        super().__init__(parent)
        self.client = client
        self.session = ChatSession(store, _Listener(self), describe_preset=describe_preset, images=images)
        self.model = ChatModel(self.session, self)
        self._request_id = 0
        self.tools: ToolTurns | None = None  # set by the window: with MCP servers on, a turn runs there
        client.tokens.connect(self._on_tokens)
        client.thoughts.connect(self._on_thoughts)
        client.prompt_progress.connect(self._on_progress)
        client.generation_finished.connect(self._on_finished)
        client.generation_failed.connect(self._on_failed)

    # opening
    def open(self, chat_id: int) -> None:
        self._abandon()
        self.session.open(chat_id)
        self.opened.emit()

    def new(
        self,
        greeting: str | Sequence[str] = "",
        speaker: str = "",
        chosen: int = 0,
        group_greetings: Sequence[ChatItem] = (),
    ) -> None:
        """``greeting``: one, or a card's greetings to swipe through (``chosen`` shown first); ``group_greetings``: a
        new group chat's, one per member."""
        self._abandon()
        self.session.new(greeting, speaker, chosen, group_greetings)
        self.opened.emit()

    # turns: each raises TurnError (or StoreError) before anything is queued if it cannot start
    def send(
        self, text: str, turn: TurnSettings, images: Sequence[CheckedImage] = (), grounding: Grounding | None = None
    ) -> None:
        self._queue(self.session.send(text, turn, images, grounding))

    def regenerate(self, turn: TurnSettings) -> None:
        self._queue(self.session.regenerate(turn))

    def edit(self, row: int, text: str, turn: TurnSettings) -> None:
        self._queue(self.session.edit(row, text, turn))

    def reply(self, turn: TurnSettings) -> None:
        """Another reply with nothing new of yours (a group chat's next speaker)."""
        self._queue(self.session.reply(turn))

    def continue_last(self, turn: TurnSettings) -> None:
        self._queue(self.session.continue_last(turn))

    def stop(self) -> None:
        """Stop the reply being written (its text so far is kept)."""
        if self.session.busy:
            self.client.stop()
            if self.tools is not None:
                self.tools.stop()

    def close(self) -> None:
        """The window closes: a reply still streaming is kept as stopped."""
        if self.session.busy:
            self.client.stop()
            if self.tools is not None:
                self.tools.stop()
            self._request_id = -1
            self.session.finish(GenerationStats(finish_reason=FinishReason.CANCELLED))

    # the engine's signals
    def _queue(self, request: GenerationRequest) -> None:
        if self.tools is not None and self.tools.active:
            self._request_id = TOOL_TURN
            self.tools.start(request, self)
            return
        self._request_id = self.client.submit(request)
        if self.client.waiting(self._request_id) and self.client.service.queue_length() > 1:
            self.session.queued()

    def _abandon(self) -> None:
        """Leaving a chat mid-reply: stop it and keep it (as stopped); late text for it is ignored."""
        if self.session.busy:
            self.close()

    def tool_turn_finished(self, stats: GenerationStats) -> None:
        self._on_finished(TOOL_TURN, stats)

    def tool_turn_failed(self, message: str) -> None:
        self._on_failed(TOOL_TURN, message)

    @Slot(int, int, int)
    def _on_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id == self._request_id:
            self.session.reading(done, total)
            last = self.session.last()
            if last is not None and last.reading:
                self.reading.emit(last.reading)

    @Slot(int, str)
    def _on_tokens(self, request_id: int, text: str) -> None:
        if request_id == self._request_id:
            self.session.append(text)

    @Slot(int, str)
    def _on_thoughts(self, request_id: int, text: str) -> None:
        if request_id == self._request_id:
            self.session.append(Thought(text))  # kept apart from the answer: never shown in it, never copied

    @Slot(int, object)
    def _on_finished(self, request_id: int, stats: GenerationStats) -> None:
        if request_id != self._request_id or not self.session.busy:
            return
        last = self.session.last()
        self.session.finish(stats)
        if stats.dropped_messages:
            self.left_out.emit(stats.dropped_messages)
        if last is not None:
            self.reply_finished.emit(last)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self._request_id or not self.session.busy:
            return
        self.session.fail(message)
        self.reply_failed.emit(message)


class _Listener:
    """The session's news, passed on: rows to the list model, the rest as the conversation's signals."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation

    def items_reset(self) -> None:
        self.conversation.model.items_reset()

    def item_inserted(self, row: int) -> None:
        self.conversation.model.item_inserted(row)

    def item_changed(self, row: int) -> None:
        self.conversation.model.item_changed(row)

    def state_changed(self, state: ResponseState) -> None:
        self.conversation.state_changed.emit(state)

    def save_failed(self, message: str) -> None:
        self.conversation.save_failed.emit(message)
