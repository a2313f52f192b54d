"""The command-line faces' turn (`chat`, local or `--engine`): its settings from the arguments, then the reply on stdout
while it streams, a thinking model's reasoning on stderr (dimmed on a terminal; ``--hide-thinking`` drops it), and one
stats line on stderr. ``chat … > answer.txt`` keeps only the answer."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from app.cli.text import message_text
from app.core.chat.session import ChatSession, TurnSettings
from app.core.engines.service import EngineService, GenerationRequest
from app.core.personas.builtin import HERMES_2_SYSTEM_PROMPT
from app.core.personas.prompt_build import describe_activation
from app.core.prompting.parts import ReasoningOptions, is_thought
from app.core.prompting.types import FinishReason, GenerationStats, Sampling

if TYPE_CHECKING:
    from collections.abc import Sequence

    from app.core.knowledge.grounding import Grounding
    from app.core.media.images import CheckedImage
    from app.core.personas.presets import Preset


def turn_from_arguments(
    args: argparse.Namespace, session: ChatSession, preset: Preset | None, model: str, **more: Any
) -> TurnSettings:
    """The turn that `chat`'s options ask for: the preset's sampling with --temperature/--max-tokens/--seed over it, and
    --system, else the continued chat's own system prompt, else the preset's, else Hermes 2's. ``more``: other fields.
    """
    base = preset.sampling if preset else Sampling(max_tokens=512)
    overrides = {"temperature": args.temperature, "max_tokens": args.max_tokens, "seed": args.seed}
    think = getattr(args, "think", None)
    reasoning = ReasoningOptions(
        enable_thinking=None if think is None else think == "on", effort=getattr(args, "reasoning_effort", None) or ""
    )
    system = args.system if args.system is not None else preset.system_prompt if preset else HERMES_2_SYSTEM_PROMPT
    if session.system_message is not None and args.system is None:
        system = session.system_message.content  # a continued chat keeps its own system prompt
    return TurnSettings(
        system_prompt=system,
        model=model,
        preset=preset.id if preset else "",
        speaker=f"{model} · {preset.name}" if preset else model,
        sampling=base.with_overrides(**{k: v for k, v in overrides.items() if v is not None}),
        reasoning=reasoning,
        **more,
    )


def chat_turn(
    session: ChatSession,
    service: EngineService,
    args: argparse.Namespace,
    turn: TurnSettings,
    *,
    saving: bool,
    where: str,
    images: Sequence[CheckedImage] = (),
    grounding: Grounding | None = None,
) -> int:
    """``chat``'s one turn, local or remote: the message sent, streamed to the terminal; 1 if it was not saved.

    ``grounding``: the documents it is asked about (``--knowledge``, ``--attach``): their sources are listed on
    stderr after the reply, "[1] report.pdf, p. 12"."""
    request = session.send(message_text(args.message), turn, images, grounding=grounding)
    if session.built is not None:  # the roleplay's lorebook entries: which fired, and why
        for line in describe_activation(session.built.activation):
            print(line, file=sys.stderr)
    stream_to_terminal(
        session, service, request, saving=saving, where=where, show_thinking=not args.hide_thinking
    )  # fmt: skip
    if grounding is not None:
        from app.cli.knowledge import print_sources

        print_sources(grounding)
    return 1 if session.save_error else 0  # a reply not (fully) saved is a failure for scripts


def stream_to_terminal(
    session: ChatSession,
    service: EngineService,
    request: GenerationRequest,
    *,
    saving: bool,
    where: str,
    show_thinking: bool = True,
) -> GenerationStats:
    """Run ``request`` through ``session`` on ``service``; ``where`` ends the stats line (placement or engine)."""
    dim, plain = ("\x1b[2m", "\x1b[0m") if sys.stderr.isatty() else ("", "")
    thought = [False]  # reasoning was written to stderr and its line is still open

    def write(piece: str) -> None:
        if is_thought(piece):
            if show_thinking:
                sys.stderr.write(f"{dim}{piece}{plain}")
                sys.stderr.flush()
                thought[0] = True
            return
        if thought[0]:
            sys.stderr.write("\n")
            thought[0] = False
        sys.stdout.write(piece)
        sys.stdout.flush()

    stats = session.run(service, request, on_piece=write)
    if thought[0]:
        sys.stderr.write("\n")
    sys.stdout.write("\n")
    reply = session.last()
    if reply is not None and reply.thought_only:
        ran_out = stats.finish_reason == FinishReason.LENGTH
        print(
            f"note: the reply {'ran out of tokens' if ran_out else 'ended'} while thinking: no answer", file=sys.stderr
        )
    if session.save_error:  # the command then exits 1: what was written before the failure stays in the history
        print(f"hermes-studio: {session.save_error}", file=sys.stderr)
    elif saving:
        print(f"saved in chat {session.chat_id}", file=sys.stderr)
    if stats.dropped_messages:
        print(f"note: {stats.dropped_messages} earlier messages were left out to fit the context", file=sys.stderr)
    context = f"context {stats.context_used}/{stats.context_size} · " if stats.context_size else ""
    if stats.restored_tokens:
        context += f"{stats.restored_tokens} prompt tokens from the cache · "
    thinking = f" ({stats.reasoning_tokens} thinking, {stats.reasoning_s:.1f} s)" if stats.reasoning_tokens else ""
    print(
        f"{stats.generated_tokens} tokens{thinking} · {stats.tokens_per_s:.1f} tok/s · "
        f"TTFT {stats.ttft_s * 1000:.0f} ms · {context}{stats.finish_reason} · {where}",
        file=sys.stderr,
    )
    return stats
