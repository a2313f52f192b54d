"""Group chats: who the members are, who speaks next, and how the others' lines reach the speaker's model.

A group chat has two or more personas (``Member``: a preset id and the name it had), kept with the chat as JSON
(``chats.members``). Each reply records its speaker (``messages.speaker``, the preset id in ``messages.preset``).

The prompt for a speaker (``named_turns``): its own earlier replies stay assistant turns; everything the others
said reaches it as named user turns, "User: text" and "Name: text" (SillyTavern's group chats name every line
the same way), and consecutive turns of one role are joined, so the conversation keeps alternating. That is
what templates that insist on alternation (Gemma, Mistral) need, where SillyTavern's instruct mode would put
the other characters in assistant turns. The reply itself stops where it starts another character's line
(``stops``), and a reply that begins with its own name has it taken off (``unprefixed``).

Who speaks next (``next_speaker``): the one the user chose; in turns (round robin, after the last who spoke);
by mention (a member named in your last message, in the order they were named, each once); or auto (those
mentioned, then in turns).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.chat.items import ChatItem, GroupTurn
from app.core.errors import HermesError
from app.core.prompting.prompt_formats import ChatMessage

MAX_MEMBERS = 16
_WORD = re.compile(r"\w+", re.UNICODE)


class GroupError(HermesError):
    """A group that cannot be made or a speaker who is not in it."""


class Policy(enum.StrEnum):
    CHOSEN = "chosen"  # the user picks who speaks
    ROUND_ROBIN = "round-robin"  # in turns, after the last who spoke
    MENTION = "mention"  # whom your last message names (else in turns)
    AUTO = "auto"  # those named first, then in turns


@dataclass(frozen=True)
class Member:
    preset_id: str
    name: str


def checked_members(members: Sequence[Member]) -> list[Member]:
    """Two or more distinct personas (by id and by name), at most ``MAX_MEMBERS``."""
    unique = list({member.preset_id: member for member in members}.values())
    if len(unique) < 2:
        raise GroupError("A group chat needs two or more different personas.")
    if len(unique) > MAX_MEMBERS:
        raise GroupError(f"A group chat holds at most {MAX_MEMBERS} personas.")
    names = [member.name.casefold() for member in unique]
    twice = sorted({member.name for member in unique if names.count(member.name.casefold()) > 1})
    if twice:
        raise GroupError(f"Two members of the group are both called {twice[0]!r}; rename one first.")
    return unique


def members_to_json(members: Sequence[Member]) -> str:
    return json.dumps([{"id": m.preset_id, "name": m.name} for m in members], ensure_ascii=False)


def members_from_json(text: str) -> list[Member]:
    """A stored member list, read leniently: anything unreadable is no member ('' or damage: not a group)."""
    try:
        data = json.loads(text) if text else []
    except ValueError:
        return []
    if not isinstance(data, list):
        return []
    return [
        Member(item["id"], item["name"])
        for item in data[:MAX_MEMBERS]
        if isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(item.get("name"), str)
    ]


def find_member(members: Sequence[Member], key: str) -> Member:
    """The member called ``key`` (its name, case-insensitive, or its preset id)."""
    for member in members:
        if key.casefold() in (member.name.casefold(), member.preset_id):
            return member
    names = ", ".join(member.name for member in members)
    raise GroupError(f"{key!r} is not in this group chat (its members: {names}).")


# who speaks next
def mentioned(text: str, members: Sequence[Member]) -> list[Member]:
    """The members ``text`` names (any word of a member's name, whole and case-insensitive), in order of mention."""
    words = [match.group().casefold() for match in _WORD.finditer(text)]
    found: list[tuple[int, Member]] = []
    for member in members:
        names = {word.casefold() for word in _WORD.findall(member.name)}
        where = next((index for index, word in enumerate(words) if word in names), None)
        if where is not None:
            found.append((where, member))
    return [member for _, member in sorted(found, key=lambda pair: pair[0])]


def next_speaker(
    members: Sequence[Member], items: Sequence[ChatItem], policy: Policy = Policy.AUTO, chosen: str = ""
) -> Member:
    """Who writes the next reply after ``items`` (the chat as shown)."""
    if not members:
        raise GroupError("This chat has no members.")
    if policy is Policy.CHOSEN or chosen:
        if not chosen:
            raise GroupError("Choose who speaks next.")
        return find_member(members, chosen)
    if policy in (Policy.MENTION, Policy.AUTO):
        last_user = next((row for row in range(len(items) - 1, -1, -1) if items[row].role == "user"), None)
        if last_user is not None:
            replied = {item.preset_id for item in items[last_user + 1 :] if item.role == "assistant"}
            waiting = [m for m in mentioned(items[last_user].text, members) if m.preset_id not in replied]
            if waiting:
                return waiting[0]
    return _after_last(members, items)


def _after_last(members: Sequence[Member], items: Sequence[ChatItem]) -> Member:
    ids = [member.preset_id for member in members]
    for item in reversed(items):
        if item.role == "assistant" and item.preset_id in ids:
            return members[(ids.index(item.preset_id) + 1) % len(members)]
    return members[0]


# the speaker's prompt
def named_turns(
    messages: Sequence[ChatMessage], rows: Sequence[int], items: Sequence[ChatItem], group: GroupTurn
) -> tuple[list[ChatMessage], list[int]]:
    """The conversation as ``group.speaker`` reads it; ``rows`` (the item of each message, -1 for the system
    prompt) are kept in step: a joined message keeps the row of its first part."""
    out: list[ChatMessage] = []
    out_rows: list[int] = []
    for message, row in zip(messages, rows, strict=True):
        item = items[row] if row >= 0 else None
        if item is None:
            named = message
        elif item.role == "user":
            named = {**message, "role": "user", "content": f"{group.user}: {message['content']}"}
        elif item.speaker and not _own(item, group):
            named = {**message, "role": "user", "content": f"{item.speaker}: {message['content']}"}
        else:
            named = message
        previous = out[-1] if out else None
        if previous is not None and previous["role"] == named["role"] != "system":
            joined: ChatMessage = {"role": named["role"], "content": f"{previous['content']}\n\n{named['content']}"}
            images = [*previous.get("images", ()), *named.get("images", ())]
            if images:
                joined["images"] = images
            out[-1] = joined
            continue
        out.append(named)
        out_rows.append(row)
    return out, out_rows


def _own(item: ChatItem, group: GroupTurn) -> bool:
    if group.speaker_id and item.preset_id:
        return item.preset_id == group.speaker_id
    return item.speaker == group.speaker


def with_message(messages: Sequence[ChatMessage], text: str, group: GroupTurn) -> list[ChatMessage]:
    """``messages`` (``named_turns``' output) with your next message after them, named and joined the same way
    (the Prompt preview's last turn)."""
    named = f"{group.user}: {text}"
    if messages and messages[-1]["role"] == "user":
        joined: ChatMessage = {**messages[-1], "content": f"{messages[-1]['content']}\n\n{named}"}
        return [*messages[:-1], joined]
    return [*messages, {"role": "user", "content": named}]


def stops(members: Sequence[Member], speaker: str, user: str) -> tuple[str, ...]:
    """Where a reply stops: a new line that starts another character's (or your) line."""
    others = [member.name for member in members if member.name != speaker] + [user]
    return tuple(f"\n{name}:" for name in others)


def tidy(text: str, group: GroupTurn) -> str:
    """A finished reply without its own "Name:" at the start, nor a last line that only began another's line
    ("User", cut off by the token limit before the stop string was whole)."""
    text = unprefixed(text, group.speaker)
    head, newline, tail = text.rpartition("\n")
    others = {m.name for m in members_from_json(group.members) if m.name != group.speaker} | {group.user}
    if newline and tail.strip().rstrip(":").strip() in others:
        return head.rstrip()
    return text


def unprefixed(text: str, speaker: str) -> str:
    """A reply without the "Name:" it may begin with (the model imitating the named lines)."""
    stripped = text.lstrip()
    if stripped.casefold().startswith(f"{speaker.casefold()}:"):
        return stripped[len(speaker) + 1 :].lstrip()
    return text
