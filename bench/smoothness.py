"""2. GUI smoothness while streaming into a chat that already holds 1,000 long Markdown messages,
and while big or hostile text arrives (``bench/hostile_text.py``).

A 1 ms precise timer runs on the GUI thread; how late it fires while the real engine streams at
full speed is the event loop's stall.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench import hostile_text
from bench.common import (
    LONG_PROMPT,
    Figure,
    Section,
    StallTicks,
    median,
    offscreen_chat,
    percentile,
    sample_markdown,
    starter_model,
    wait_for,
)


def run(quick: bool = False) -> Section:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from app.core.engines.load_options import LoadOptions
    from app.core.prompting.types import Sampling
    from app.ui.chat.chat_model import ChatItem, MessageState
    from app.ui.engines.engine_client import EngineClient

    history, max_tokens = (200, 64) if quick else (1000, 320)
    app, chat, view = offscreen_chat()
    started = time.perf_counter()
    items = []
    for index in range(history // 2):
        items.append(ChatItem(role="user", text=f"Question {index}: how do I sum the squares of a list?"))
        items.append(ChatItem(role="assistant", text=sample_markdown(index)))
    chat.extend(items)
    app.processEvents()
    open_seconds = time.perf_counter() - started

    client = EngineClient()
    wait_for(client.model_loaded, lambda: client.load(str(starter_model()), LoadOptions(context_size=2048)))
    chat.append(ChatItem(role="user", text=LONG_PROMPT))
    chat.append(ChatItem(role="assistant", state=MessageState.STREAMING))
    ticks = StallTicks()
    stalls = ticks.stalls
    client.tokens.connect(lambda _rid, text: chat.append_to_last(text))
    result: dict[str, Any] = {}
    client.generation_finished.connect(lambda _rid, stats: result.setdefault("stats", stats))
    ticks.start()
    wait_for(
        client.generation_finished,
        lambda: client.generate(
            [{"role": "user", "content": LONG_PROMPT}], Sampling(temperature=0.0, max_tokens=max_tokens)
        ),
    )
    ticks.stop()
    chat.finish_last(MessageState.DONE, result.get("stats"))
    client.shutdown()
    view.close()
    stats = result["stats"]
    p99 = percentile(stalls, 0.99)
    hostile: list[Figure] = []
    for name, way, probe, seconds in hostile_text.measure(quick):
        worst, late = percentile(probe, 0.99), max(probe, default=0.0)
        target = way != "Show all"  # showing all of 5 MB is the user's choice; it is measured, not held to 16 ms
        verdict = worst < 16 if target else None
        hostile.append(Figure(f"{name}, {way}: stall p99", worst, "ms", "< 16 ms" if target else "", verdict))
        hostile.append(Figure(f"{name}, {way}: stall max", late, "ms"))
        if seconds:
            hostile.append(Figure(f"{name}, {way}: until laid out", seconds * 1000, "ms"))
    return Section(
        title="2. GUI smoothness while streaming (event-loop stalls)",
        command="python -m bench smoothness",
        figures=[
            Figure("messages already in the chat", history, "msgs"),
            Figure("time to show those messages (setup)", open_seconds * 1000, "ms"),
            Figure("tokens streamed", stats.generated_tokens, "tokens"),
            Figure("streaming speed meanwhile", stats.tokens_per_s, "tok/s"),
            Figure("stall p50", median(stalls), "ms"),
            Figure("stall p99", p99, "ms", "< 16 ms", p99 < 16),
            Figure("stall max", max(stalls, default=0.0), "ms"),
            *hostile,
        ],
        notes=f"{len(stalls)} timer ticks; a stall is how much later than 1 ms the next tick came. "
        "Offscreen, 1000×800 view. Big or hostile text: one finished message arrives in a chat (its first blocks "
        "laid out at once, the rest a frame's budget per turn), then Show all is clicked; the line is also streamed "
        "in. "
        "Before this (same machine, same inputs, the whole message laid out at once): the 500,000-char line "
        "blocked the GUI thread 9.7 s, 200,000 chars of `*a` 20.8 s, the 5 MB line more than 5 minutes (stopped).",
    )
