"""Big or hostile text arriving in the chat: the event loop's stalls while it is shown (part of bench 2).

Each input arrives as one finished message (as a tool result, an imported chat or a document would) in an
offscreen chat view; a 1 ms precise timer on the GUI thread measures how late the event loop comes back, from
the message's arrival until its layout is done. Then "Show all" is clicked and measured the same way. One input is
also streamed in (a long line, a few thousand characters a frame, as a fast model or a remote server sends it).
"""

from __future__ import annotations

import functools
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.common import StallTicks

SETTLE_S = 0.25  # the probe keeps running this long after the layout is done


def inputs(quick: bool) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits  # no break opportunity anywhere (a base64 blob without + and /)
    rng = random.Random(1)
    blob = "".join(rng.choices(alphabet, k=500_000))
    big = blob * 10
    return {
        "500,000-char line without spaces": blob,
        "5 MB line without spaces": big,
        "200,000 chars of *a": "*a" * 100_000,
    }


@dataclass
class Probe:
    """How late a 1 ms timer fires on the GUI thread (ms beyond the 1 ms), for as long as it runs."""

    stalls: list[float]

    @classmethod
    def run(cls, app, until: Callable[[], bool], act: Callable[[], object], deadline_s: float = 120.0) -> Probe:
        from PySide6.QtCore import QEventLoop, QTimer

        ticks = StallTicks()
        loop = QEventLoop()
        started, done_at = time.perf_counter(), [0.0]

        def check() -> None:  # the real event loop runs; this looks every 10 ms whether the work is done
            now = time.perf_counter()
            if now - started > deadline_s:
                loop.quit()
            elif now - started > 0.05 and until():
                done_at[0] = done_at[0] or now
                if now - done_at[0] > SETTLE_S:
                    loop.quit()

        checker = QTimer(interval=10)
        checker.timeout.connect(check)
        ticks.start()
        checker.start()
        QTimer.singleShot(20, act)
        loop.exec()
        ticks.stop()
        checker.stop()
        return cls(ticks.stalls)


def measure(quick: bool) -> list[tuple[str, str, list[float], float]]:
    """(input, how it came, stalls in ms, seconds until laid out) for each input and way."""
    from app.ui.chat.big_messages import show_all
    from app.ui.chat.chat_model import ChatItem, MessageState
    from bench.common import offscreen_chat

    results = []
    for name, text in inputs(quick).items():
        app, chat, view = offscreen_chat()
        chat.append(ChatItem(role="user", text="Paste it here."))
        app.processEvents()
        idle = functools.partial(lambda view: not view.pending_layouts.busy(), view)
        arrive = functools.partial(chat.append, ChatItem(role="assistant", text=text))
        started = time.perf_counter()
        probe = Probe.run(app, idle, arrive)
        results.append((name, "arrives", probe.stalls, time.perf_counter() - started - SETTLE_S))
        if quick:  # (showing all of it takes seconds of background layout: the full run measures it)
            view.close()
            continue
        started = time.perf_counter()
        probe = Probe.run(app, idle, functools.partial(show_all, view, 1))
        results.append((name, "Show all", probe.stalls, time.perf_counter() - started - SETTLE_S))
        view.close()
    app, chat, view = offscreen_chat()
    chat.append(ChatItem(role="user", text="Print a long token."))
    chat.append(ChatItem(role="assistant", state=MessageState.STREAMING))
    app.processEvents()
    line = inputs(quick)["500,000-char line without spaces"][: 100_000 if quick else 500_000]
    sent = [0]
    step = 4_000  # characters a frame (~240,000 a second)

    def feed() -> None:
        from PySide6.QtCore import QTimer

        if sent[0] < len(line):
            chat.append_to_last(line[sent[0] : sent[0] + step])
            sent[0] += step
            QTimer.singleShot(16, feed)

    started = time.perf_counter()
    probe = Probe.run(app, lambda: sent[0] >= len(line) and not view.pending_layouts.busy(), feed)
    results.append((f"{len(line):,}-char line", "streamed, 4,000 chars a frame", probe.stalls, 0.0))
    view.close()
    return results
