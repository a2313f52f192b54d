"""Reasoning in OpenAI's API, as DeepSeek's API, vLLM and llama-server speak it.

In: ``reasoning_effort`` ("low" | "medium" | "high") and ``chat_template_kwargs.enable_thinking``, handed to the
model's chat template. Out: the reply's reasoning in ``message.reasoning_content`` (``delta.reasoning_content``
while streaming) beside ``content``, and ``usage.completion_tokens_details.reasoning_tokens``.
"""

from __future__ import annotations

from typing import Any

from app.core.prompting.parts import EFFORTS, ReasoningOptions, is_thought
from app.core.prompting.types import GenerationStats
from app.server.errors import bad_request


def reasoning_options(body: dict[str, Any]) -> ReasoningOptions:
    """The request's reasoning choices (a 400 naming the field for a value that cannot be)."""
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        raise bad_request(f"'reasoning_effort' must be one of {', '.join(EFFORTS)}.", "reasoning_effort")
    kwargs = body.get("chat_template_kwargs")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise bad_request("'chat_template_kwargs' must be an object.", "chat_template_kwargs")
    thinking = (kwargs or {}).get("enable_thinking")
    if thinking is not None and not isinstance(thinking, bool):
        raise bad_request("'chat_template_kwargs.enable_thinking' must be true or false.", "chat_template_kwargs")
    return ReasoningOptions(enable_thinking=thinking, effort=effort or "")


def deltas(pieces: list[str]) -> list[tuple[str, str]]:
    """Pieces as (delta field, text): consecutive pieces of one kind merged, in order."""
    out: list[tuple[str, str]] = []
    for piece in pieces:
        key = "reasoning_content" if is_thought(piece) else "content"
        if out and out[-1][0] == key:
            out[-1] = (key, out[-1][1] + piece)
        elif piece:
            out.append((key, str(piece)))
    return out


def answer_and_reasoning(pieces: list[str]) -> tuple[str, str]:
    answer = "".join(piece for piece in pieces if not is_thought(piece))
    return answer, "".join(piece for piece in pieces if is_thought(piece))


def add_reasoning(body: dict[str, Any], reasoning: str) -> dict[str, Any]:
    """A chat completion's body with its ``message.reasoning_content`` (null when the model did not think)."""
    for choice in body.get("choices", []):
        if "message" in choice:
            choice["message"]["reasoning_content"] = reasoning or None
    return body


def usage_details(stats: GenerationStats) -> dict[str, Any]:
    """OpenAI's details of a reply's usage: its reasoning tokens, and the prompt tokens restored from a saved state
    (``engines.state_cache``: an earlier request of this conversation) instead of read."""
    return {
        "completion_tokens_details": {"reasoning_tokens": stats.reasoning_tokens},
        "prompt_tokens_details": {"cached_tokens": stats.restored_tokens},
    }
