"""A turn's messages with the persona's lorebooks and the user persona in them, macros resolved at send time.

The system message is: the entries ``before_char``, the character (the preset's system prompt, or the card's
own text with ``{{user}}`` left for now), the user persona's description (unless the text placed it with
``{{persona}}``), the entries ``after_char``, then ``em_top``/``em_bottom`` entries. The author's note (with the
``an_top``/``an_bottom`` entries around it) and ``at_depth`` entries are system messages that many messages
from the end. Every text then has its macros resolved with the turn's seed (``macros.py``).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.core.personas.card_v3 import CardDocument, card_of
from app.core.personas.lorebook import Lorebook, Position
from app.core.personas.lorebook_scan import Activation, Scanner, label
from app.core.personas.macros import MacroContext, resolve
from app.core.personas.presets import CARD_EXTENSION, Preset, card_to_preset
from app.core.personas.user_personas import UserPersona
from app.core.prompting.prompt_formats import ChatMessage


@dataclass
class BuiltPrompt:
    messages: list[ChatMessage]
    activation: Activation
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AuthorNote:
    text: str = ""
    depth: int = 4


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
) -> BuiltPrompt:
    """The messages the model gets for ``message`` after ``history`` (which has no system message)."""
    persona = user or UserPersona("User")
    context = MacroContext(
        user=persona.name,
        char=preset.name,
        persona=persona.description,
        seed=seed,
        now=now or datetime.datetime.now(),
    )
    scanner = scanner or Scanner(books)
    scanned = [m["content"] for m in history if m["role"] != "system"] + [message]
    activation = scanner.activate(scanned, seed=seed)

    def entries(position: Position) -> list[str]:
        return [fired.text.strip() for fired in activation.at(position) if fired.text.strip()]

    character = character_text(preset, card)
    parts = [*entries(Position.BEFORE_CHAR), character]
    if persona.description.strip() and "{{persona}}" not in character.lower():
        parts.append(persona.description.strip())
    parts += [*entries(Position.AFTER_CHAR), *entries(Position.EM_TOP), *entries(Position.EM_BOTTOM)]
    system = "\n\n".join(part.strip() for part in parts if part.strip())
    messages: list[ChatMessage] = [{"role": "system", "content": resolve(system, context)}]
    conversation: list[ChatMessage] = [
        {"role": m["role"], "content": m["content"]} for m in history if m["role"] != "system"
    ]
    conversation.append({"role": "user", "content": message})
    inserts: list[tuple[int, str]] = [(fired.depth, fired.text.strip()) for fired in activation.at(Position.AT_DEPTH)]
    note = author_note or AuthorNote()
    note_parts = [*entries(Position.AN_TOP), note.text.strip(), *entries(Position.AN_BOTTOM)]
    if any(note_parts):
        inserts.append((note.depth, "\n".join(part for part in note_parts if part)))
    for depth, text in sorted(inserts, key=lambda item: -item[0]):  # deepest first keeps the others' places
        where = max(0, len(conversation) - depth)
        conversation.insert(where, {"role": "system", "content": text})
    messages += [{"role": m["role"], "content": resolve(m["content"], context)} for m in conversation]
    return BuiltPrompt(messages, activation, list(activation.notes))


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
