"""Message text never becomes control tokens (issue 28, item 29).

A prompt is tokenized with ``special=True`` so that the template's own markup (``<|im_start|>``, ``<|eot_id|>``,
``<start_of_turn>``…) becomes the model's control tokens. Message content typed by a user (or pasted, or imported)
could then fake a turn boundary or a system turn: ``<|im_end|>`` inside a user message was one control token.
Before rendering, every control token's text inside message content gets an invisible WORD JOINER (U+2060) after
its first character, so it is tokenized as ordinary text; the markup the template writes around the content is
untouched. The stored and shown messages keep what was typed; only the model's copy changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.core.prompting.prompt_formats import ChatMessage

WORD_JOINER = "\u2060"


class SpecialTextGuard:
    """Neutralises the control-token texts of one vocabulary inside message content."""

    def __init__(self, controls: Sequence[str]) -> None:
        texts = sorted({c for c in controls if len(c) > 1}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(text) for text in texts)) if texts else None

    def text(self, content: str) -> str:
        if self._pattern is None:
            return content
        return self._pattern.sub(lambda found: found[0][0] + WORD_JOINER + found[0][1:], content)

    def messages(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """The messages with their content made safe (the same objects where nothing needed changing)."""
        if self._pattern is None:
            return list(messages)
        safe: list[ChatMessage] = []
        for message in messages:
            content = message.get("content")
            if isinstance(content, str) and self._pattern.search(content):
                safe.append({**message, "content": self.text(content)})
            else:
                safe.append(message)
        return safe
