"""The window's chat path without the window, for the UI tests and the benchmarks (bench imports it from here: the
tests never import bench)."""

from __future__ import annotations


class ChatHarness:
    """The window's chat path without the window: a ChatSession, its ChatModel, and the session's listener.

    ``append``/``extend`` put ready-made items on screen; ``append_to_last`` is the real streaming path
    (``ChatSession.append`` -> ``ChatModel.item_changed``), as the window's Conversation calls it.
    """

    def __init__(self, store=None) -> None:
        from app.core.chat.session import ChatSession
        from app.ui.chat.chat_model import ChatModel

        self.session = ChatSession(store, self)
        self.model = ChatModel(self.session)

    # SessionListener
    def items_reset(self) -> None:
        self.model.items_reset()

    def item_inserted(self, row: int) -> None:
        self.model.item_inserted(row)

    def item_changed(self, row: int) -> None:
        self.model.item_changed(row)

    def state_changed(self, state) -> None:
        pass

    def save_failed(self, message: str) -> None:
        raise RuntimeError(message)

    # the chat
    def append(self, item) -> None:
        from app.core.prompting.types import MessageState, ResponseState

        self.session.items.append(item)
        if item.state == MessageState.STREAMING:  # a reply being written, as a turn of the session starts it
            self.session.response_state = ResponseState.GENERATING
        self.model.item_inserted(len(self.session.items) - 1)

    def extend(self, items) -> None:
        self.session.items.extend(items)
        self.model.items_reset()

    def append_to_last(self, text: str) -> None:
        self.session.append(text)

    def finish_last(self, state, stats=None) -> None:
        from app.core.prompting.types import ResponseState

        last = self.session.items[-1]
        last.state, last.stats = state, stats
        last.revision += 1  # as the session's own finish does: the view lays the message out again
        self.session.response_state = ResponseState.IDLE
        self.model.item_changed(len(self.session.items) - 1)

    # read like the list model (tests)
    def last(self):
        return self.session.last()

    def rowCount(self) -> int:
        return self.model.rowCount()

    def index(self, row: int, column: int = 0):
        return self.model.index(row, column)
