"""A streaming reply, written to the history as it grows: at most every half second, and always at its end."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from app.core.history.errors import StoreBusyError, StoreDiskError
from app.core.prompting.parts import Part

if TYPE_CHECKING:
    from app.core.history.store import ChatStore

log = logging.getLogger("app.core.history.store")


class StreamingSaver:
    """Writes a growing reply to the store at most every ``interval`` seconds, and always at the end."""

    def __init__(self, store: ChatStore, message_id: int, interval: float = 0.5) -> None:
        self.store, self.message_id, self.interval = store, message_id, interval
        self._last = time.monotonic()
        self._saved_len = 0
        self.parts: tuple[Part, ...] = ()  # the reply's other parts (citations, tool steps), saved with every write

    def update(self, text: str, reasoning: str = "") -> bool:
        """Called with the whole text (and reasoning) so far; returns True when it wrote.

        A busy database or a full disk does not stop the reply: the text stays in memory, the next
        update tries again, and ``finish`` (which does raise) writes it all.
        """
        now = time.monotonic()
        size = len(text) + len(reasoning)
        if now - self._last < self.interval or size == self._saved_len:
            return False
        try:
            self.store.update_message(
                self.message_id, content=text, reasoning=reasoning if reasoning else None, parts=self.parts
            )
        except (StoreBusyError, StoreDiskError) as exc:
            log.warning("the streaming reply could not be saved yet (%s); it is kept in memory", exc)
            self._last = now
            return False
        self._last, self._saved_len = now, size
        return True

    def write(self, text: str, reasoning: str = "") -> None:
        """Write now, whatever the interval (a tool call or result: rare, and not to be lost); raises as ``finish``."""
        self.store.update_message(
            self.message_id, content=text, reasoning=reasoning if reasoning else None, parts=self.parts
        )
        self._last, self._saved_len = time.monotonic(), len(text) + len(reasoning)

    def finish(self, text: str, state: str, stats: dict[str, Any] | None = None, reasoning: str = "") -> None:
        self.store.update_message(
            self.message_id,
            content=text,
            state=state,
            stats=stats or {},
            reasoning=reasoning if reasoning else None,
            parts=self.parts,
        )
