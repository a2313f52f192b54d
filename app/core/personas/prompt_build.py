"""A turn's messages with the persona's lorebooks and the user persona in them, macros resolved at send time.

The system message is: the entries ``before_char``, the character (the preset's system prompt, or the card's
own text with ``{{user}}`` left for now), the user persona's description (unless the text placed it with
``{{persona}}``), the entries ``after_char``, then ``em_top``/``em_bottom`` entries. The author's note (with the
``an_top``/``an_bottom`` entries around it) and ``at_depth`` entries are system messages that many messages
from the end. Every text then has its macros resolved with the turn's seed (``macros.py``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.core.personas.card_v3 import CardDocument, card_of
from app.core.personas.lorebook import Lorebook, Position
from app.core.personas.lorebook_scan import Activation, Scanner, approx_tokens, label
from app.core.personas.macros import MacroContext, resolve
from app.core.personas.presets import CARD_EXTENSION, Preset, card_to_preset
from app.core.personas.user_personas import UserPersona
from app.core.prompting.prompt_formats import ChatMessage


@dataclass
class BuiltPrompt:
    messages: list[ChatMessage]
    activation: Activation
    notes: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # per message: its index in the conversation given; -1: added


@dataclass(frozen=True)
class AuthorNote:
    text: str = ""
    depth: int = 4
    every: int = 1  # inserted on every Nth message of the user's (0: never), as SillyTavern's frequency


def character_text(preset: Preset, card: CardDocument | None) -> str:
    """The preset's system prompt; for an unedited card import, the card's text with ``{{user}}`` still a macro."""
    if card is None or isinstance(card["data"].get("extensions", {}).get(CARD_EXTENSION), dict):
        return preset.system_prompt
    parsed = card_of(card)
    if card_to_preset(parsed).system_prompt != preset.system_prompt:
        return preset.system_prompt  # edited since the import: the user's text wins
    return card_to_preset(parsed, user="{{user}}").system_prompt


def build_prompt(
    preset: Preset,
    message: str,
    *,
    history: Sequence[ChatMessage] = (),
    card: CardDocument | None = None,
    books: Sequence[Lorebook] = (),
    scanner: Scanner | None = None,
    user: UserPersona | None = None,
    seed: int = 0,
    now: datetime.datetime | None = None,
    author_note: AuthorNote | None = None,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> BuiltPrompt:
    """The messages the model gets for ``message`` after ``history`` (which has no system message)."""
    conversation = [m for m in history if m["role"] != "system"] + [ChatMessage(role="user", content=message)]
    return apply_roleplay(
        conversation,
        preset=preset,
        card=card,
        scanner=scanner or Scanner(books),
        user=user,
        seed=seed,
        now=now,
        author_note=author_note,
        count_tokens=count_tokens,
    )


def apply_roleplay(
    conversation: Sequence[ChatMessage],
    *,
    preset: Preset,
    scanner: Scanner,
    card: CardDocument | None = None,
    user: UserPersona | None = None,
    seed: int = 0,
    now: datetime.datetime | None = None,
    author_note: AuthorNote | None = None,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> BuiltPrompt:
    """A turn's messages from ``conversation`` (no system message; the last one is the message being answered).

    Each message keeps its other fields (images); at-depth entries and the author's note are system messages
    placed that many messages from the end; every text has its macros resolved with ``seed``."""
    persona = user or UserPersona("User")
    context = MacroContext(
        user=persona.name,
        char=preset.name,
        persona=persona.description,
        seed=seed,
        now=now or datetime.datetime.now(),
    )
    activation = scanner.activate([m["content"] for m in conversation], seed=seed, count_tokens=count_tokens)

    def entries(position: Position) -> list[str]:
        return [fired.text.strip() for fired in activation.at(position) if fired.text.strip()]

    character = character_text(preset, card)
    parts = [*entries(Position.BEFORE_CHAR), character]
    if persona.description.strip() and "{{persona}}" not in character.lower():
        parts.append(persona.description.strip())
    parts += [*entries(Position.AFTER_CHAR), *entries(Position.EM_TOP), *entries(Position.EM_BOTTOM)]
    system = "\n\n".join(part.strip() for part in parts if part.strip())
    placed: list[tuple[int, ChatMessage]] = [(row, m.copy()) for row, m in enumerate(conversation)]
    inserts: list[tuple[int, str]] = [(fired.depth, fired.text.strip()) for fired in activation.at(Position.AT_DEPTH)]
    note = author_note or AuthorNote()
    user_turns = sum(1 for m in conversation if m["role"] == "user")
    if note.every > 0 and user_turns % note.every == 0:
        note_parts = [*entries(Position.AN_TOP), note.text.strip(), *entries(Position.AN_BOTTOM)]
        if any(note_parts):
            inserts.append((note.depth, "\n".join(part for part in note_parts if part)))
    for depth, text in sorted(inserts, key=lambda item: -item[0]):  # deepest first keeps the others' places
        where = max(0, len(placed) - max(0, depth))
        placed.insert(where, (-1, ChatMessage(role="system", content=text)))
    messages: list[ChatMessage] = [ChatMessage(role="system", content=resolve(system, context))] if system else []
    rows = [-1] * len(messages)
    for row, message in placed:
        message["content"] = resolve(message["content"], context)
        messages.append(message)
        rows.append(row)
    return BuiltPrompt(messages, activation, list(activation.notes), rows)


def describe_activation(activation: Activation) -> list[str]:
    """For people (the CLI's stderr, the preview): which entries fired and why, which were dropped and why."""
    lines = [
        f"fired: {fired.book} / {label(fired.entry)} — {fired.reason} → {fired.position}"
        + (f" {fired.depth}" if fired.position == Position.AT_DEPTH else "")
        + f" ({fired.tokens} tokens)"
        for fired in activation.fired
    ]
    lines += [f"dropped: {name} — {why}" for name, why in activation.dropped]
    lines += [f"note: {note}" for note in activation.notes]
    return lines
