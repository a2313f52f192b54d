"""A base model without a chat template (issue 25): how often its replies end, and end clean, per prompt format.

The real Gemma 3 270M base GGUF in the real engine, BOS as its GGUF asks. Five questions, with and without a system
prompt, greedy and two sampled seeds (the app's default sampling): 30 replies of at most 200 tokens per format.
The formats: the fallback the app picks for a base model (llama.cpp's ``vicuna`` transcript), the architecture's
own instruct template (llama.cpp's ``gemma``) and ChatML (the fallback before). A reply "ends" when the model
ends it (EOS, end of turn, the next turn's marker), not at max_tokens; "clean" when it holds no template markup;
"answers" when it is more than the question said back (a base model's commonest failure).
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.common import REPO, Figure, Section

QUESTIONS = [
    "What is the capital of France?",
    "Hello! Who are you?",
    "Write one sentence about cats.",
    "Name three colours.",
    "Explain what a GGUF file is.",
]
SYSTEM = "You are a helpful assistant."
MARKUP = ("<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "USER:", "ASSISTANT:", "</s>", "<bos>")
FORMATS = {"auto (vicuna transcript)": "auto", "llama.cpp:gemma (the architecture's)": "llama.cpp:gemma",
           "chatml (the fallback before, BOS now sent)": "chatml"}  # fmt: skip


def base_model(quick: bool) -> Path | None:
    given = os.environ.get("HERMES_TEST_BASE_MODEL")
    if given and Path(given).is_file():
        return Path(given)
    from app.core.library.base_model import BASE_FILE, ensure_test_base_model

    cached = REPO / ".cache" / "models" / BASE_FILE
    if quick:  # the smoke run never downloads 250 MB
        return cached if cached.is_file() else None
    return ensure_test_base_model(REPO / ".cache" / "models", REPO / ".cache" / "wheels")


def run(quick: bool = False) -> Section:
    from app.core.engines.llama_adapter import apply_builtin_template, builtin_templates
    from app.core.engines.llama_engine import LlamaEngine
    from app.core.engines.load_options import LoadOptions
    from app.core.engines.model_format import ModelTokens, model_format
    from app.core.prompting.prompt_formats import ChatMessage
    from app.core.prompting.types import Sampling

    title, command = "A base model without a chat template", "python -m bench base_model"
    path = base_model(quick)
    if path is None:
        return Section(title, command, [], notes="skipped: no base model (make test fetches it)")
    engine = LlamaEngine()
    loaded = engine.load(path, LoadOptions(context_size=1024))
    tokens = ModelTokens(loaded.bos_token, loaded.eos_token, loaded.add_bos)
    questions = QUESTIONS[:1] if quick else QUESTIONS
    seeds: list[int | None] = [None] if quick else [None, 1, 2]
    figures = []
    try:
        for label, choice in FORMATS.items():
            chosen, _, _ = model_format(loaded.info, choice, tokens, builtin_templates(), apply_builtin_template)
            ended = clean = answered = total = 0
            for question in questions:
                for system in ("", SYSTEM):
                    messages: list[ChatMessage] = [{"role": "system", "content": system}] if system else []
                    messages.append({"role": "user", "content": question})
                    for seed in seeds:
                        sampling = Sampling(max_tokens=48 if quick else 200, seed=seed if seed is not None else 1)
                        if seed is None:
                            sampling = sampling.with_overrides(temperature=0.0)
                        generation = engine.stream(messages, sampling, prompt_format=chosen)
                        reply = generation.text()
                        total += 1
                        ended += generation.stats.finish_reason == "stop"
                        clean += not any(mark in reply for mark in MARKUP)
                        answered += bool(reply.strip()) and question.lower() not in reply.lower()
            figures.append(Figure(f"{label}: replies that end", 100 * ended / total, "%"))
            figures.append(Figure(f"{label}: replies without markup", 100 * clean / total, "%"))
            figures.append(Figure(f"{label}: replies that answer", 100 * answered / total, "%"))
    finally:
        engine.unload()
    return Section(title, command, figures, notes=f"{total} replies per format, {path.name}")
