"""The chat's vocabulary, shared by every face: sampling, a reply's stats and its states, the message states.

No behaviour lives here beyond small conversions; the engine, the store, the session, the window,
the CLI and the server all speak these types, so a state is spelled once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class MessageState(StrEnum):
    """Where a stored message stands. The values are what the history database keeps."""

    DONE = "done"
    STREAMING = "streaming"
    STOPPED = "stopped"  # the user stopped it; the text so far is kept
    ERROR = "error"  # generation failed; the text so far and the error are kept
    INTERRUPTED = "interrupted"  # the app died while it streamed; the text saved so far is kept

    @classmethod
    def parse(cls, value: str) -> MessageState:
        """A stored value, with anything unknown read as DONE (an imported or older file)."""
        try:
            return cls(value)
        except ValueError:
            return cls.DONE

    @classmethod
    def on_reopen(cls, value: str) -> MessageState:
        """A stored state as seen by a chat opened later: a reply still 'streaming' there was cut off."""
        state = cls.parse(value)
        return cls.INTERRUPTED if state is cls.STREAMING else state

    @property
    def can_continue(self) -> bool:
        return self in (MessageState.STOPPED, MessageState.INTERRUPTED)


class FinishReason(StrEnum):
    """Why a reply ended (OpenAI's names where they exist)."""

    STOP = "stop"  # the model ended its turn, or a stop sequence matched
    LENGTH = "length"  # the token budget or the context ran out
    CANCELLED = "cancelled"  # Stop was pressed, or the client went away

    @classmethod
    def parse(cls, value: str) -> FinishReason | None:
        try:
            return cls(value)
        except ValueError:
            return None

    @property
    def message_state(self) -> MessageState:
        return MessageState.STOPPED if self is FinishReason.CANCELLED else MessageState.DONE


class ResponseState(StrEnum):
    """What a chat's current turn is doing (what the window's status line and Send/Stop button show)."""

    IDLE = "idle"
    QUEUED = "queued"  # waiting behind another request for the engine
    READING_PROMPT = "reading"  # llama.cpp processes the prompt
    GENERATING = "generating"
    AWAITING_APPROVAL = "approval"  # a tool call waits for the user to allow or deny it

    @property
    def busy(self) -> bool:
        return self is not ResponseState.IDLE


@dataclass(frozen=True)
class Sampling:
    """How a reply is sampled (a preset carries one; the GUI overrides temperature and max tokens)."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 1024
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0

    def with_overrides(self, **values: Any) -> Sampling:
        return replace(self, **values)


_STATS_FIELDS = (
    "prompt_tokens",
    "generated_tokens",
    "ttft_s",
    "total_s",
    "context_size",
    "finish_reason",
    "dropped_messages",
    "dropped_start",
    "reasoning_tokens",
    "reasoning_s",
    "restored_tokens",
    "drafted_tokens",
    "accepted_tokens",
    "image_tokens",
    "image_encode_s",
)


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    generated_tokens: int = 0
    ttft_s: float = 0.0  # request to first token of text
    total_s: float = 0.0  # request to the end
    context_size: int = 0
    finish_reason: str = ""  # a FinishReason value once the reply has ended
    dropped_messages: int = 0  # left out by the chat's context policy ...
    dropped_start: int = 0  # ... from this index of the messages sent
    reasoning_tokens: int = 0  # of generated_tokens, how many the model thought with
    reasoning_s: float = 0.0  # how long it thought (first thought to the answer's first piece)
    restored_tokens: int = 0  # of the prompt, restored from a saved state instead of read (engines.state_cache)
    drafted_tokens: int = 0  # proposed by prompt-lookup decoding (engines.prompt_lookup) ...
    accepted_tokens: int = 0  # ... and, of them, accepted by the model
    image_tokens: int = 0  # of the prompt, what its images cost
    image_encode_s: float = 0.0  # of ttft_s, the projector's time encoding the images (the rest reads the prompt)

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "ttft_s": round(self.ttft_s, 4),
            "total_s": round(self.total_s, 4),
            "tokens_per_s": round(self.tokens_per_s, 2),
            "context_size": self.context_size,
            "finish_reason": self.finish_reason,
            "dropped_messages": self.dropped_messages,
            "dropped_start": self.dropped_start,
            "reasoning_tokens": self.reasoning_tokens,
            "reasoning_s": round(self.reasoning_s, 3),
            "restored_tokens": self.restored_tokens,
            "drafted_tokens": self.drafted_tokens,
            "accepted_tokens": self.accepted_tokens,
            "image_tokens": self.image_tokens,
            "image_encode_s": round(self.image_encode_s, 4),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationStats:
        return cls(**{k: v for k, v in data.items() if k in _STATS_FIELDS})

    @property
    def finish(self) -> FinishReason | None:
        return FinishReason.parse(self.finish_reason)

    @property
    def message_state(self) -> MessageState:
        """The state a reply with these stats is stored in."""
        finish = self.finish
        return finish.message_state if finish else MessageState.DONE

    @property
    def context_used(self) -> int:
        return self.prompt_tokens + self.generated_tokens

    @property
    def tokens_per_s(self) -> float:
        """Generation speed after the first token (the prompt's processing is in ttft_s)."""
        decode_s = self.total_s - self.ttft_s
        if self.generated_tokens <= 1 or decode_s <= 0:
            return 0.0
        return (self.generated_tokens - 1) / decode_s
