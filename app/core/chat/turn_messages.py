"""What the engine is sent for a chat's shown messages: the system prompt, then every message with something
to say (errors and the reply being written left out), a reply that used tools expanded into its calls, their
results and its answer, and each message's images loaded."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from app.core.chat.items import ChatItem
from app.core.media.images import CheckedImage
from app.core.prompting.parts import ImagePart
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.tool_parts import reply_messages
from app.core.prompting.types import MessageState


def turn_messages(
    items: Sequence[ChatItem], system_prompt: str, load_image: Callable[[ImagePart], CheckedImage]
) -> tuple[list[ChatMessage], list[int]]:
    """The messages and each one's row in ``items`` (-1: the system prompt)."""
    messages: list[ChatMessage] = []
    rows: list[int] = []
    if system_prompt.strip():
        messages.append({"role": "system", "content": system_prompt})
        rows.append(-1)
    for row, item in enumerate(items):
        shown = item.text or item.images or item.tools
        if item.state in (MessageState.ERROR, MessageState.STREAMING) or not shown:
            continue
        if item.role == "assistant" and item.tools:  # its calls and their results, then its answer
            expanded = reply_messages(item.text, item.tools)
            messages += expanded
            rows += [row] * len(expanded)
            continue
        message: ChatMessage = {"role": "user" if item.role == "user" else "assistant", "content": item.text}
        if item.images:
            message["images"] = [load_image(part) for part in item.images]
        messages.append(message)
        rows.append(row)
    return messages, rows
