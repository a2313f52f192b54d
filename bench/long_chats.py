"""Long chats: time to the first token when a chat is continued, read cold vs restored from a saved state.

For each size, one chat of that many tokens is answered once (its state is saved), another chat is used (the
context no longer holds the first), then the first is continued: with the state cache (memory tier), by a new
engine on the same cache folder (the disk tier: a new process), and by an engine without a cache (cold, the
baseline), then its first reply is regenerated (from the saved state, cut back). Greedy replies are compared: the
memory and disk tiers must agree and the regenerated reply must be the first one; whether the continued chat's reply
equals the cold read's is reported only (llama.cpp's CPU kernels give a token read alone, as the earlier reply's
were, other values than inside a batch). Last, what reading a prompt's last token alone costs (``_last_token_alone``).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, Section, starter_model

BYTES_PER_TOKEN_7B = 2 * 32 * 8 * 128 * 2  # K and V, 32 layers, 8 KV heads of 128, f16 (Mistral 7B)


def _chat(tokens: int, subject: str = "item") -> list[dict[str, str]]:
    facts = " ".join(f"Note {i}: {subject} {i} weighs {i * 7 % 13} kg." for i in range(tokens // 12))
    system = f"Remember these notes on each {subject}. {facts}"
    return [{"role": "system", "content": system}, {"role": "user", "content": "Summarise."}]


def _ttft(engine: Any, messages: list[dict[str, str]]) -> tuple[float, str, int]:
    from app.core.prompting.types import Sampling

    generation = engine.stream(messages, Sampling(temperature=0.0, max_tokens=8, seed=1))
    text = generation.text()
    stats = generation.stats
    print(f"  {stats.prompt_tokens} prompt tokens, {stats.restored_tokens} restored, TTFT {stats.ttft_s:.3f} s")
    return stats.ttft_s, text, stats.prompt_tokens


def _read_s(llama: Any, tokens: list[int], last_alone: bool) -> tuple[float, float]:
    """Seconds to read ``tokens`` into an empty context: in ``n_batch`` chunks (llama-cpp-python's own read, the
    last token inside the last chunk), or all but the last in those chunks and then the last alone (the engine's);
    and, for the latter, the seconds of the last token's own decode."""
    llama.reset()
    started = time.perf_counter()
    if not last_alone:
        llama.eval(tokens)
        return time.perf_counter() - started, 0.0
    llama.eval(tokens[:-1])
    last = time.perf_counter()
    llama.eval(tokens[-1:])
    ended = time.perf_counter()
    return ended - started, ended - last


def _last_token_alone(engine: Any, sizes: list[int], runs: int) -> list[Figure]:
    """What reading a prompt's last token alone costs (one more llama_decode of one token), same run, alternated."""
    llama = engine._require()
    figures = []
    for size in sizes:
        messages = _chat(size) if size >= 100 else [{"role": "user", "content": "Name three deserts."}]
        tokens = engine.prompt_tokens(engine.render_prompt(messages))
        together, alone, last = [], [], []
        for _ in range(runs):
            together.append(_read_s(llama, tokens, last_alone=False)[0])
            whole, own = _read_s(llama, tokens, last_alone=True)
            alone.append(whole)
            last.append(own)
        name = f"{len(tokens)}-token prompt read (median of {runs})"
        figures += [
            Figure(f"{name}: last token in its batch", statistics.median(together) * 1000, "ms"),
            Figure(f"{name}: last token alone", statistics.median(alone) * 1000, "ms"),
            Figure(f"{name}: the last token's own decode", statistics.median(last) * 1000, "ms"),
        ]
    llama.reset()
    return figures


def run(quick: bool = False, sizes: list[int] | None = None) -> Section:
    """``sizes``: the chats' sizes in notes' tokens (about 0.8 of the prompt's tokens: 6400 gives an ~8,000-token
    chat; ``python -m bench.long_chats 6400``); the context grows to hold the largest."""
    from app.core.engines.llama_engine import LlamaEngine
    from app.core.engines.llama_state import restore_sequence, save_sequence
    from app.core.engines.load_options import LoadOptions
    from app.core.engines.state_cache import StateCache

    model = starter_model()
    sizes = sizes or ([300] if quick else [500, 2000])
    options = LoadOptions(context_size=max(4096, -(-max(sizes) * 3 // 2 // 1024) * 1024))
    figures: list[Figure] = []
    same = matches_cold = True
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "states"
        cold = LlamaEngine()  # keeps no states
        cold.load(model, options)
        cache = StateCache(folder)
        warm = LlamaEngine(cache)
        warm.load(model, options)
        other = _chat(300, subject="parcel")  # another chat: nothing in common but the template
        for size in sizes:
            chat = _chat(size)
            _first, answer, prompt_tokens = _ttft(warm, chat)
            continued = [*chat, {"role": "assistant", "content": answer}, {"role": "user", "content": "And item 3?"}]
            _ttft(warm, other)
            memory_s, memory_text, _ = _ttft(warm, continued)
            _ttft(cold, other)
            cold_s, cold_text, _ = _ttft(cold, continued)
            cache.flush()
            disk = LlamaEngine(StateCache(folder, memory_budget=0))
            disk.load(model, options)
            disk_s, disk_text, _ = _ttft(disk, continued)
            disk.unload()
            _ttft(warm, other)
            _regenerate_s, regenerated, _ = _ttft(warm, chat)  # the first reply again, from the saved state
            same = same and memory_text == disk_text and regenerated == answer
            matches_cold = matches_cold and memory_text == cold_text
            if not memory_text == cold_text == disk_text or regenerated != answer:
                print(f"  replies: cold {cold_text!r}, memory {memory_text!r}, disk {disk_text!r}; "
                      f"first {answer!r}, regenerated {regenerated!r}")  # fmt: skip
            figures += [
                Figure(f"{prompt_tokens}-token chat: TTFT read cold (baseline)", cold_s * 1000, "ms"),
                Figure(f"{prompt_tokens}-token chat: TTFT restored from memory", memory_s * 1000, "ms"),
                Figure(f"{prompt_tokens}-token chat: TTFT restored from disk (new engine)", disk_s * 1000, "ms"),
                Figure(
                    f"{prompt_tokens}-token chat: cold / restored (disk)",
                    cold_s / max(disk_s, 1e-9),
                    "x",
                    ">= 10x" if prompt_tokens >= 2000 else "",
                    cold_s / max(disk_s, 1e-9) >= 10 if prompt_tokens >= 2000 else None,
                ),
            ]
        llama = warm._require()
        state = save_sequence(llama)
        held = list(llama.input_ids[: llama.n_tokens])
        saves, restores = [], []
        for _ in range(3):
            started = time.perf_counter()
            state = save_sequence(llama)
            saves.append(time.perf_counter() - started)
            started = time.perf_counter()
            restore_sequence(llama, state, held, len(held))
            restores.append(time.perf_counter() - started)
        per_1000 = len(state) / max(1, len(held)) * 1000
        figures += [
            Figure(f"save a {len(held)}-token state, median", statistics.median(saves) * 1000, "ms"),
            Figure(f"restore a {len(held)}-token state, median", statistics.median(restores) * 1000, "ms"),
            Figure("state bytes per 1,000 tokens (starter, f16 KV)", per_1000 / 1e6, "MB"),
            Figure("state bytes per 1,000 tokens (7B by the formula)", BYTES_PER_TOKEN_7B * 1000 / 1e6, "MB"),
            Figure("restored replies: memory = disk, regenerate = first (1 = yes)", float(same), "", "1", same),
            Figure("continued chat: restored reply = a cold read's (1 = yes; not guaranteed)", float(matches_cold), ""),
        ]
        figures += _last_token_alone(warm, [0, 1600], runs=3 if quick else 5)
        warm.unload()
        cold.unload()
    return Section(
        title="Long chats: saved states",
        command="python -m bench long_chats",
        figures=figures,
        notes="A chat is continued after another chat was used; 'disk' is a new engine on the same cache folder.",
    )


if __name__ == "__main__":
    import sys

    run(sizes=[int(size) for size in sys.argv[1:]] or None).print()
