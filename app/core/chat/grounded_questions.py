"""The questions of a chat asked with documents: the prompt each was sent with (the sources, then the question) and
the citations its reply carries, so a regenerated or continued reply answers from the same sources.

The history keeps the question as typed; its ``SourcesPart`` keeps the grounded prompt, read back here when a chat
is reopened (``remember``). ``ChatSession`` asks ``ground`` for every request it builds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from app.core.chat.items import ChatItem
from app.core.history.store import Message
from app.core.prompting.parts import CitationPart, SourcesPart, sources_prompt_of
from app.core.prompting.prompt_formats import ChatMessage

if TYPE_CHECKING:
    from app.core.knowledge.grounding import Grounding


class GroundedQuestions:
    """Question id → (the prompt it was sent as, the sources its reply cites)."""

    def __init__(self) -> None:
        self._asked: dict[int, tuple[str, tuple[CitationPart, ...]]] = {}

    def remember(self, path: Sequence[Message]) -> None:
        """Questions sent with sources (their ``SourcesPart``), cited as the reply that follows each one cites them."""
        for number, message in enumerate(path):
            prompt = sources_prompt_of(message.parts) if message.role == "user" else ""
            if prompt and message.id not in self._asked:
                after = path[number + 1] if number + 1 < len(path) else None
                citations = after.citations if after is not None and after.role == "assistant" else ()
                self._asked[message.id] = (prompt, citations)

    def kept(self) -> Callable[[], None]:
        """The questions known now, to come back to (a turn that could not be saved: its ids may be used again)."""
        asked = dict(self._asked)

        def restore() -> None:
            self._asked = asked

        return restore

    @staticmethod
    def parts(text: str, grounding: Grounding | None) -> tuple[SourcesPart, ...]:
        """What a question asked with ``grounding`` keeps of its sources (nothing when none was found)."""
        return (SourcesPart(grounding.prompt(text)),) if grounding is not None and grounding.sources else ()

    def asked(self, question_id: int, text: str, grounding: Grounding | None) -> None:
        """Question ``question_id`` (``text`` as typed) was just saved, asked with ``grounding``."""
        if grounding is not None and grounding.sources:
            self._asked[question_id] = (grounding.prompt(text), grounding.citations())

    def ground(
        self, messages: list[ChatMessage], items: Sequence[ChatItem], sent_rows: Sequence[int]
    ) -> tuple[CitationPart, ...]:
        """A request for ``items`` (``messages``, each from ``sent_rows``) that ends with a grounded question sends it
        as its sources then the question (this turn only); returns the citations its reply carries."""
        question = items[-1].message_id if items and items[-1].role == "user" else None
        asked = len(items) - 1
        if question is None or question not in self._asked or asked not in sent_rows:
            return ()
        prompt, citations = self._asked[question]
        at = sent_rows.index(asked)
        messages[at] = messages[at].copy()  # its images stay
        messages[at]["content"] = prompt
        return citations
