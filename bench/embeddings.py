"""Embedding throughput: the app's embedding slot vs raw llama-cpp-python embedding the same texts (target ≥ 0.9×).

Raw: ``Llama(embedding=True).embed(batch, normalize=True)`` called in a loop, batch after batch.
App: ``EngineService.embed(batch)`` (the embedding slot: its own thread, each text tokenized and checked against the
model's limit first, vectors handed back through a future) for the same batches. Same model file (the starter
embedding model, all-MiniLM-L6-v2), the same context and batch size (512, the model's own), llama.cpp's default
threads on both sides; the rounds interleave A/B/A/B so both meet the same machine.
"""

from __future__ import annotations

import random
import time

from bench.common import Figure, Section, median, starter_embedding_model

BATCH = 32  # texts per call, as an indexer sends a document's chunks
VOCABULARY = (
    "the index of every file keeps its passages apart so that a question finds the right page quickly while the "
    "model turns each chunk into a vector of meaning and nearby vectors share their topic river mountain library "
    "engine context memory token battery harbor violin theorem"
)


def corpus(count: int) -> list[str]:
    """Chunks of a document: 60 to 120 words each (about 80 to 170 tokens), deterministic."""
    rng = random.Random(7)
    words = VOCABULARY.split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(60, 120))) + "." for _ in range(count)]


def run(quick: bool = False) -> Section:
    from app.core.engines.llama_adapter import import_llama_cpp
    from app.core.engines.service import EngineService

    model = starter_embedding_model()
    texts = corpus(8 if quick else 128)
    batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
    rounds = 1 if quick else 3

    raw = import_llama_cpp().Llama(str(model), embedding=True, n_ctx=512, n_batch=512, n_ubatch=512, verbose=False)
    tokens = sum(len(raw.tokenize(text.encode("utf-8"))) for text in texts)
    service = EngineService(name="bench embeddings")
    try:
        loaded = service.load_embedding(model).result()
        assert loaded.context_size == 512

        def raw_once() -> float:
            started = time.perf_counter()
            for batch in batches:
                raw.embed(batch, normalize=True)
            return time.perf_counter() - started

        def app_once() -> float:
            started = time.perf_counter()
            for batch in batches:
                service.embed(batch).result()
            return time.perf_counter() - started

        raw.embed(texts[:1], normalize=True)  # warm both: the first decode allocates llama.cpp's buffers
        service.embed(texts[:1]).result()
        raw_times, app_times = [], []
        for _ in range(rounds):
            raw_times.append(raw_once())
            app_times.append(app_once())
    finally:
        service.close()
        raw.close()
    raw_rate, app_rate = len(texts) / median(raw_times), len(texts) / median(app_times)
    ratio = app_rate / raw_rate
    return Section(
        "Embeddings: the app vs raw llama-cpp-python",
        "python -m bench embeddings",
        [
            Figure("raw llama-cpp-python: texts per second", raw_rate, "texts/s"),
            Figure("app (EngineService.embed): texts per second", app_rate, "texts/s"),
            Figure("app: tokens per second", tokens / median(app_times), "tok/s"),
            Figure("ratio app / raw (embedding throughput)", ratio, "×", "≥ 0.9", ratio >= 0.9),
        ],
        notes=(
            f"{len(texts)} chunks of 60–120 words ({tokens:,} tokens), {BATCH} per call, median of {rounds} "
            "interleaved rounds; all-MiniLM-L6-v2 (F16 GGUF from the app's converter), vectors L2-normalised on "
            "both sides."
        ),
    )
