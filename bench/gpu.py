"""7. GPU offload: prompt and generation speed at 0 layers, auto and all layers, and the app's streaming
ratio against raw llama-cpp-python with the same offload.

Each setting loads the model through the app's Engine (the offload plan, the placement) and a raw
``Llama`` with the same resolved layer count and flash attention. Speeds are the app's own stats:
prompt tok/s = prompt tokens / time to first token (a fresh prompt each round: nothing cached),
generation tok/s after the first token. The ratio pairs each app round (EngineService: the engine thread,
callbacks) with the raw ``create_chat_completion(stream=True)`` round next to it, as bench/streaming.py does.
On a machine without a GPU, auto resolves to 0 layers and says so; "all" asks for every layer and runs
on the CPU.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import SAMPLING, Figure, Section, median, starter_model

TOPIC = (
    "Explain how a steam locomotive works: the firebox, the boiler, the cylinders, the valve gear and the "
    "driving wheels, and why the design lasted for more than a century before diesel engines replaced it. "
)


def _prompt(index: int, repeat: int) -> str:
    return f"Question {index}. " + TOPIC * repeat  # a different start each round: no prefix in the KV cache


def _app_round(service, index: int, max_tokens: int, repeat: int) -> tuple[float, float, float]:
    """(whole-request tok/s, prompt tok/s, generation tok/s) of one reply through the app's engine service."""
    from app.core.engines.service import GenerationRequest
    from app.core.prompting.types import Sampling

    messages: list[Any] = [{"role": "user", "content": _prompt(index, repeat)}]
    request = GenerationRequest(messages, Sampling(max_tokens=max_tokens, **SAMPLING))
    started = time.perf_counter()
    stats = service.generate(request, lambda _piece: None).result()
    seconds = time.perf_counter() - started
    prompt_rate = stats.prompt_tokens / stats.ttft_s if stats.ttft_s else 0.0
    return stats.generated_tokens / seconds, prompt_rate, stats.tokens_per_s


def _raw_round(raw, index: int, max_tokens: int, repeat: int) -> float:
    """Whole-request tok/s of one raw ``create_chat_completion(stream=True)``."""
    messages: list[Any] = [{"role": "user", "content": _prompt(index, repeat)}]
    started = time.perf_counter()
    pieces = 0
    for chunk in raw.create_chat_completion(messages=messages, max_tokens=max_tokens, stream=True, **SAMPLING):
        pieces += bool(chunk["choices"][0]["delta"].get("content"))  # one piece of text per token
    return pieces / (time.perf_counter() - started)


def _measure(service, raw, rounds: int, max_tokens: int, *, repeat: int, first: int, warm: bool):
    """Interleaved A B B A rounds: the same prompt and greedy sampling, so the same tokens on both sides."""
    prompt_rates, generation_rates, ratios = [], [], []
    if warm:  # page cache, first graph
        _app_round(service, first, max_tokens, repeat)
        _raw_round(raw, first, max_tokens, repeat)
    for index in range(first + 1, first + 1 + rounds):
        if index % 2 == 0:
            raw_rate = _raw_round(raw, index, max_tokens, repeat)
        app_rate, prompt_rate, generation_rate = _app_round(service, index, max_tokens, repeat)
        if index % 2 == 1:
            raw_rate = _raw_round(raw, index, max_tokens, repeat)
        prompt_rates.append(prompt_rate)
        generation_rates.append(generation_rate)
        ratios.append(app_rate / raw_rate if raw_rate else 0.0)
    return prompt_rates, generation_rates, ratios


def run(quick: bool = False) -> Section:
    from app.core.engines.devices import list_devices
    from app.core.engines.llama_adapter import import_llama_cpp
    from app.core.engines.load_options import LoadOptions
    from app.core.engines.offload import ALL, AUTO, KV_TYPES, flash_attention_on, gpu_layers_label, plan_offload
    from app.core.engines.service import EngineService
    from app.core.library.gguf_file import read_gguf

    rounds, max_tokens, repeat = (1, 8, 1) if quick else (4, 96, 4)
    model = starter_model()
    report = list_devices()
    device = report.offload_device
    where = device.label if device else "no GPU device"
    llama_cpp = import_llama_cpp()
    figures: list[Figure] = []
    notes: list[str] = []
    service = EngineService(name="bench-gpu")
    prompt_index = 0
    try:
        for setting in (AUTO, ALL) if quick else (0, AUTO, ALL):  # --quick: proves it runs, in seconds
            label = gpu_layers_label(setting)
            options = LoadOptions(context_size=2048, gpu_layers=setting)
            loaded = service.load(model, options).result()
            plan = plan_offload(read_gguf(model), options, report)
            notes.append(f"{label}: {loaded.placement} ({plan.reason})")
            raw = llama_cpp.Llama(
                model_path=str(model),
                n_ctx=2048,
                n_gpu_layers=plan.layers,
                flash_attn=flash_attention_on(options, plan.layers),
                type_k=KV_TYPES[options.kv_cache_type][0],
                type_v=KV_TYPES[options.kv_cache_type][0],
                verbose=False,
            )
            prompt_rates, generation_rates, ratios = _measure(
                service, raw, rounds, max_tokens, repeat=repeat, first=prompt_index, warm=not quick
            )
            prompt_index += rounds + 1
            raw.close()
            gpu_layers = loaded.placement.gpu_layers if loaded.placement else 0
            total = loaded.placement.total_layers if loaded.placement else 0
            ratio = median(ratios)
            figures += [
                Figure(f"gpu_layers={label}: layers on the GPU", gpu_layers, f"/ {total}"),
                Figure(f"gpu_layers={label}: prompt", median(prompt_rates), "tok/s"),
                Figure(f"gpu_layers={label}: generation", median(generation_rates), "tok/s"),
                Figure(f"gpu_layers={label}: ratio app / raw (same offload)", ratio, "×", "≥ 0.97", ratio >= 0.97),
            ]
    finally:
        service.close()
    return Section(
        title="7. GPU offload (0 layers, auto, all)",
        command="python -m bench gpu",
        figures=figures,
        notes=f"Device: {where}; backends: {', '.join(report.backends)}; GPU offload in this llama.cpp: "
        f"{'yes' if report.gpu_offload else 'no'}. " + " ".join(f"{n}." for n in notes) + f" {rounds} interleaved "
        f"rounds of {max_tokens} tokens per setting, greedy, a fresh ~{repeat * 40}-token prompt each round; "
        "speeds are medians; the ratio is the median of each round's app/raw pair of whole-request rates "
        "(tokens / request to last token, as in section 1).",
    )
