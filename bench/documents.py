"""Documents (issue 23): indexing speed against raw llama-cpp-python embedding the same passages, hybrid search
latency over 10,000 passages, and hit@3 on the island corpus for keyword-only, vector-only and hybrid search.

- Indexing: ``KnowledgeBase.add`` on text files (read in the worker process, chunked by the model's tokenizer,
  embedded in batches on the engine service's embedding slot, written one document per transaction) against
  ``Llama.embed`` on the very passages the app made, with the same model and the same context, batch and thread
  settings (the baseline, same run).
- Search: 10,000 passages of Zipf-distributed words with random unit vectors (384 dimensions, as all-MiniLM-L6-v2)
  written straight into an index; each query's vector is computed before the clock starts (its embedding is timed
  apart), so the figure is FTS5 + nearest vectors + fusion.
- hit@3: tests/knowledge_corpus.py, twelve invented facts in four formats, a keyword and a paraphrased question each.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, Figure, Section


def embedding_model() -> Path:
    from app.core.library.starter import ensure_starter_embedding_model

    given = os.environ.get("HERMES_TEST_EMBED_MODEL")
    if given:
        return Path(given)
    return ensure_starter_embedding_model(REPO / ".cache" / "models", REPO / ".cache" / "wheels")


def run(quick: bool = False) -> Section:
    from app.core.engines.llama_embedder import LlamaEmbedder

    model = embedding_model()
    figures: list[Figure] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as scratch, LlamaEmbedder(model) as embedder:
        folder = Path(scratch)
        figures += _indexing(folder, embedder, model, files=1 if quick else 4, rounds=1 if quick else 3)
        search_figures, engine, embed_ms = _search(folder, embedder, chunks=2_000 if quick else 10_000)
        figures += search_figures
        notes.append(f"vectors compared with {engine}; a question's embedding took {embed_ms:.1f} ms (median)")
        if hasattr(os, "getloadavg"):
            notes.append(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        figures += _hit_at_3(folder, embedder)
    return Section(
        "Documents: indexing, hybrid search, hit@3",
        "python -m bench documents",
        figures,
        "; ".join(notes),
    )


def _indexing(folder: Path, embedder: Any, model: Path, files: int, rounds: int) -> list[Figure]:
    """App and raw in alternating rounds (A, B, A, B …), so that both meet the same machine: it is shared."""
    from app.core.engines.llama_adapter import import_llama_cpp
    from app.core.knowledge.base import KnowledgeBase
    from tests.knowledge_corpus import FILLER

    docs = folder / "docs"
    docs.mkdir()
    rng = random.Random(1)
    for n in range(files):
        paragraphs = [" ".join(rng.sample(FILLER, 3)) for _ in range(24)]
        (docs / f"note-{n:03}.txt").write_text("\n\n".join(paragraphs))
    llama_cpp = import_llama_cpp()
    batch = embedder.max_tokens  # as the embedding slot loads it (engines/llama_embed.embedding_context)
    raw = llama_cpp.Llama(model_path=str(model), embedding=True, n_ctx=batch, n_batch=batch, n_ubatch=batch,
                          verbose=False)  # fmt: skip
    raw.embed(["warm up"], normalize=True)  # both sides warmed: a context's first decode costs seconds here
    embedder.embed(["warm up"])
    app_s = raw_s = 0.0
    chunks: list[str] = []
    for round_number in range(rounds):
        base = KnowledgeBase(folder / f"index-{round_number}.sqlite3", embedder)
        started = time.perf_counter()
        report = base.add("bench", [docs])
        app_s += time.perf_counter() - started
        chunks = [text for record in base.files("bench") for _id, text in base.index.chunk_texts(record.id)]
        base.close()
        assert report.count("added") == files and len(chunks) == sum(o.chunks for o in report.outcomes)
        started = time.perf_counter()
        for start in range(0, len(chunks), 64):
            raw.embed(chunks[start : start + 64], normalize=True, truncate=True)
        raw_s += time.perf_counter() - started
    raw.close()
    app_rate, raw_rate = len(chunks) * rounds / app_s, len(chunks) * rounds / raw_s
    return [
        Figure(f"indexing {files} files, {len(chunks)} passages ({rounds} rounds): app", app_rate, "chunks/s"),
        Figure("  raw llama-cpp-python embedding the same passages", raw_rate, "chunks/s"),
        Figure("  ratio app / raw", app_rate / raw_rate, "x", ">= 0.9", app_rate / raw_rate >= 0.9),
    ]


def _search(folder: Path, embedder: Any, chunks: int) -> tuple[list[Figure], str, float]:
    import numpy as np

    from app.core.knowledge.chunking import Chunk
    from app.core.knowledge.index import KnowledgeIndex, NewFile
    from app.core.knowledge.search import Searcher, to_blob

    rng = np.random.default_rng(1)
    vocabulary = [f"w{n}" for n in range(20_000)]
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    weights /= weights.sum()
    index = KnowledgeIndex(folder / "search.sqlite3")
    collection = index.collection_id("big", create=True)
    per_file = 100
    for file_number in range(chunks // per_file):
        words = rng.choice(len(vocabulary), size=(per_file, 120), p=weights)
        passages = [Chunk(" ".join(vocabulary[w] for w in row), {"line": 1, "kind": "text"}, 120) for row in words]
        blobs = [to_blob(v) for v in rng.standard_normal((per_file, embedder.dimensions)).astype(np.float32)]
        name = f"{file_number}.txt"
        index.write_file(
            collection, NewFile(f"/bench/{name}", name, "text", "0", 0, 0, 0, "", passages, blobs, "bench-model")
        )
    searcher = Searcher(index)
    queries = [" ".join(vocabulary[w] for w in rng.choice(len(vocabulary), size=6, p=weights)) for _ in range(60)]
    vectors = rng.standard_normal((len(queries), embedder.dimensions)).astype(np.float32)
    searcher.search([collection], queries[0], vectors[0].tolist(), "bench-model")  # the first search loads the matrix
    times: list[float] = []
    cpu: list[float] = []
    before_times: list[float] = []  # the baseline, in the same run: BM25 ranked over the joined rows
    before_cpu: list[float] = []
    for query, vector in zip(queries, vectors, strict=True):
        for rank_in_fts, wall, spent in ((False, before_times, before_cpu), (True, times, cpu)):
            searcher.rank_in_fts = rank_in_fts
            started, cpu_started = time.perf_counter(), time.process_time()
            hits = searcher.search([collection], query, vector.tolist(), "bench-model", top=5)
            wall.append(time.perf_counter() - started)
            spent.append(time.process_time() - cpu_started)
            assert hits
    engine = searcher.vector_engine
    index.close()
    embed_times = []
    for question in ("Who keeps the lighthouse?", "When does the ferry leave?", "How tall is the tower?"):
        started = time.perf_counter()
        embedder.embed([question])
        embed_times.append(time.perf_counter() - started)
    p95 = float(np.percentile(np.array(times) * 1000, 95))
    figures = [
        Figure(
            f"hybrid search over {chunks:,} passages: p95",
            p95,
            "ms",
            "< 100 ms" if chunks >= 10_000 else "",
            p95 < 100 if chunks >= 10_000 else None,
        ),
        Figure("  median", statistics.median(times) * 1000, "ms"),
        Figure(
            "  p95 of CPU time (what a search costs on a core of its own)",
            float(np.percentile(np.array(cpu) * 1000, 95)),
            "ms",
        ),
        Figure("  baseline (BM25 over the joined rows), same run: p95 wall", _p95(before_times), "ms"),
        Figure("  baseline p95 of CPU time", _p95(before_cpu), "ms"),
        Figure("  p95 CPU time, this / baseline", _p95(cpu) / max(_p95(before_cpu), 1e-6), "×"),
    ]
    return figures, engine, statistics.median(embed_times) * 1000


def _p95(seconds: list[float]) -> float:
    import numpy as np

    return float(np.percentile(np.array(seconds) * 1000, 95))


def _hit_at_3(folder: Path, embedder: Any) -> list[Figure]:
    from app.core.knowledge.base import KnowledgeBase
    from tests.knowledge_corpus import hit_at_3, write_corpus

    base = KnowledgeBase(folder / "island.sqlite3", embedder)
    base.add("island", write_corpus(folder / "island"))
    figures = []
    for mode in ("keyword", "vector", "hybrid"):
        for kind in ("keyword", "paraphrase"):
            value = hit_at_3(lambda q, mode=mode: base.search("island", q, top=3, mode=mode), kind)
            figures.append(Figure(f"hit@3, {mode}-only search, {kind} questions".replace("hybrid-only", "hybrid"),
                                  value, ""))  # fmt: skip
    base.close()
    return figures
