"""What a chat shows and what a turn is asked with: the session's items (``item_of``: a stored message as one), a
turn's settings, the session's listener."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from app.core.engines.service import FormatChoice
from app.core.errors import HermesError
from app.core.prompting.context import ContextPolicy
from app.core.prompting.parts import (
    CitationPart,
    DocumentPart,
    ImagePart,
    ReasoningOptions,
    ToolPart,
    images_of,
    tool_parts_of,
)
from app.core.prompting.prompt_formats import AUTO
from app.core.prompting.types import GenerationStats, MessageState, ResponseState, Sampling

if TYPE_CHECKING:
    from app.core.history.store import Message
    from app.core.personas.roleplay import Roleplay

_uids = itertools.count(1)


class TurnError(HermesError):
    """A turn that cannot start (nothing to regenerate, a message that cannot be edited, an image that is gone…)."""


@dataclass
class ChatItem:
    """One message as a face shows it."""

    role: str  # "user" or "assistant"
    text: str = ""
    state: MessageState = MessageState.DONE
    stats: GenerationStats | None = None
    model_name: str = ""  # who spoke: "model · persona"
    error: str = ""
    message_id: int | None = None  # the row in the chat store, once saved
    sibling_index: int = 0  # which version of this turn is shown ...
    sibling_count: int = 1  # ... out of how many
    uid: int = field(default_factory=lambda: next(_uids))
    revision: int = 0  # bumped on every change; view caches key on (uid, revision)
    left_out: bool = False  # the context policy left it out of the last prompt
    reading: str = ""  # while the prompt is processed: how far ("45 % of 2,048 tokens")
    reasoning: str = ""  # what the model thought before its answer (never sent back to it)
    note: str = ""  # something to say about the stored message (a damaged part shown as text)
    citations: tuple[CitationPart, ...] = ()  # a reply's numbered sources ("[1] report.pdf, p. 12")
    documents: tuple[DocumentPart, ...] = ()  # what a question was asked with (attached files, collections)
    images: tuple[ImagePart, ...] = ()  # what the user attached (the bytes: media.store, by hash)
    tools: tuple[ToolPart, ...] = ()  # a reply's tool calls and their results, in order (prompting.tool_parts)
    waiting: str = ""  # what the streaming reply waits for, when not for the model ("Waiting for your approval")
    speaker: str = ""  # a group chat's reply: the character who wrote it (chat.group)
    preset_id: str = ""  # the persona preset a reply was written with (its avatar, in a group chat)

    @property
    def thinking(self) -> bool:
        """Still thinking: reasoning so far and no answer yet."""
        return self.state == MessageState.STREAMING and bool(self.reasoning) and not self.text

    @property
    def thought_only(self) -> bool:
        """A reply that ended while it still thought: reasoning kept, no answer."""
        return self.state != MessageState.STREAMING and bool(self.reasoning) and not self.text.strip()

    @property
    def can_continue(self) -> bool:
        cut = self.stats is not None and self.stats.finish_reason == "length"
        return self.role == "assistant" and bool(self.text) and (self.state.can_continue or cut)


@dataclass(frozen=True)
class GroupTurn:
    """A group chat's turn (chat.group): who speaks, how your lines are named, and the chat's members."""

    speaker: str  # the character who replies: recorded with the reply, its own lines stay plain in the prompt
    user: str = "User"  # your lines reach the model as "User: text", the other characters' as "Name: text"
    members: str = ""  # the chat's personas as JSON (chat.group.members_to_json), kept with the chat
    speaker_id: str = ""  # the speaker's preset id (its own lines are known by it, even after a rename)


@dataclass(frozen=True)
class TurnSettings:
    """What the face's persona controls say for this turn."""

    system_prompt: str = ""
    model: str = ""  # the model's name (file stem or remote id), recorded with the reply
    preset: str = ""  # the persona preset's id, recorded with the chat and the reply
    speaker: str = ""  # shown above the reply ("model · Persona")
    sampling: Sampling = field(default_factory=Sampling)
    prompt_format: FormatChoice = (AUTO, "")
    context_policy: str = ContextPolicy.STOP
    reasoning: ReasoningOptions = field(default_factory=ReasoningOptions)  # the Think toggle, an effort
    json_schema: dict[str, Any] | None = None  # structured output: the reply is JSON valid for this schema
    chat_settings: str | None = None  # the chat's own sampling as JSON (prompting.chat_sampling), kept with it
    roleplay: Roleplay | None = None  # lorebooks, user persona, author's note (personas.roleplay), kept with it
    group: GroupTurn | None = None  # a group chat's turn: the speaker and the others' names (chat.group)


class SessionListener(Protocol):
    """What a face hears; every call happens on the thread that drives the session."""

    def items_reset(self) -> None: ...
    def item_inserted(self, row: int) -> None: ...
    def item_changed(self, row: int) -> None: ...
    def state_changed(self, state: ResponseState) -> None: ...
    def save_failed(self, message: str) -> None: ...


class SilentListener:
    def items_reset(self) -> None:
        pass

    def item_inserted(self, row: int) -> None:
        pass

    def item_changed(self, row: int) -> None:
        pass

    def state_changed(self, state: ResponseState) -> None:
        pass

    def save_failed(self, message: str) -> None:
        pass


def item_of(message: Message, describe_preset: Callable[[str], str]) -> ChatItem:
    """A stored message as a face shows it (``describe_preset``: a preset id's name, shown after the model's)."""
    stats = None
    if message.stats and "generated_tokens" in message.stats:
        stats = GenerationStats.from_dict(message.stats)
    preset = describe_preset(message.preset) if message.preset else ""
    state = MessageState.on_reopen(message.state)
    return ChatItem(
        role=message.role,
        text=message.content,
        state=state,
        stats=stats,
        model_name=" · ".join(part for part in (message.model, preset) if part),
        error=str(message.stats.get("error", "")) if state is MessageState.ERROR else "",
        message_id=message.id,
        sibling_index=message.sibling_index,
        sibling_count=message.sibling_count,
        reasoning=message.reasoning or message.damaged_parts,
        citations=message.citations,
        documents=message.documents,
        images=images_of(message.parts),
        tools=tool_parts_of(message.parts),
        speaker=message.speaker,
        preset_id=message.preset,
        note="This message's stored parts could not be read; shown as saved." if message.damaged_parts else "",
    )
