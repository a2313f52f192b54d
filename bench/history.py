"""Chat history at scale: open a stored chat of 1,000 messages, then stream into it (issue: history)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Figure, Section, offscreen_chat, percentile, sample_markdown


def run(quick: bool = False) -> Section:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from app.core.chat.session import TurnSettings
    from app.core.history.store import ChatStore

    count = 200 if quick else 1000
    with tempfile.TemporaryDirectory() as scratch:
        store = ChatStore(Path(scratch) / "chats.sqlite3")
        chat = store.create_chat(model="bench")
        parent = store.add_message(chat, None, "system", "You are a benchmark.").id
        started = time.perf_counter()
        for index in range(count // 2):
            parent = store.add_message(chat, parent, "user", f"Question {index}?").id
            parent = store.add_message(chat, parent, "assistant", sample_markdown(index)).id
        fill_s = time.perf_counter() - started

        app, bench_chat, view = offscreen_chat(store=store)
        session = bench_chat.session
        opens = []
        for _ in range(3 if quick else 5):
            session.new()
            app.processEvents()
            started = time.perf_counter()
            session.open(chat)
            app.processEvents()
            opens.append(time.perf_counter() - started)

        session.send("One more, please.", TurnSettings(system_prompt="You are a benchmark.", model="bench"))
        appends = []
        for index in range(200 if quick else 1000):
            started = time.perf_counter()
            session.append(f" token{index}")
            view.viewport().repaint()
            appends.append(time.perf_counter() - started)
        view.close()
        store.close()
    app.processEvents()
    open_ms = statistics.median(opens) * 1000
    append_ms = statistics.median(appends) * 1000
    return Section(
        title="History: a 1,000-message chat",
        command="python -m bench history",
        figures=[
            Figure("messages in the chat", count, "msgs"),
            Figure("writing them to SQLite (one transaction each)", fill_s * 1000, "ms"),
            Figure("open the chat (load path + lay out + paint), median", open_ms, "ms"),
            Figure("append one token while streaming (model + save + repaint), median", append_ms, "ms"),
            Figure("append one token, p99", percentile(appends, 0.99) * 1000, "ms"),
        ],
        notes="The reply is saved at most every 0.5 s while it grows; the p99 includes those writes.",
    )
