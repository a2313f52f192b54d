"""The command-line faces' turn (`chat`, local or `--engine`): its settings from the arguments, then the reply on stdout
and one stats line on stderr while it streams."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from app.core.chat.session import ChatSession, TurnSettings
from app.core.engines.service import EngineService, GenerationRequest
from app.core.personas.builtin import HERMES_2_SYSTEM_PROMPT
from app.core.prompting.types import GenerationStats, Sampling

if TYPE_CHECKING:
    from app.core.personas.presets import Preset


def turn_from_arguments(
    args: argparse.Namespace, session: ChatSession, preset: Preset | None, model: str, **more: Any
) -> TurnSettings:
    """The turn that `chat`'s options ask for: the preset's sampling with --temperature/--max-tokens/--seed over it, and
    --system, else the continued chat's own system prompt, else the preset's, else Hermes 2's. ``more``: other fields.
    """
    base = preset.sampling if preset else Sampling(max_tokens=512)
    overrides = {"temperature": args.temperature, "max_tokens": args.max_tokens, "seed": args.seed}
    system = args.system if args.system is not None else preset.system_prompt if preset else HERMES_2_SYSTEM_PROMPT
    if session.system_message is not None and args.system is None:
        system = session.system_message.content  # a continued chat keeps its own system prompt
    return TurnSettings(
        system_prompt=system,
        model=model,
        preset=preset.id if preset else "",
        speaker=f"{model} · {preset.name}" if preset else model,
        sampling=base.with_overrides(**{k: v for k, v in overrides.items() if v is not None}),
        **more,
    )


def stream_to_terminal(
    session: ChatSession, service: EngineService, request: GenerationRequest, *, saving: bool, where: str
) -> GenerationStats:
    """Run ``request`` through ``session`` on ``service``; ``where`` ends the stats line (placement or engine)."""

    def write(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    stats = session.run(service, request, on_piece=write)
    sys.stdout.write("\n")
    if session.save_error:  # the command then exits 1: what was written before the failure stays in the history
        print(f"hermes-studio: {session.save_error}", file=sys.stderr)
    elif saving:
        print(f"saved in chat {session.chat_id}", file=sys.stderr)
    if stats.dropped_messages:
        print(f"note: {stats.dropped_messages} earlier messages were left out to fit the context", file=sys.stderr)
    context = f"context {stats.context_used}/{stats.context_size} · " if stats.context_size else ""
    if stats.restored_tokens:
        context += f"{stats.restored_tokens} prompt tokens from the cache · "
    print(
        f"{stats.generated_tokens} tokens · {stats.tokens_per_s:.1f} tok/s · TTFT {stats.ttft_s * 1000:.0f} ms · "
        f"{context}{stats.finish_reason} · {where}",
        file=sys.stderr,
    )
    return stats
