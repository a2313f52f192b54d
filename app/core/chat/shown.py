"""What a face shows of a chat: its items, the current turn's state, and the listener told of every change.

``ChatSession`` owns one (``session.shown``; ``session.items`` and ``session.response_state`` read it), and so does
the reply being written (``chat.streaming_reply``): every change goes through here, so a view is told each one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from app.core.chat.items import ChatItem, SessionListener, SilentListener
from app.core.prompting.types import ResponseState


class ShownChat:
    """The messages a face renders, the state of the turn, and who hears about them."""

    def __init__(self, listener: SessionListener | None = None) -> None:
        self.listener: SessionListener = listener or SilentListener()
        self.items: list[ChatItem] = []
        self.response_state = ResponseState.IDLE

    @property
    def busy(self) -> bool:
        return self.response_state.busy

    def last(self) -> ChatItem | None:
        return self.items[-1] if self.items else None

    def kept(self) -> Callable[[], None]:
        """What is shown now, to come back to (a turn that could not be saved): each item as it is, and the state."""
        items, state = [dataclasses.replace(item) for item in self.items], self.response_state

        def restore() -> None:
            self.reset(items)
            self.set_state(state)

        return restore

    def reset(self, items: list[ChatItem]) -> None:
        self.items = items
        self.listener.items_reset()

    def insert(self, item: ChatItem) -> None:
        self.items.append(item)
        self.listener.item_inserted(len(self.items) - 1)

    def changed(self, row: int) -> None:
        self.items[row].revision += 1
        self.listener.item_changed(row)

    def set_state(self, state: ResponseState) -> None:
        if state is not self.response_state:
            self.response_state = state
            self.listener.state_changed(state)

    def mark_left_out(self, rows: Iterable[int]) -> None:
        """The rows the context policy left out of the last prompt (-1, the system prompt, is not shown)."""
        for row in rows:
            if row >= 0 and not self.items[row].left_out:
                self.items[row].left_out = True
                self.changed(row)

    def clear_left_out(self) -> None:
        for row, item in enumerate(self.items):
            if item.left_out:
                item.left_out = False
                self.changed(row)
