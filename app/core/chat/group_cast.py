"""A group chat's personas as the library has them: each speaker's turn and the group's greetings.

Every face asks the same two things (``GroupCast``): the greetings a new group chat opens with (one per member:
a V3 card's first group-only greeting, else its greeting), and the turn for the member who speaks next: that
member's own card (its system prompt, with the group named) and sampling, and the chat's roleplay resolved for
that member (``personas.roleplay``: its card's lorebook beside the chat's lorebooks, the user persona, the
author's note), which the session applies as for any turn. The face's own settings (model, context policy,
reasoning) are kept from ``base``; ``chat.group`` says who speaks and how the others' lines read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from app.core.chat.group import GroupError, Member, checked_members, members_to_json, stops
from app.core.chat.items import ChatItem, GroupTurn, TurnSettings
from app.core.personas.card_v3 import CardDocument
from app.core.personas.macros import MacroContext, resolve
from app.core.personas.presets import Preset, PresetError
from app.core.personas.prompt_build import character_text
from app.core.personas.roleplay import RoleplaySettings, RoleplaySources

GROUP_NUDGE = "This is a group chat between {names}. Write the next reply only as {char}, in {char}'s voice."


class GroupCast:
    """The members of one group chat, read from the persona library through the roleplay's sources."""

    def __init__(
        self, sources: RoleplaySources, members: Sequence[Member], settings: RoleplaySettings | None = None
    ) -> None:
        """``settings``: the chat's roleplay (lorebooks, user persona, author's note) for every speaker."""
        self.sources = sources
        self.presets = sources.presets
        self.members = checked_members(members)
        self.settings = settings or RoleplaySettings()

    @classmethod
    def of_presets(
        cls, sources: RoleplaySources, keys: Sequence[str], settings: RoleplaySettings | None = None
    ) -> GroupCast:
        """A new group from preset names or ids (``--group hermes-2,"Edward Elric"``)."""
        chosen = [sources.presets.get(key.strip()) for key in keys if key.strip()]
        return cls(sources, [Member(preset.id, preset.name) for preset in chosen], settings)

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
        return None if preset.builtin else self.sources.resolve(preset, self.settings).card

    def greetings(self, seed: int = 0) -> list[ChatItem]:
        """What each member says first: its card's first group-only greeting (V3), else its greeting."""
        user = self.sources.user(self.settings)[0]
        items = []
        for member in self.members:
            preset = self.preset(member)
            card = self.card(preset)
            group_only = card["data"].get("group_only_greetings") if card else None
            text = group_only[0] if isinstance(group_only, list) and group_only else preset.greeting
            text = resolve(text, MacroContext(user=user.name, char=preset.name, persona=user.description, seed=seed))
            if text.strip():
                items.append(ChatItem(role="assistant", text=text, model_name=preset.name, speaker=preset.name,
                                      preset_id=preset.id))  # fmt: skip
        return items

    def turn(
        self,
        member: Member,
        base: TurnSettings,
        overrides: dict[str, Any] | None = None,
        settings: RoleplaySettings | None = None,
    ) -> TurnSettings:
        """The turn for ``member``: its card's system prompt with the group named, the chat's roleplay (``settings``,
        else the cast's) for it, its sampling (``overrides`` over it) with stops at the others' lines, its format."""
        preset = self.preset(member)
        roleplay = self.sources.resolve(preset, settings or self.settings)
        names = ", ".join([roleplay.user.name, *(m.name for m in self.members)])
        nudge = GROUP_NUDGE.format(names=names, char=preset.name)
        system = "\n\n".join(part for part in (character_text(preset, roleplay.card).strip(), nudge) if part)
        sampling = preset.sampling.with_overrides(**(overrides or {}))
        extra = stops(self.members, member.name, roleplay.user.name)
        sampling = sampling.with_overrides(stop=tuple(dict.fromkeys((*sampling.stop, *extra))))
        return dataclasses.replace(
            base,
            system_prompt=system,
            roleplay=roleplay,
            preset=preset.id,
            speaker=f"{base.model} · {preset.name}" if base.model else preset.name,
            sampling=sampling,
            prompt_format=(preset.prompt_format, preset.custom_template),
            group=GroupTurn(preset.name, roleplay.user.name, self.members_json, preset.id),
        )
