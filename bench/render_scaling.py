"""3. Rendering scales: 20,000 tokens streamed into one message; the last thousands cost no more than the same
tokens streamed into a fresh message, measured right after (the baseline: same content on screen, same machine speed).

The token pieces are the starter model's own tokens of a long Markdown text, fed through the
app's GUI path (model -> view, repainted) as the engine thread delivers them: a few per frame.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from bench.common import Figure, Section, offscreen_chat, sample_markdown, starter_model

TOKENS_PER_FRAME = 4  # ~240 tok/s at 60 frames/s, faster than this machine generates


def token_pieces(count: int) -> list[str]:
    from app.core.engines.llama_adapter import import_llama_cpp as _import_llama_cpp

    llama_cpp = _import_llama_cpp()
    vocab = llama_cpp.Llama(model_path=str(starter_model()), vocab_only=True, verbose=False)
    text = "".join(sample_markdown(i) + "\n" for i in range(400))
    tokens = vocab.tokenize(text.encode(), add_bos=False)
    while len(tokens) < count:
        tokens += tokens
    pieces = [vocab.detokenize([t]).decode("utf-8", "replace") for t in tokens[:count]]
    vocab.close()
    return pieces


def run(quick: bool = False) -> Section:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from app.ui.chat.chat_model import ChatItem, MessageState

    total = 3000 if quick else 20_000
    pieces = token_pieces(total)

    def new_reply() -> tuple[Any, Any, Any]:
        app, chat, view = offscreen_chat()
        chat.append(ChatItem(role="user", text="Write a very long answer."))
        chat.append(ChatItem(role="assistant", state=MessageState.STREAMING))
        app.processEvents()
        return app, chat, view

    def stream(reply: tuple[Any, Any, Any], start: int) -> float:
        """ms to append and repaint pieces[start : start + 1000] a few per frame, as the engine delivers them."""
        app, chat, view = reply
        started = time.perf_counter()
        for index in range(start, start + 1000, TOKENS_PER_FRAME):
            chat.append_to_last("".join(pieces[index : index + TOKENS_PER_FRAME]))
            view.viewport().repaint()  # paint now, as the next frame would
            app.processEvents()
        return (time.perf_counter() - started) * 1000

    # Each thousand tokens goes into the long reply, then (the baseline, in the same moment) into a fresh reply of
    # its own: what is on screen and the machine's speed change from one thousand to the next, the length does not.
    long_reply = new_reply()
    into_long: list[float] = []
    into_fresh: list[float] = []
    for start in range(0, total, 1000):
        into_long.append(stream(long_reply, start))
        fresh = new_reply()
        into_fresh.append(stream(fresh, start))
        fresh[2].close()
    long_reply[2].close()
    per_thousand = [a / b for a, b in zip(into_long, into_fresh, strict=True)]
    first, last = into_long[0], statistics.median(into_long[-3:])
    ratio = statistics.median(per_thousand[-3:])
    return Section(
        title="3. Rendering scales with message length",
        command="python -m bench render_scaling",
        figures=[
            Figure("tokens streamed into one message", total, "tokens"),
            Figure("first 1,000 tokens (append + repaint)", first, "ms"),
            Figure("last 1,000 tokens, median of the last three", last, "ms"),
            Figure("last thousands, long reply / fresh reply (same tokens)", ratio, "×", "≤ 1.10", ratio <= 1.10),
            Figure("per token, last thousand", into_long[-1] / 1000, "ms"),
        ],
        notes=f"{TOKENS_PER_FRAME} tokens per frame, each frame repainted; the message ends {len(''.join(pieces)):,} "
        "characters long. Long / fresh for each thousand: " + ", ".join(f"{v:.2f}" for v in per_thousand) + ".",
    )
