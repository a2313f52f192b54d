"""A fresh chat's greetings (a card's first message and its alternate ones): before the chat exists they are the
versions of its first message, one shown and the others a swipe away; when the chat is saved each is kept as a
version of that message, the one shown active."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from app.core.chat.items import ChatItem


class Greetings:
    """The greetings a fresh chat offers, until it is saved."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def offer(self, greeting: str | Sequence[str], speaker: str, chosen: int) -> list[ChatItem]:
        """A fresh chat's first items: greeting ``chosen`` (empty ones left out), the others its versions."""
        self.texts = [text for text in ([greeting] if isinstance(greeting, str) else greeting) if text.strip()]
        if not self.texts:
            return []
        chosen = max(0, min(chosen, len(self.texts) - 1))
        first = ChatItem(role="assistant", text=self.texts[chosen], model_name=speaker)
        first.sibling_index, first.sibling_count = chosen, len(self.texts)
        return [first]

    def swipe(self, item: ChatItem, step: int) -> bool:
        """Show another greeting in the fresh chat's first ``item``; False when there is none to swipe to."""
        if len(self.texts) < 2:
            return False
        item.sibling_index = max(0, min(len(self.texts) - 1, item.sibling_index + step))
        item.text = self.texts[item.sibling_index]
        return True

    def versions(self, item: ChatItem, first: bool) -> list[str]:
        """What to save for ``item``, shown before the chat existed (the ``first`` one: every greeting)."""
        return self.texts if first and len(self.texts) > 1 else [item.text]

    def kept(self) -> Callable[[], None]:
        """The greetings offered now, to offer again (the chat's first turn could not be saved)."""
        texts = list(self.texts)

        def restore() -> None:
            self.texts = texts

        return restore

    def saved(self) -> None:
        """The chat is saved with its greetings: it offers none any more."""
        self.texts = []
