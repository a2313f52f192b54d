"""Where a chat is kept in the history, and the writes its turns make: the chat row on its first message, with its
settings, system prompt and greetings; each message; the system prompt kept in step; a turn answered elsewhere
(the server's ``--save``) as a new chat.

``ChatSession`` owns one (``session.record``) and opens each turn's transaction around these writes
(``session._one_turn``), so a turn is written whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.core.chat import roleplay_turn
from app.core.chat.attached_images import AttachedImages
from app.core.chat.greetings import Greetings
from app.core.chat.items import ChatItem, GroupTurn, TurnSettings
from app.core.history.store import ChatStore, Message
from app.core.prompting.parts import Part, ToolResultPart
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.tool_parts import fold_tool_turns
from app.core.prompting.types import GenerationStats, MessageState


class ChatRecord:
    """One chat's place in ``store``: its id (None until its first message is saved) and its system message."""

    def __init__(self, store: ChatStore, greetings: Greetings) -> None:
        self.store = store
        self.greetings = greetings  # a fresh chat's greetings, saved as the versions of its first message
        self.chat_id: int | None = None
        self.system_message: Message | None = None

    def add(
        self,
        parent: int | None,
        role: str,
        text: str,
        *,
        state: MessageState = MessageState.DONE,
        turn: TurnSettings | None = None,
        parts: tuple[Part, ...] = (),
    ) -> Message:
        """A message in the chat's history."""
        model, preset = (turn.model, turn.preset) if turn else ("", "")
        speaker = turn.group.speaker if turn and turn.group and role == "assistant" else ""
        assert self.chat_id is not None
        return self.store.add_message(
            self.chat_id, parent, role, text, state=state, model=model, preset=preset, parts=parts, speaker=speaker
        )  # fmt: skip

    def ensure_saved(self, turn: TurnSettings, items: Sequence[ChatItem]) -> int | None:
        """Create the chat on its first message (``items``: what was shown before it existed, its greetings);
        returns the id of the message to answer under."""
        if self.chat_id is None:
            self.chat_id = self.store.create_chat(model=turn.model, preset=turn.preset, overflow=turn.context_policy)
            roleplay_turn.keep_settings(self.store, self.chat_id, turn)
            if turn.group is not None:  # each speaker has its own system prompt: none is kept with the chat
                self.store.set_chat_members(self.chat_id, turn.group.members)
            parent = None
            if turn.system_prompt.strip() and turn.group is None:
                self.system_message = self.add(None, "system", turn.system_prompt)
                parent = self.system_message.id
            for item in items:  # the greeting, shown before the chat existed
                if item.message_id is None and item.text:
                    item.message_id = self._save_greeting(parent, item, turn, first=item is items[0])
                    parent = item.message_id
            return parent
        self.store.set_chat_fields(self.chat_id, model=turn.model, preset=turn.preset, overflow=turn.context_policy)
        roleplay_turn.keep_settings(self.store, self.chat_id, turn)
        self.sync_system_prompt(turn.system_prompt)
        last = items[-1] if items else None
        if last is not None and last.message_id is not None:
            return last.message_id
        return self.system_message.id if self.system_message else None

    def sync_system_prompt(self, system_prompt: str) -> None:
        """An edited system prompt is saved into the chat's root system message."""
        if self.system_message is not None and self.system_message.content != system_prompt:
            self.store.update_message(self.system_message.id, content=system_prompt)
            self.system_message = self.store.message(self.system_message.id)

    def record(
        self,
        messages: Sequence[ChatMessage],
        reply: str,
        stats: GenerationStats,
        turn: TurnSettings,
        *,
        reasoning: str,
        attached: AttachedImages,
    ) -> int:
        """A turn answered elsewhere, saved as a new chat in one transaction; returns its id.

        Tool turns (assistant ``tool_calls``, ``role: "tool"`` results) are kept as the replies' parts; a reply that
        answers the last results is the same reply's answer."""
        folded = fold_tool_turns(messages)
        reply_parts: tuple[Part, ...] = ()
        if folded and folded[-1][1] and isinstance(folded[-1][1][-1], ToolResultPart):
            answered, reply_parts = folded.pop()
            reply = answered["content"] + reply
        return self.store.record_chat(
            [(m["role"], m["content"], attached.keep(m.get("images", ())) + parts) for m, parts in folded],
            reply,
            state=stats.message_state,
            stats=stats.as_dict(),
            model=turn.model,
            preset=turn.preset,
            reasoning=reasoning,
            reply_parts=reply_parts,
        )

    def _save_greeting(self, parent: int | None, item: ChatItem, turn: TurnSettings, first: bool) -> int:
        """A greeting shown before the chat existed; its alternatives kept as its versions, the one shown active."""
        greetings = self.greetings.versions(item, first=first)
        said = TurnSettings(
            preset=item.preset_id or turn.preset, group=GroupTurn(item.speaker) if item.speaker else None
        )
        ids = [self.add(parent, item.role, text, turn=said).id for text in greetings]
        shown = ids[item.sibling_index] if len(ids) > 1 else ids[0]
        if shown != ids[-1]:
            self.store.switch_to(shown)
        self.greetings.saved()
        return shown
