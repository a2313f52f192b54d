"""What to do when a conversation no longer fits the context window.

Policies (per chat):
- ``stop``: refuse, and say how much is too much;
- ``drop-oldest``: leave out the oldest exchanges, keeping the system prompt;
- ``rolling``: keep the system prompt and the first exchange (which usually sets the task), leave
  out the middle, keep as much of the recent conversation as fits.
The system prompt is never dropped, and the newest user message never is either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.core.errors import HermesError
from app.core.prompting.prompt_formats import ChatMessage


class ContextPolicy(StrEnum):
    """A chat's answer to a conversation longer than the context (stored with the chat as its value)."""

    STOP = "stop"
    DROP_OLDEST = "drop-oldest"
    ROLLING = "rolling"

    @property
    def label(self) -> str:
        return POLICIES[self]


POLICIES: dict[ContextPolicy, str] = {
    ContextPolicy.STOP: "Stop and tell me",
    ContextPolicy.DROP_OLDEST: "Drop the oldest turns (keep the system prompt)",
    ContextPolicy.ROLLING: "Rolling window (keep the first exchange)",
}


class ContextOverflow(HermesError):
    """The conversation does not fit and the policy says stop (or nothing can be dropped)."""


@dataclass(frozen=True)
class Fitted:
    messages: list[ChatMessage]
    prompt_tokens: int
    dropped: int  # how many messages were left out ...
    dropped_start: int = 0  # ... from this index of the messages given (a contiguous run)

    @property
    def note(self) -> str:
        if not self.dropped:
            return ""
        noun = "message" if self.dropped == 1 else "messages"
        return f"{self.dropped} earlier {noun} left out to fit the context window."


def fit_to_context(
    messages: Sequence[ChatMessage],
    count_tokens: Callable[[Sequence[ChatMessage]], int],
    budget: int,
    policy: str = ContextPolicy.STOP,
) -> Fitted:
    """The messages to send so that the prompt takes at most ``budget`` tokens (the rest is for the reply)."""
    messages = list(messages)
    tokens = count_tokens(messages)
    if tokens <= budget:
        return Fitted(messages, tokens, 0)
    if policy not in POLICIES:
        raise ContextOverflow(f"Unknown context policy {policy!r}.")
    if policy == ContextPolicy.STOP:
        raise ContextOverflow(
            f"This conversation needs {tokens:,} tokens, more than the {budget:,} the context leaves for it. "
            "Start a new chat, delete some messages, choose a policy that drops old turns, or load the model with "
            "a larger context."
        )
    head = messages[:1] if messages and messages[0]["role"] == "system" else []
    body = messages[len(head) :]
    keep_first = 2 if policy == ContextPolicy.ROLLING and len(body) > 3 else 0
    fixed_start = body[:keep_first]
    droppable = body[keep_first:-1]
    last = body[-1:]
    # Drop from the front of the droppable part, a whole exchange (user + reply) at a time, until it fits.
    # Bisection over how many to drop keeps the number of tokenizations logarithmic.
    low, high = 0, len(droppable)
    best: tuple[int, int] | None = None
    while low <= high:
        middle = (low + high) // 2
        cut = _exchange_boundary(droppable, middle)
        candidate = head + fixed_start + droppable[cut:] + last
        tokens = count_tokens(candidate)
        if tokens <= budget:
            best = (cut, tokens)
            high = middle - 1
        else:
            low = middle + 1
    if best is None:
        raise ContextOverflow(
            "Even the system prompt and your last message do not fit the context window. Shorten them, or load the "
            "model with a larger context."
        )
    cut, tokens = best
    return Fitted(head + fixed_start + droppable[cut:] + last, tokens, cut, len(head) + keep_first if cut else 0)


def _exchange_boundary(messages: Sequence[ChatMessage], count: int) -> int:
    """``count`` rounded up so the kept part starts at a user message (never with an orphan reply)."""
    while count < len(messages) and messages[count]["role"] != "user":
        count += 1
    return count
