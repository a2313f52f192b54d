"""A chat turn with its roleplay: the session's conversation rebuilt through ``Roleplay.build`` (lorebook entries,
the user persona, the author's note, macros), and the chat's kept settings (a fresh chat's greetings:
``chat.greetings``).

The session calls these on every turn; the window's preview calls ``next_prompt`` for the message being typed,
with the same conversation and the same seed, so the preview and the reply agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from app.core.chat.group import with_message
from app.core.chat.items import ChatItem, GroupTurn
from app.core.personas.prompt_build import BuiltPrompt
from app.core.personas.roleplay import Roleplay, TokenCounter, record_with
from app.core.prompting.prompt_formats import ChatMessage

if TYPE_CHECKING:
    from app.core.chat.items import TurnSettings
    from app.core.history.store import ChatStore


class Conversing(Protocol):
    """What the preview reads of a chat (a ``ChatSession``): the messages it would send, and from which rows."""

    @property
    def items(self) -> Sequence[ChatItem]: ...
    @property
    def sent_rows(self) -> Sequence[int]: ...
    @property
    def tokens(self) -> TokenCounter: ...
    def conversation(
        self, system_prompt: str, upto: int | None = None, speaking: GroupTurn | None = None
    ) -> list[ChatMessage]: ...


def with_roleplay(
    messages: list[ChatMessage], rows: list[int], roleplay: Roleplay, counter: TokenCounter | None = None
) -> tuple[list[ChatMessage], list[int], BuiltPrompt]:
    """``messages`` (a system prompt first, if any, then the conversation) as the roleplay has them.

    ``rows``: each message's row in the chat (-1: the system prompt); the rows of the result say the same,
    -1 for what the roleplay added (the system message, entries at a depth, the author's note)."""
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    start = 1 if messages and messages[0]["role"] == "system" else 0
    built = roleplay.with_system_prompt(system).build(messages[start:], counter)
    chat_rows = rows[start:]
    return built.messages, [chat_rows[row] if row >= 0 else -1 for row in built.rows], built


def next_prompt(
    session: Conversing,
    system_prompt: str,
    roleplay: Roleplay | None,
    text: str,
    speaking: GroupTurn | None = None,
) -> tuple[list[ChatMessage], BuiltPrompt | None]:
    """What the model would receive if ``text`` were sent now (the Prompt preview's messages). ``speaking``: a
    group chat's next speaker, who reads the others' lines, and yours, as named turns (``chat.group``)."""
    messages = session.conversation(system_prompt, speaking=speaking)
    rows = list(session.sent_rows)
    if speaking is not None:
        joined = with_message(messages, text, speaking)
        rows += [len(session.items)] if len(joined) > len(messages) else []
        messages = joined
    else:
        messages.append({"role": "user", "content": text})
        rows.append(len(session.items))
    if roleplay is None:
        return messages, None
    built_messages, _, built = with_roleplay(messages, rows, roleplay, session.tokens)
    return built_messages, built


def keep_settings(store: ChatStore, chat_id: int, turn: TurnSettings) -> None:
    """The turn's sampling record and roleplay, kept with the chat (each only if the face gave one)."""
    if turn.chat_settings is None and turn.roleplay is None:
        return
    roleplay = turn.roleplay.settings if turn.roleplay is not None else None
    record = record_with(store.chat(chat_id).settings, roleplay=roleplay, sampling=turn.chat_settings)
    store.set_chat_settings(chat_id, record)
