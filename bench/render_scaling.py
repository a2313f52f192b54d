"""3. Rendering scales: 20,000 tokens streamed into one message; the last thousand cost no more than the first.

The token pieces are the starter model's own tokens of a long Markdown text, fed through the
app's GUI path (model -> view, repainted) as the engine thread delivers them: a few per frame.
"""

from __future__ import annotations

import os
import time

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
    app, chat, view = offscreen_chat()
    chat.append(ChatItem(role="user", text="Write a very long answer."))
    chat.append(ChatItem(role="assistant", state=MessageState.STREAMING))
    app.processEvents()
    per_thousand: list[float] = []
    started = time.perf_counter()
    for index in range(0, total, TOKENS_PER_FRAME):
        chat.append_to_last("".join(pieces[index : index + TOKENS_PER_FRAME]))
        view.viewport().repaint()  # paint now, as the next frame would
        app.processEvents()
        done = index + TOKENS_PER_FRAME
        if done % 1000 == 0:
            now = time.perf_counter()
            per_thousand.append((now - started) * 1000)
            started = now
    view.close()
    first, last = per_thousand[0], per_thousand[-1]
    ratio = last / first if first else 0.0
    return Section(
        title="3. Rendering scales with message length",
        command="python -m bench render_scaling",
        figures=[
            Figure("tokens streamed into one message", total, "tokens"),
            Figure("first 1,000 tokens (append + repaint)", first, "ms"),
            Figure("last 1,000 tokens (append + repaint)", last, "ms"),
            Figure("last / first", ratio, "×", "≤ 1.10", ratio <= 1.10),
            Figure("per token, last thousand", last / 1000, "ms"),
        ],
        notes=f"{TOKENS_PER_FRAME} tokens per frame, each frame repainted; the message ends {len(''.join(pieces)):,} "
        "characters long.",
    )
