"""What the command-line faces print while a turn streams: the reply on stdout, one stats line on stderr."""

from __future__ import annotations

import sys

from app.core.chat.session import ChatSession
from app.core.chat.types import GenerationStats
from app.core.engines.service import EngineService, GenerationRequest


def stream_to_terminal(
    session: ChatSession, service: EngineService, request: GenerationRequest, *, saving: bool, where: str
) -> GenerationStats:
    """Run ``request`` through ``session`` on ``service``; ``where`` ends the stats line (placement or engine)."""

    def write(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    stats = session.run(service, request, on_piece=write)
    sys.stdout.write("\n")
    if session.save_error:
        print(f"warning: {session.save_error}", file=sys.stderr)
    elif saving:
        print(f"saved in chat {session.chat_id}", file=sys.stderr)
    if stats.dropped_messages:
        print(f"note: {stats.dropped_messages} earlier messages were left out to fit the context", file=sys.stderr)
    context = f"context {stats.context_used}/{stats.context_size} · " if stats.context_size else ""
    print(
        f"{stats.generated_tokens} tokens · {stats.tokens_per_s:.1f} tok/s · TTFT {stats.ttft_s * 1000:.0f} ms · "
        f"{context}{stats.finish_reason} · {where}",
        file=sys.stderr,
    )
    return stats
