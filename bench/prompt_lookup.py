"""Prompt-lookup decoding: decode speed with drafts vs plain decoding, on a repetitive and a free-text prompt.

The same process, engines interleaved, greedy; plain decoding with flash attention on (as drafting loads) and with
the app's default (auto: off on a CPU). The replies with and without drafts must be identical.
"""

from __future__ import annotations

from typing import Any

from bench.common import SAMPLING, Figure, Section, median, starter_model

CODE = '''def parse_config(path):
    """Read a config file of key = value lines."""
    values = {}
    with open(path, encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise ValueError(f"line {number}: no '=' in {line!r}")
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values
'''
PROMPTS = {
    "repetitive": f"Here is a function:\n```python\n{CODE}```\nRepeat this code with one change: the function is "
    "called load_config.",
    "free text": "Write a short story about a lighthouse keeper who finds a message in a bottle.",
}


def _decode(engine: Any, prompt: str, tokens: int) -> tuple[float, str, Any]:
    from app.core.prompting.types import Sampling

    generation = engine.stream([{"role": "user", "content": prompt}], Sampling(**SAMPLING, max_tokens=tokens))
    text = generation.text()
    stats = generation.stats
    return stats.generated_tokens / max(stats.total_s - stats.ttft_s, 1e-9), text, stats


def run(quick: bool = False) -> Section:
    from app.core.engines.llama_engine import LlamaEngine
    from app.core.engines.load_options import LoadOptions

    model, tokens, rounds = starter_model(), (24 if quick else 120), (1 if quick else 3)
    base = LoadOptions(context_size=2048)
    engines = {"plain (flash attention on)": base.with_overrides(flash_attn="on"), "plain (default)": base}
    drafts = (4,) if quick else (4, 10)
    engines.update({f"prompt lookup {n}": base.with_overrides(prompt_lookup=n) for n in drafts})
    loaded = {}
    for name, options in engines.items():
        loaded[name] = LlamaEngine()
        loaded[name].load(model, options)
    figures: list[Figure] = []
    same = True
    try:
        for kind, prompt in PROMPTS.items():
            speeds: dict[str, list[float]] = {name: [] for name in loaded}
            texts: dict[str, str] = {}
            accepted: dict[str, tuple[int, int]] = {}
            for _ in range(rounds):
                for name, engine in loaded.items():
                    speed, texts[name], stats = _decode(engine, prompt, tokens)
                    speeds[name].append(speed)
                    accepted[name] = (stats.accepted_tokens, stats.drafted_tokens)
                    print(f"  {kind}, {name}: {speed:.1f} tok/s, {stats.accepted_tokens}/{stats.drafted_tokens} drafts")
            reference = median(speeds["plain (flash attention on)"])
            default = median(speeds["plain (default)"])
            figures.append(Figure(f"{kind}: plain decoding (flash attention on)", reference, "tok/s"))
            figures.append(Figure(f"{kind}: plain decoding (default options)", default, "tok/s"))
            for n in drafts:
                name = f"prompt lookup {n}"
                same = same and texts[name] == texts["plain (flash attention on)"]
                kept, made = accepted[name]
                figures.append(Figure(f"{kind}: drafts of {n}, speed / plain (same options)",
                                      median(speeds[name]) / reference, "x"))  # fmt: skip
                figures.append(Figure(f"{kind}: drafts of {n}, speed / plain (default)",
                                      median(speeds[name]) / default, "x"))  # fmt: skip
                figures.append(Figure(f"{kind}: drafts of {n}, tokens accepted / drafted", kept / max(made, 1), ""))
        figures.append(Figure("greedy replies identical with and without drafts (1 = yes)", float(same), "", "1", same))
    finally:
        for engine in loaded.values():
            engine.unload()
    return Section(
        title="Prompt-lookup decoding (load option; off by default)",
        command="python -m bench prompt_lookup",
        figures=figures,
        notes=f"Median of {rounds} interleaved greedy replies of {tokens} tokens each; speed after the first token.",
    )
