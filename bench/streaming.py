"""1. Streaming throughput: raw llama-cpp-python vs the app's whole path, interleaved A/B/A/B.

Raw: ``Llama.create_chat_completion(stream=True)`` consumed in a loop.
App: EngineClient (engine thread) -> batched queued signals -> ChatModel -> ChatView, offscreen.
Same model file, prompt, greedy sampling and token count; each side has its own Llama instance.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import LONG_PROMPT, SAMPLING, Figure, Section, median, offscreen_chat, starter_model, wait_for


def _raw_once(llama, max_tokens: int) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = 0.0
    pieces = 0
    for chunk in llama.create_chat_completion(
        messages=[{"role": "user", "content": LONG_PROMPT}], max_tokens=max_tokens, stream=True, **SAMPLING
    ):
        if chunk["choices"][0]["delta"].get("content"):
            pieces += 1
            if not first:
                first = time.perf_counter()
    end = time.perf_counter()
    return end - started, first - started, pieces


def run(quick: bool = False) -> Section:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.core.engines.llama_adapter import import_llama_cpp as _import_llama_cpp
    from app.core.engines.load_options import LoadOptions
    from app.core.prompting.types import Sampling
    from app.ui.chat.chat_model import ChatItem, MessageState
    from app.ui.engines.engine_client import EngineClient

    rounds, max_tokens = (1, 64) if quick else (10, 320)
    model = starter_model()
    _app, chat, view = offscreen_chat(900, 700)  # the QApplication must outlive the run
    llama_cpp = _import_llama_cpp()
    raw = llama_cpp.Llama(model_path=str(model), n_ctx=2048, verbose=False)

    client = EngineClient()
    wait_for(client.model_loaded, lambda: client.load(str(model), LoadOptions(context_size=2048)))

    def app_once() -> tuple[float, float, Any]:
        chat.append(ChatItem(role="user", text=LONG_PROMPT))
        chat.append(ChatItem(role="assistant", state=MessageState.STREAMING))
        state: dict[str, Any] = {"first": 0.0, "done": None}

        def on_tokens(_rid: int, text: str) -> None:
            if not state["first"]:
                state["first"] = time.perf_counter()
            chat.append_to_last(text)

        def on_done(_rid: int, stats) -> None:
            chat.finish_last(MessageState.DONE, stats)
            state["done"] = stats

        client.tokens.connect(on_tokens)
        client.generation_finished.connect(on_done)
        started = time.perf_counter()
        wait_for(
            client.generation_finished,
            lambda: client.generate(
                [{"role": "user", "content": LONG_PROMPT}], Sampling(max_tokens=max_tokens, **SAMPLING)
            ),
        )
        end = time.perf_counter()
        client.tokens.disconnect(on_tokens)
        client.generation_finished.disconnect(on_done)
        return end - started, state["first"] - started, state["done"]

    # warm both (first prompt evaluation, page cache), then interleave
    _raw_once(raw, 8)
    app_once()
    raw_rates: list[float] = []
    app_rates: list[float] = []
    raw_ttft: list[float] = []
    app_ttft: list[float] = []
    tokens_seen = 0

    def raw_round() -> None:
        seconds, ttft, _pieces = _raw_once(raw, max_tokens)
        raw_rates.append((raw.n_tokens - raw_prompt_tokens + 1) / seconds)  # the last sampled token is not evaluated
        raw_ttft.append(ttft)

    def app_round() -> None:
        nonlocal tokens_seen
        app_seconds, app_first, stats = app_once()
        tokens_seen = stats.generated_tokens
        app_rates.append(stats.generated_tokens / app_seconds)
        app_ttft.append(app_first)

    raw_prompt_tokens = app_once()[2].prompt_tokens  # the same prompt text on both sides
    for index in range(rounds):  # A B B A ...: slow drifts of the machine cancel out
        for run_round in (raw_round, app_round) if index % 2 == 0 else (app_round, raw_round):
            run_round()
    client.shutdown()
    raw.close()
    view.close()

    raw_rate, app_rate = median(raw_rates), median(app_rates)
    # Each round's app run is paired with the raw run next to it: the median of those ratios is less
    # sensitive to the machine's drift than the ratio of two medians.
    ratio = median([app / raw for app, raw in zip(app_rates, raw_rates, strict=True)])
    ttft_delta_ms = (median(app_ttft) - median(raw_ttft)) * 1000
    return Section(
        title="1. Streaming throughput (app vs raw llama-cpp-python)",
        command="python -m bench streaming",
        figures=[
            Figure(
                "tokens per reply",
                tokens_seen,
                "tokens",
                "≥ 256" if not quick else "",
                None if quick else tokens_seen >= 256,
            ),
            Figure("raw create_chat_completion(stream=True)", raw_rate, "tok/s"),
            Figure("app: engine thread → signals → model → view", app_rate, "tok/s"),
            Figure("ratio app / raw", ratio, "×", "≥ 0.98", ratio >= 0.98),
            Figure("raw time to first token", median(raw_ttft) * 1000, "ms"),
            Figure("app time to first token (on the GUI thread)", median(app_ttft) * 1000, "ms"),
            Figure("app TTFT minus raw TTFT", ttft_delta_ms, "ms", "≤ +20 ms", ttft_delta_ms <= 20),
        ],
        notes=f"{rounds} interleaved rounds (A/B/B/A), greedy, prompt: {LONG_PROMPT!r}; rates are medians, the "
        "ratio is the median of each round's app/raw pair. Rates are whole-request: tokens / (request → last "
        "token). Run to run, the ratio moves by about ±2 % on this shared 2-core machine.",
    )
