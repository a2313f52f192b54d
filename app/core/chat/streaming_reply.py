"""The reply being written: its pieces, its tool steps and approvals, shown and saved as they come, and its end.

``ChatSession`` starts one per turn (``begin``) on the last shown item and hands it what the engine produces
(``session.append``, ``tool_step``, ``awaiting_approval``, ``finish``/``fail`` are this object's). Persistence: the
reply is saved at most every 0.5 s while it streams and at its end (``history.saver.StreamingSaver``), a tool step at
once, so a crash loses at most half a second and never a finished message; a failed write (disk full) is reported
once (``save_error``, the listener's ``save_failed``) and the reply stays shown.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence

from app.core.chat import group
from app.core.chat.attached_images import AttachedImages
from app.core.chat.items import ChatItem, GroupTurn, TurnSettings
from app.core.chat.shown import ShownChat
from app.core.history.saver import StreamingSaver
from app.core.history.store import ChatStore, StoreError
from app.core.media.images import CheckedImage
from app.core.prompting.parts import CitationPart, ToolCallPart, ToolResultPart, images_of, is_thought
from app.core.prompting.types import GenerationStats, MessageState, ResponseState


class StreamingReply:
    """The chat's reply in progress (at most one): what streams into the last shown item, and its saving."""

    def __init__(self, shown: ShownChat, store: ChatStore, attached: AttachedImages) -> None:
        self.shown, self.store, self.attached = shown, store, attached
        self.save_error = ""  # why the last write failed ("" once one works again)
        self._saver: StreamingSaver | None = None  # None: no reply of this chat is being saved
        self._speaking: GroupTurn | None = None  # a group chat's reply: its speaker

    def begin(self, item: ChatItem, message_id: int, turn: TurnSettings, citations: tuple[CitationPart, ...]) -> None:
        """``item`` (saved as ``message_id``) is written from now on: a new reply, or a stopped one continued.

        ``citations``: the sources of the request (a continued reply without new ones keeps those it had)."""
        item.model_name = turn.speaker or item.model_name
        self._speaking = turn.group
        if turn.group is not None:
            item.speaker, item.preset_id = turn.group.speaker, turn.preset
        item.state, item.stats, item.error, item.reading = MessageState.STREAMING, None, "", ""
        if citations or item.text == "":
            item.citations = citations
        if item.text == "":
            item.tools = ()
        self.shown.changed(self.shown.items.index(item))
        self._saver = StreamingSaver(self.store, message_id)
        self._saver.parts = (*item.citations, *item.tools)
        self.shown.set_state(ResponseState.READING_PROMPT)

    def drop(self) -> None:
        """Another chat is shown: what still arrives for this reply is not saved by this session."""
        self._saver = None

    def queued(self) -> None:
        """The request waits for the engine behind another one."""
        if self.shown.busy:
            self.shown.set_state(ResponseState.QUEUED)

    def reading(self, done: int, total: int) -> None:
        """How far llama.cpp has read the prompt."""
        last = self._streaming()
        if last is None or not total:
            return
        progress = f"{100 * done // total} % of {total:,} tokens"
        if last.reading != progress:
            last.reading = progress
            self.shown.changed(len(self.shown.items) - 1)
        self.shown.set_state(ResponseState.READING_PROMPT)

    def append(self, text: str) -> None:
        """A piece of the reply: its answer, or its reasoning when the piece is a ``Thought``."""
        last = self._streaming()
        if last is None:
            return
        if is_thought(text):
            last.reasoning += text
        else:
            last.text += text
        last.reading, last.waiting = "", ""
        self.shown.changed(len(self.shown.items) - 1)
        self.shown.set_state(ResponseState.GENERATING)
        if self._saver is not None:
            saver, content, reasoning = self._saver, last.text, last.reasoning
            self.save(lambda: saver.update(content, reasoning))

    def tool_step(self, part: ToolCallPart | ToolResultPart, images: Sequence[CheckedImage] = ()) -> None:
        """A call the model made, or a call's result (with the ``images`` it returned): kept, saved at once.

        A call's ``at`` is where the reply's text stands now (the face need not know it)."""
        last = self._streaming()
        if last is None:
            return
        if isinstance(part, ToolCallPart):
            part = dataclasses.replace(part, at=len(last.text))
        elif images:
            try:
                kept = self.attached.keep(images)
            except StoreError as exc:
                kept, part = (), dataclasses.replace(part, content=f"{part.content}\n[{exc}]")
            part = dataclasses.replace(part, images=images_of(kept))
        last.tools += (part,)
        last.waiting = ""
        self.shown.changed(len(self.shown.items) - 1)
        if self._saver is not None:
            saver, content, reasoning = self._saver, last.text, last.reasoning
            saver.parts = (*last.citations, *last.tools)
            self.save(lambda: saver.write(content, reasoning))

    def awaiting_approval(self, waiting: bool, tool: str = "") -> None:
        """The reply waits for the user to allow a call of ``tool`` (or, ``waiting`` False, no longer does)."""
        last = self._streaming()
        if last is None:
            return
        if not waiting and self.shown.response_state is not ResponseState.AWAITING_APPROVAL:
            return
        last.waiting = f"Waiting for your approval to run {tool}" if waiting and tool else ""
        last.waiting = last.waiting or ("Waiting for your approval" if waiting else "")
        self.shown.changed(len(self.shown.items) - 1)
        self.shown.set_state(ResponseState.AWAITING_APPROVAL if waiting else ResponseState.READING_PROMPT)

    def end(self, state: MessageState, stats: GenerationStats | None, error: str = "") -> None:
        """The reply is over (``done``, ``stopped`` or ``error``): shown so and saved, and the chat is idle."""
        last = self._streaming()
        if last is None:
            self.shown.set_state(ResponseState.IDLE)
            return
        last.state, last.stats, last.error, last.reading, last.waiting = state, stats, error, "", ""
        if self._speaking is not None:
            last.text = group.tidy(last.text, self._speaking)
        self.shown.changed(len(self.shown.items) - 1)
        saver, text, reasoning = self._saver, last.text, last.reasoning
        if saver is not None:
            details: dict[str, object] = dict(stats.as_dict()) if stats else {"error": error}
            self.save(lambda: saver.finish(text, state, details, reasoning))
        self._saver = None
        self.shown.set_state(ResponseState.IDLE)

    def save(self, write: Callable[[], object]) -> None:
        """A failed write (disk full, say) is reported once; the reply stays shown and is written again next time."""
        try:
            write()
        except (sqlite3.Error, StoreError) as exc:
            if not self.save_error:
                self.save_error = (
                    f"The chat could not be saved ({exc}). Free some disk space; the reply is kept on screen."
                )
                self.shown.listener.save_failed(self.save_error)
        else:
            self.save_error = ""

    def _streaming(self) -> ChatItem | None:
        """The last shown item while it streams (a piece that comes after the reply ended is dropped)."""
        last = self.shown.last()
        return last if last is not None and last.state == MessageState.STREAMING else None
