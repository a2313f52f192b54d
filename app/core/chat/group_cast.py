"""A group chat's personas as the library has them: each speaker's turn and the group's greetings.

Every face asks the same two things (``GroupCast``): the greetings a new group chat opens with (one per member:
a V3 card's first group-only greeting, else its greeting), and the turn for the member who speaks next, built
with that member's own card, lorebook (``prompt_build``) and sampling, the face's own settings (model, format
choice, context policy) kept from ``base``. ``chat.group`` says who speaks and how the others' lines read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from app.core.chat.group import GroupError, Member, checked_members, members_to_json, stops
from app.core.chat.items import ChatItem, GroupTurn, TurnSettings
from app.core.personas.card_library import CardStore
from app.core.personas.card_v3 import CardDocument
from app.core.personas.lorebook import Lorebook
from app.core.personas.lorebook_library import LorebookLibrary
from app.core.personas.macros import MacroContext, resolve
from app.core.personas.presets import Preset, PresetError, PresetLibrary
from app.core.personas.prompt_build import build_prompt
from app.core.personas.user_personas import UserPersona
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.types import MessageState

GROUP_NUDGE = "This is a group chat between {names}. Write the next reply only as {char}, in {char}'s voice."


class GroupCast:
    """The members of one group chat, read from the persona library (a member no longer there is said, once)."""

    def __init__(
        self,
        presets: PresetLibrary,
        members: Sequence[Member],
        *,
        user: UserPersona | None = None,
        lorebooks: LorebookLibrary | None = None,
        books: Sequence[Lorebook] = (),
    ) -> None:
        """``books``: lorebooks for every speaker besides each one's own card book."""
        self.presets = presets
        self.members = checked_members(members)
        self.user = user or UserPersona("User")
        self.lorebooks = lorebooks
        self.books = list(books)
        self._cards = CardStore(presets.user_dir)

    @classmethod
    def of_presets(cls, presets: PresetLibrary, keys: Sequence[str], **options: Any) -> GroupCast:
        """A new group from preset names or ids (``--group hermes,edward-elric``)."""
        chosen = [presets.get(key.strip()) for key in keys if key.strip()]
        return cls(presets, [Member(preset.id, preset.name) for preset in chosen], **options)

    @property
    def members_json(self) -> str:
        return members_to_json(self.members)

    def preset(self, member: Member) -> Preset:
        try:
            return self.presets.get(member.preset_id)
        except PresetError:
            raise GroupError(f"{member.name} is no longer in the persona library; this group chat cannot go on "
                             "with them speaking.") from None  # fmt: skip

    def card(self, preset: Preset) -> CardDocument | None:
        return None if preset.builtin else self._cards.load(preset.id)

    def greetings(self, seed: int = 0) -> list[ChatItem]:
        """What each member says first: its card's first group-only greeting (V3), else its greeting."""
        items = []
        for member in self.members:
            preset = self.preset(member)
            card = self.card(preset)
            group_only = card["data"].get("group_only_greetings") if card else None
            text = group_only[0] if isinstance(group_only, list) and group_only else preset.greeting
            text = resolve(text, MacroContext(user=self.user.name, char=preset.name, seed=seed))
            if text.strip():
                items.append(ChatItem(role="assistant", text=text, model_name=preset.name, speaker=preset.name,
                                      preset_id=preset.id))  # fmt: skip
        return items

    def turn(
        self, member: Member, base: TurnSettings, items: Sequence[ChatItem], overrides: dict[str, Any] | None = None
    ) -> TurnSettings:
        """The turn for ``member`` after ``items``: its card's system prompt (lorebook entries and user persona in
        it, the group named), its sampling (``overrides`` over it) with stops at the others' lines, its format."""
        preset = self.preset(member)
        history: list[ChatMessage] = [
            {"role": "user" if item.role == "user" else "assistant", "content": item.text}
            for item in items
            if item.text and item.state is not MessageState.ERROR
        ]
        books = list(self.books)
        own = self.lorebooks.card_book(preset.id) if self.lorebooks and not preset.builtin else None
        if own is not None:
            books.insert(0, own)
        seed = base.sampling.seed or 0
        card = self.card(preset)
        built = build_prompt(preset, "", history=history, card=card, books=books, user=self.user, seed=seed)
        names = ", ".join([self.user.name, *(m.name for m in self.members)])
        system = "\n\n".join(
            part for part in (built.messages[0]["content"].strip(), GROUP_NUDGE.format(names=names, char=preset.name))
            if part
        )  # fmt: skip
        sampling = preset.sampling.with_overrides(**(overrides or {}))
        extra = stops(self.members, member.name, self.user.name)
        sampling = sampling.with_overrides(stop=tuple(dict.fromkeys((*sampling.stop, *extra))))
        return dataclasses.replace(
            base,
            system_prompt=system,
            preset=preset.id,
            speaker=f"{base.model} · {preset.name}" if base.model else preset.name,
            sampling=sampling,
            prompt_format=(preset.prompt_format, preset.custom_template),
            group=GroupTurn(preset.name, self.user.name, self.members_json, preset.id),
        )
