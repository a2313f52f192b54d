"""ChatSession: one chat and the lifecycle of its turns, the same for every face.

The window, the CLI and the server never write turn logic of their own. They ask the session to
start a turn (send, regenerate, edit-and-resend, continue, another reply: ``reply``), which records it in the
history and returns the ``GenerationRequest`` to queue on the engine; they hand the reply's text back as it
streams (``append``) and its end (``finish`` / ``fail``). A face never decides a message's state.

The session's parts, one job each:

- ``shown`` (``chat.shown.ShownChat``): the messages a face shows (``items``), the state of the current turn
  (``response_state``), and the listener told what changed, so a view only renders;
- ``reply`` (``chat.streaming_reply.StreamingReply``): the reply being written: its pieces, tool steps and approvals,
  saved at most every 0.5 s and at its end, so a crash loses at most half a second and never a finished message;
- the request each turn sends (``conversation``, built here): the shown messages (``chat.turn_messages``), a group
  chat's named turns (``chat.group``), the roleplay (``chat.roleplay_turn``: lorebook entries, the user persona, the
  author's note, macros; ``built`` says what fired), a grounded question's sources (``chat.grounded_questions``);
- the history: a turn's messages are written as it starts, in one transaction (``_one_turn``: all or none, and
  the session as it was if none). Without a store (the CLI without --save) the session
  keeps the chat in an in-memory SQLite history (``ChatStore.in_memory``): the same code paths, nothing on disk.

A fresh chat's greetings (a card's alternate ones) are versions of its first message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from app.core.chat import group, roleplay_turn
from app.core.chat.attached_images import AttachedImages
from app.core.chat.chat_record import ChatRecord
from app.core.chat.greetings import Greetings
from app.core.chat.grounded_questions import GroundedQuestions
from app.core.chat.headless import run_turn
from app.core.chat.items import ChatItem, GroupTurn, SessionListener, SilentListener, TurnError, TurnSettings, item_of
from app.core.chat.shown import ShownChat
from app.core.chat.streaming_reply import StreamingReply
from app.core.chat.turn_messages import turn_messages
from app.core.engines.service import EngineService, GenerationRequest
from app.core.history.store import ChatStore, Message, StoreError
from app.core.media.images import CheckedImage
from app.core.media.store import ImageStore
from app.core.personas.prompt_build import BuiltPrompt
from app.core.personas.roleplay import TokenCounter
from app.core.prompting.parts import CitationPart, Part, ToolCallPart, ToolResultPart
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.tool_parts import answer_of, reply_messages
from app.core.prompting.types import GenerationStats, MessageState, ResponseState

if TYPE_CHECKING:
    from app.core.knowledge.grounding import Grounding

__all__ = ["ChatItem", "ChatSession", "SessionListener", "SilentListener", "TurnError", "TurnSettings"]


class ChatSession:
    """One chat: its shown messages, its current turn, its place in the history (if any)."""

    def __init__(
        self,
        store: ChatStore | None,
        listener: SessionListener | None = None,
        describe_preset: Callable[[str], str] | None = None,
        images: ImageStore | None = None,
    ) -> None:
        """``store``: the history to keep the chat in; None: one in memory (nothing written to disk).
        ``images``: where attached images are kept (the data folder's); None: in memory, for this process."""
        self.store = store if store is not None else ChatStore.in_memory()
        self.images = images
        self.attached = AttachedImages(images)  # the images this session has seen, kept before a message names them
        self.describe_preset = describe_preset or (lambda preset_id: preset_id)
        self.shown = ShownChat(listener)  # the items a face renders, the turn's state, the listener
        self.streaming_reply = StreamingReply(self.shown, self.store, self.attached)  # the reply being written
        self.sent_rows: list[int] = []  # the row of each message of the last request (-1: the system prompt)
        self._grounded = GroundedQuestions()  # questions asked with documents: their prompts and sources
        self._pending_citations: tuple[CitationPart, ...] = ()  # the sources of the request being built
        self.tokens = TokenCounter()  # a face with a loaded model gives it the model's tokenizer
        self.built: BuiltPrompt | None = None  # the last turn's roleplay: which entries fired, and why
        self._greetings = Greetings()  # a fresh chat's greetings to choose from (before it is saved)
        self.chat_record = ChatRecord(self.store, self._greetings)  # the chat's place in the history, and its writes

    # what a face shows (``shown``) and the reply being written (``streaming_reply``), as faces have read them
    @property
    def items(self) -> list[ChatItem]:
        return self.shown.items

    @items.setter
    def items(self, items: list[ChatItem]) -> None:
        self.shown.items = items

    @property
    def response_state(self) -> ResponseState:
        return self.shown.response_state

    @response_state.setter
    def response_state(self, state: ResponseState) -> None:
        self.shown.response_state = state

    @property
    def chat_id(self) -> int | None:
        """The chat's id in the history (None: a fresh chat, saved with its first message)."""
        return self.chat_record.chat_id

    @chat_id.setter
    def chat_id(self, chat_id: int | None) -> None:
        self.chat_record.chat_id = chat_id

    @property
    def system_message(self) -> Message | None:
        return self.chat_record.system_message

    @system_message.setter
    def system_message(self, message: Message | None) -> None:
        self.chat_record.system_message = message

    @property
    def listener(self) -> SessionListener:
        return self.shown.listener

    @property
    def save_error(self) -> str:
        """Why the reply could not be saved ("" once a write works again): a face shows it."""
        return self.streaming_reply.save_error

    # opening
    def open(self, chat_id: int) -> None:
        """Show a stored chat (its active branch)."""
        self.store.chat(chat_id)  # raises StoreError for an unknown chat
        self.chat_id = chat_id
        self.streaming_reply.drop()
        self.shown.set_state(ResponseState.IDLE)
        self.reload()

    def reload(self) -> None:
        if self.chat_id is None:
            return
        path = self.store.active_path(self.chat_id)
        self.system_message = path[0] if path and path[0].role == "system" else None
        self._grounded.remember(path)
        self.shown.reset([item_of(m, self.describe_preset) for m in path if m.role != "system"])

    def new(
        self,
        greeting: str | Sequence[str] = "",
        speaker: str = "",
        chosen: int = 0,
        group_greetings: Sequence[ChatItem] = (),
    ) -> None:
        """A fresh chat (saved when its first message is sent). ``greeting``: one, or several to swipe through
        (a card's alternate greetings: each is kept as a version of the first message; ``chosen`` is shown).
        ``group_greetings``: a group chat's instead, one per member (``chat.group_cast``)."""
        self.chat_id, self.system_message = None, None
        self.streaming_reply.drop()
        self.shown.set_state(ResponseState.IDLE)
        self.shown.reset(self._greetings.offer(greeting, speaker, chosen) or list(group_greetings))

    @property
    def busy(self) -> bool:
        return self.shown.busy

    def last(self) -> ChatItem | None:
        return self.shown.last()

    # starting a turn: each returns the request to queue on the engine, or raises TurnError / StoreError
    # (a chat that cannot be written) having changed nothing on screen
    def send(
        self,
        text: str,
        turn: TurnSettings,
        images: Sequence[CheckedImage] = (),
        grounding: Grounding | None = None,
    ) -> GenerationRequest:
        """``images``: checked by ``media.images`` (the face's job); kept by content before the message is saved.

        ``grounding``: documents to answer from (``knowledge.grounding.ground``): the model reads them as numbered
        sources before the question; the history keeps the question as typed with its documents, and the reply
        with its citations."""
        with self._one_turn():
            return self._send(text, turn, self.attached.keep(images), grounding)

    def regenerate(self, turn: TurnSettings) -> GenerationRequest:
        """A new version of the last reply (the old one stays as a sibling)."""
        with self._one_turn():
            return self._regenerate(turn)

    def edit(self, row: int, text: str, turn: TurnSettings) -> GenerationRequest:
        """Resend an edited message of yours as a new branch from the same point."""
        with self._one_turn():
            return self._edit(row, text, turn)

    def reply(self, turn: TurnSettings) -> GenerationRequest:
        """Another reply after the last message, with nothing new of yours (a group chat's next speaker)."""
        with self._one_turn():
            parent = self.chat_record.ensure_saved(turn, self.items)
            request = self._request(turn, upto=None)
            self._start_reply(parent, turn)
            return request

    def continue_last(self, turn: TurnSettings) -> GenerationRequest:
        """Carry on with the last reply where it stopped."""
        with self._one_turn():
            return self._continue_last(turn)

    def _send(
        self, text: str, turn: TurnSettings, images: tuple[Part, ...] = (), grounding: Grounding | None = None
    ) -> GenerationRequest:
        parent = self.chat_record.ensure_saved(turn, self.items)
        documents = grounding.documents if grounding is not None else ()
        parts = images + documents + self._grounded.parts(text, grounding)
        user = self.chat_record.add(parent, "user", text, parts=parts)
        self.shown.insert(item_of(user, self.describe_preset))
        self._grounded.asked(user.id, text, grounding)
        request = self._request(turn, upto=None)
        self._start_reply(user.id, turn)
        return request

    def _regenerate(self, turn: TurnSettings) -> GenerationRequest:
        last = self.last()
        if last is None or last.role != "assistant" or last.message_id is None:
            raise TurnError("There is no reply to regenerate.")
        self.chat_record.sync_system_prompt(turn.system_prompt)
        request = self._request(turn, upto=len(self.items) - 1)
        parent = self.store.message(last.message_id).parent_id
        reply = self.chat_record.add(parent, "assistant", "", state=MessageState.STREAMING, turn=turn)
        self.reload()  # the new version, with its place among its siblings
        self._begin(self.items[-1], reply.id, turn)
        return request

    def _edit(self, row: int, text: str, turn: TurnSettings) -> GenerationRequest:
        original = self.items[row]
        if original.role != "user" or original.message_id is None:
            raise TurnError("Only your own saved messages can be edited.")
        self.chat_record.sync_system_prompt(turn.system_prompt)
        parent = self.store.message(original.message_id).parent_id
        user_id = self.chat_record.add(parent, "user", text, parts=original.images).id
        self.reload()
        request = self._request(turn, upto=None)
        self._start_reply(user_id, turn)
        return request

    def _continue_last(self, turn: TurnSettings) -> GenerationRequest:
        last = self.last()
        if last is None or not last.can_continue or last.message_id is None:
            raise TurnError("There is no stopped reply to continue.")
        self.chat_record.sync_system_prompt(turn.system_prompt)
        request = self._request(turn, upto=len(self.items) - 1, continue_text=answer_of(last.text, last.tools))
        if last.tools:  # the rounds before the answer being continued, as the model wrote and read them
            rounds = [m for m in reply_messages(last.text, last.tools) if m["role"] == "tool" or m.get("tool_calls")]
            request = dataclasses.replace(request, messages=[*request.messages, *rounds])
        message_id, store = last.message_id, self.store
        self._begin(last, message_id, turn)
        self.streaming_reply.save(lambda: store.update_message(message_id, state=MessageState.STREAMING))
        return request

    # while the reply streams: the reply in progress takes it (``chat.streaming_reply``)
    def queued(self) -> None:
        """The request waits for the engine behind another one."""
        self.streaming_reply.queued()

    def reading(self, done: int, total: int) -> None:
        """How far llama.cpp has read the prompt."""
        self.streaming_reply.reading(done, total)

    def append(self, text: str) -> None:
        """A piece of the reply: its answer, or its reasoning when the piece is a ``Thought``."""
        self.streaming_reply.append(text)

    def tool_step(self, part: ToolCallPart | ToolResultPart, images: Sequence[CheckedImage] = ()) -> None:
        """A call the model made in the streaming reply, or a call's result (with the ``images`` it returned, checked
        by ``media.images``): kept with the reply, saved at once."""
        self.streaming_reply.tool_step(part, images)

    def awaiting_approval(self, waiting: bool, tool: str = "") -> None:
        """The reply waits for the user to allow a call of ``tool`` (or, ``waiting`` False, no longer does)."""
        self.streaming_reply.awaiting_approval(waiting, tool)

    def finish(self, stats: GenerationStats) -> None:
        self.streaming_reply.end(stats.message_state, stats)
        if stats.dropped_messages:
            self.shown.mark_left_out(self.sent_rows[stats.dropped_start : stats.dropped_start + stats.dropped_messages])

    def fail(self, message: str) -> None:
        self.streaming_reply.end(MessageState.ERROR, None, error=message)

    def run(
        self,
        service: EngineService,
        request: GenerationRequest,
        on_piece: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> GenerationStats:
        """Headless faces (the CLI, the server's --save): generate ``request`` on ``service`` and wait for it."""
        return run_turn(self, service, request, on_piece, should_stop)

    def record(
        self,
        messages: Sequence[ChatMessage],
        reply: str,
        stats: GenerationStats,
        turn: TurnSettings,
        reasoning: str = "",
    ) -> int:
        """A turn answered elsewhere (the server's ``--save``): saved as a new chat in one transaction
        (``ChatRecord.record``: tool turns kept as the replies' parts), then shown."""
        self._require_idle()
        chat_id = self.chat_record.record(messages, reply, stats, turn, reasoning=reasoning, attached=self.attached)
        self.open(chat_id)
        return chat_id

    # the tree
    def switch_version(self, row: int, step: int) -> None:
        item = self.items[row]
        if item.message_id is None and row == 0 and self._greetings.swipe(item, step):  # a fresh chat's greetings
            self.shown.changed(row)
        elif item.message_id is not None and not self.busy:
            self.store.switch_version(item.message_id, step)
            self.reload()

    def delete(self, row: int) -> None:
        item = self.items[row]
        if item.message_id is not None:
            self.store.delete_message(item.message_id)
            self.reload()
        elif row == len(self.items) - 1:
            self.shown.reset(self.items[:-1])

    def last_stats(self) -> GenerationStats | None:
        return next((item.stats for item in reversed(self.items) if item.stats is not None), None)

    def conversation(
        self, system_prompt: str, upto: int | None = None, speaking: GroupTurn | None = None
    ) -> list[ChatMessage]:
        """What the engine is sent: the system prompt, then every message with text (errors left out).

        ``upto``: only the rows before this one. ``speaking``: a group chat's speaker, who reads the others' lines
        as named turns (``group.named_turns``).
        """
        messages, rows = turn_messages(self.items[:upto], system_prompt, self.attached.load)
        if speaking is not None:
            messages, rows = group.named_turns(messages, rows, self.items, speaking)
        self.sent_rows = rows
        return messages

    # helpers
    def _request(self, turn: TurnSettings, upto: int | None, continue_text: str = "") -> GenerationRequest:
        self.shown.clear_left_out()
        messages = self.conversation(turn.system_prompt, upto=upto, speaking=turn.group)
        self.built = None
        if turn.roleplay is not None:  # lorebooks, the user persona, the author's note, macros
            messages, self.sent_rows, self.built = roleplay_turn.with_roleplay(
                messages, self.sent_rows, turn.roleplay, self.tokens
            )
        self._pending_citations = self._grounded.ground(messages, self.items[:upto], self.sent_rows)
        return GenerationRequest(
            messages=messages,
            sampling=turn.sampling,
            prompt_format=turn.prompt_format,
            context_policy=turn.context_policy,
            continue_text=continue_text,
            reasoning=turn.reasoning,
            json_schema=turn.json_schema,
        )

    @contextlib.contextmanager
    def _one_turn(self) -> Iterator[None]:
        """A turn's writes (the chat, its settings, system prompt and greetings, your message, the reply's start) in
        one transaction: all of them or none. A turn that cannot be saved leaves the history, the chat shown and the
        session as they were (a new chat stays unsaved, its greetings offered), and raises ``StoreError``."""
        self._require_idle()
        place = self.chat_id, self.system_message
        undo = (self.shown.kept(), self._greetings.kept(), self._grounded.kept())
        try:
            with _writing(), self.store.transaction():
                yield
        except BaseException:
            self.streaming_reply.drop()
            self.chat_id, self.system_message = place
            for restore in undo:
                restore()
            raise

    def _require_idle(self) -> None:
        if self.busy:
            raise TurnError("A reply is still being written; stop it first.")

    def _start_reply(self, parent: int | None, turn: TurnSettings) -> None:
        reply = self.chat_record.add(parent, "assistant", "", state=MessageState.STREAMING, turn=turn)
        item = item_of(reply, self.describe_preset)
        self.shown.insert(item)
        self._begin(item, reply.id, turn)

    def _begin(self, item: ChatItem, message_id: int, turn: TurnSettings) -> None:
        self.streaming_reply.begin(item, message_id, turn, self._pending_citations)


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """SQLite's own errors, as the chat error people read (disk full, read-only, locked)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"The chat could not be saved ({exc})") from exc
