"""A chat in and out of the history: JSON with every branch (``import_tree`` reads it), OpenAI messages, Markdown."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core import bounded_json
from app.core.files import read_regular, write_user_file
from app.core.history.errors import StoreError
from app.core.media.images import ImageRefused
from app.core.media.store import ImageStore
from app.core.prompting.context import ContextPolicy
from app.core.prompting.media import openai_message
from app.core.prompting.parts import images_of, parts_from_json, tool_parts_of
from app.core.prompting.tool_parts import reply_messages, steps_markdown
from app.core.prompting.types import MessageState

if TYPE_CHECKING:
    from app.core.history.store import ChatStore
    from app.core.prompting.prompt_formats import ChatMessage

EXPORT_FORMAT = "hermes-studio-chat"
MAX_IMPORT_BYTES = 128 << 20  # a 2,000-message chat exports to ~1 MB


def read_export(path: Path) -> Any:
    """The JSON of a chat export the user picked: a regular file of at most ``MAX_IMPORT_BYTES``."""
    try:
        return bounded_json.loads(read_regular(path, MAX_IMPORT_BYTES), max_bytes=MAX_IMPORT_BYTES, what=path.name)
    except OSError as exc:
        raise StoreError(f"Could not read {path.name}: {exc.strerror or exc}.") from None
    except (ValueError, RecursionError) as exc:
        raise StoreError(f"{path.name} is not a chat export: {str(exc)[:200]}") from None


def write_export(path: Path, text: str) -> None:
    """Write an export to a new path or over a regular file, atomically."""
    try:
        write_user_file(path, text.encode("utf-8"))
    except OSError as exc:
        raise StoreError(f"Could not export to {str(path)!r}: {exc.strerror or exc}.") from None


def export_tree(store: ChatStore, chat_id: int) -> dict[str, Any]:
    """The whole chat, every branch, as JSON-ready data (``import_tree`` reads it back)."""
    chat = store.chat(chat_id)
    leaf = store.rows("SELECT active_leaf FROM chats WHERE id = ?", (chat_id,))[0][0]
    rows = store.rows("SELECT * FROM messages WHERE chat_id = ? ORDER BY id", (chat_id,))
    messages = [
        {
            "id": row["id"],
            "parent": row["parent_id"],
            "role": row["role"],
            "content": row["content"],
            "created_at": row["created_at"],
            "state": row["state"],
            "stats": json.loads(row["stats"] or "{}"),
            "model": row["model"],
            "preset": row["preset"],
            "parts": _stored_parts(row["parts"]),
            "speaker": row["speaker"],
        }
        for row in rows
    ]
    return {
        "format": EXPORT_FORMAT,
        "version": 1,
        "title": chat.title,
        "model": chat.model,
        "preset": chat.preset,
        "overflow": chat.overflow,
        "settings": chat.settings,  # the chat's own sampling (prompting.chat_sampling), read back leniently
        "members": chat.members,  # a group chat's personas (chat.group), read back leniently
        "created_at": chat.created_at,
        "active_leaf": leaf,
        "messages": messages,
    }


def import_tree(store: ChatStore, data: Any) -> int:
    """A chat from ``export_tree`` data (ids are renumbered; the tree and the active branch are kept)."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise StoreError("This file is not a Hermes Studio chat export.")
    messages = data.get("messages")
    if not isinstance(messages, list):
        raise StoreError("The chat export has no message list.")
    known: set[Any] = set()
    for item in messages:
        if not isinstance(item, dict) or item.get("role") not in ("system", "user", "assistant"):
            raise StoreError("The chat export holds a message without a valid role.")
        if not isinstance(item.get("content"), str):
            raise StoreError("The chat export holds a message whose content is not text.")
        if item.get("parent") is not None and item.get("parent") not in known:
            raise StoreError("The chat export's messages are not in tree order (a parent comes after its child).")
        known.add(item.get("id"))
    with store.transaction() as db:
        now = time.time()
        cursor = db.execute(
            "INSERT INTO chats (title, model, preset, overflow, settings, members, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(data.get("title", "")),
                str(data.get("model", "")),
                str(data.get("preset", "")),
                str(data.get("overflow", ContextPolicy.STOP)),
                data["settings"] if isinstance(data.get("settings"), str) else "",
                data["members"] if isinstance(data.get("members"), str) else "",
                float(data.get("created_at") or now),
                now,
            ),
        )
        chat_id = int(cursor.lastrowid or 0)
        new_ids: dict[Any, int] = {}
        for item in messages:
            state = MessageState.parse(str(item.get("state", "")))
            cursor = db.execute(
                "INSERT INTO messages (chat_id, parent_id, role, content, created_at, state, stats, model, preset, "
                "parts, speaker) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chat_id,
                    new_ids.get(item.get("parent")),
                    item["role"],
                    item["content"],
                    float(item.get("created_at") or now),
                    MessageState.on_reopen(state),
                    json.dumps(item.get("stats") if isinstance(item.get("stats"), dict) else {}),
                    str(item.get("model", "")),
                    str(item.get("preset", "")),
                    _parts_json(item.get("parts")),
                    item["speaker"] if isinstance(item.get("speaker"), str) else "",
                ),
            )
            new_ids[item.get("id")] = int(cursor.lastrowid or 0)
        leaf = new_ids.get(data.get("active_leaf")) or (max(new_ids.values()) if new_ids else None)
        db.execute("UPDATE chats SET active_leaf = ? WHERE id = ?", (leaf, chat_id))
    return chat_id


def export_openai(store: ChatStore, chat_id: int, images: ImageStore | None = None) -> list[dict[str, Any]]:
    """The active branch as OpenAI-style ``messages``; a reply's reasoning in ``reasoning_content`` (DeepSeek's API);
    a message's images as ``image_url`` parts with ``data:`` URLs (read from ``images``; one no longer there, or
    without ``images``, is left out); a reply's sources in ``citations`` and a question's documents in
    ``documents`` (extensions: OpenAI has none). A reply that used tools is its rounds, as OpenAI's API has them: an
    assistant message with the round's ``tool_calls``, a ``role: "tool"`` message per result, then the answer. A
    group chat's reply names its speaker in ``name`` (OpenAI's own field for a participant)."""
    messages: list[dict[str, Any]] = []
    for m in store.active_path(chat_id):
        attached = []
        for part in images_of(m.parts):
            try:
                if images is not None:
                    attached.append(images.load(part))
            except ImageRefused:
                continue
        plain: ChatMessage = {"role": m.role, "content": m.content, "images": attached}  # type: ignore[typeddict-item]
        message = openai_message(plain)
        if m.speaker:
            message["name"] = re.sub(r"[^A-Za-z0-9_-]", "_", m.speaker)[:64]  # the characters OpenAI's API takes
        if m.reasoning:
            message["reasoning_content"] = m.reasoning
        if m.citations:
            message["citations"] = [
                {"index": c.index, "file": c.file, "location": c.location, "collection": c.collection,
                 "excerpt": c.excerpt}
                for c in m.citations
            ]  # fmt: skip
        if m.documents:
            message["documents"] = [{"name": d.name, "mode": d.mode, "pages": d.pages} for d in m.documents]
        tools = tool_parts_of(m.parts)
        if m.role == "assistant" and tools:
            rounds = [dict(step) for step in reply_messages(m.content, tools)]
            answered = rounds and rounds[-1]["role"] == "assistant" and "tool_calls" not in rounds[-1]
            # the answer keeps the reasoning, the sources …; the rounds go before it
            message["content"] = rounds.pop()["content"] if answered else ""
            messages += rounds
        messages.append(message)
    return messages


def export_markdown(store: ChatStore, chat_id: int) -> str:
    chat = store.chat(chat_id)
    lines = [f"# {chat.title or 'Chat'}", ""]
    cast = _member_names(chat.members)
    if cast:
        lines += [f"*Model: {chat.model or '—'} · Group: {', '.join(cast)}*", ""]
    elif chat.model or chat.preset:
        lines += [f"*Model: {chat.model or '—'} · Preset: {chat.preset or '—'}*", ""]
    names = {"user": "You", "assistant": "Assistant", "system": "System"}
    for message in store.active_path(chat_id):
        lines += [f"## {message.speaker or names.get(message.role, message.role)}", ""]
        if message.reasoning:
            lines += ["<details>", "<summary>Thinking</summary>", "", message.reasoning.strip(), "", "</details>", ""]
        for part in images_of(message.parts):
            lines += [f"*[image: {part.name or part.sha256[:12]}, {part.width} × {part.height}]*", ""]
        if message.documents:
            attached = ", ".join(d.name + (f" ({d.pages} pages)" if d.pages else "") for d in message.documents)
            lines += [f"*With: {attached}*", ""]
        tools = tool_parts_of(message.parts)
        if tools:
            lines += ["<details>", "<summary>Tools used</summary>", "", steps_markdown(tools, 1 << 62), "",
                      "</details>", ""]  # fmt: skip
        lines += [message.content, ""]
        if message.citations:
            lines += ["**Sources**", ""] + [f"- {c.label}" for c in message.citations] + [""]
    return "\n".join(lines)


def _member_names(members: str) -> list[str]:
    """A group chat's member names (``chat.group`` writes the list; read leniently here, below that layer)."""
    try:
        data = json.loads(members) if members else []
    except ValueError:
        return []
    rows = data if isinstance(data, list) else []
    return [str(row["name"]) for row in rows if isinstance(row, dict) and isinstance(row.get("name"), str)]


def _stored_parts(raw: str) -> list[Any] | str:
    """The parts as JSON data (a damaged value as its text: kept, never dropped)."""
    if not raw:
        return []
    damaged = parts_from_json(raw)[1]
    return damaged if damaged else json.loads(raw)


def _parts_json(value: Any) -> str:
    """An export's parts as stored: a list of objects with a ``type``; anything else is dropped."""
    if not isinstance(value, list):
        return ""
    rows = [row for row in value if isinstance(row, dict) and isinstance(row.get("type"), str)]
    return json.dumps(rows, ensure_ascii=False) if rows else ""
