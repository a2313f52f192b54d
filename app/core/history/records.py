"""What the history hands out: a stored message (with its place among its versions) and a chat's summary."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from app.core.prompting.context import ContextPolicy
from app.core.prompting.parts import (
    CitationPart,
    DocumentPart,
    Part,
    citations_of,
    documents_of,
    parts_from_json,
    reasoning_of,
)
from app.core.prompting.types import MessageState


@dataclass(frozen=True)
class Message:
    id: int
    chat_id: int
    parent_id: int | None
    role: str
    content: str
    created_at: float
    state: str = MessageState.DONE
    stats: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    preset: str = ""
    sibling_index: int = 0  # position among the versions at this point of the tree
    sibling_count: int = 1
    parts: tuple[Part, ...] = ()  # beside the content: the reasoning, and what later releases add
    damaged_parts: str = ""  # a stored parts value that could not be read (shown as text, never lost)
    speaker: str = ""  # a group chat's reply: the character who wrote it (its preset id is ``preset``)

    @property
    def reasoning(self) -> str:
        return reasoning_of(self.parts)

    @property
    def citations(self) -> tuple[CitationPart, ...]:
        return citations_of(self.parts)

    @property
    def documents(self) -> tuple[DocumentPart, ...]:
        return documents_of(self.parts)


@dataclass(frozen=True)
class ChatSummary:
    id: int
    title: str
    model: str
    preset: str
    created_at: float
    updated_at: float
    overflow: str = ContextPolicy.STOP
    settings: str = ""  # the chat's own sampling (prompting.chat_sampling.ChatSampling as JSON); '': the preset's
    members: str = ""  # a group chat's personas (JSON, chat.group.Members); '': a one-persona chat


def summary_of(row: sqlite3.Row) -> ChatSummary:
    return ChatSummary(
        id=row["id"],
        title=row["title"],
        model=row["model"],
        preset=row["preset"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        overflow=row["overflow"],
        settings=row["settings"],
        members=row["members"],
    )


def message_of(row: sqlite3.Row, versions: tuple[int, int] | None = None) -> Message:
    """A stored message; ``versions``: its (index, count) among its siblings, if the caller counted them."""
    keys = row.keys()
    try:
        stats = json.loads(row["stats"] or "{}")
    except ValueError:
        stats = {}
    parts, damaged = parts_from_json(row["parts"] if "parts" in keys else "")
    return Message(
        id=row["id"],
        chat_id=row["chat_id"],
        parent_id=row["parent_id"],
        role=row["role"],
        content=row["content"],
        created_at=row["created_at"],
        state=row["state"],
        stats=stats if isinstance(stats, dict) else {},
        model=row["model"],
        preset=row["preset"],
        sibling_index=versions[0] if versions else row["sibling_index"] if "sibling_index" in keys else 0,
        sibling_count=versions[1] if versions else row["sibling_count"] if "sibling_count" in keys else 1,
        parts=parts,
        damaged_parts=damaged,
        speaker=row["speaker"] if "speaker" in keys else "",
    )


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57].rstrip() + "…"
