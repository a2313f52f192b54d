"""Embeddings in the engine: the real llama.cpp engine in embedding mode with the real starter embedding model
(all-MiniLM-L6-v2), and the engine service's embedding slot beside the real chat model."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from app.core.engines.interface import EmbeddingCancelled, EmbeddingInputError, Embeddings
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.engines.service import EngineService, GenerationRequest
from app.core.errors import HermesError, ModelLoadError, NoModelLoaded
from app.core.prompting.types import Sampling
from tests.conftest import REPO

REFERENCE = json.loads((REPO / "tests" / "data" / "minilm_reference.json").read_text(encoding="utf-8"))
DEADLOCK_GUARD = 120  # seconds: only a hang reaches it


@pytest.fixture(scope="module")
def embedder(starter_embedding_model: Path) -> Iterator[LlamaEngine]:
    engine = LlamaEngine(embedding=True)
    engine.load(starter_embedding_model)
    yield engine
    engine.unload()


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


def test_an_embedding_engine_says_so_and_reads_the_model_context(embedder: LlamaEngine) -> None:
    assert embedder.capabilities.embeddings and not embedder.capabilities.grammar
    assert LlamaEngine().capabilities.embeddings is False
    loaded = embedder.loaded
    assert loaded is not None
    assert loaded.context_size == 512  # BERT's position embeddings: the most tokens one input may have
    assert loaded.resident_bytes > loaded.info.file_size
    assert str(loaded.placement).startswith("CPU")


def test_vectors_match_sentence_transformers_and_usage_counts_tokens(embedder: LlamaEngine) -> None:
    vectors = embedder.embed(REFERENCE["sentences"])
    assert isinstance(vectors, list) and isinstance(vectors, Embeddings)
    assert vectors.tokens == sum(len(ids) for ids in REFERENCE["token_ids"])
    assert all(len(v) == 384 and abs(float(np.linalg.norm(v)) - 1) < 1e-5 for v in vectors)
    assert min(cosine(ours, theirs) for ours, theirs in zip(vectors, REFERENCE["embeddings"], strict=True)) > 0.9999


def test_a_big_batch_is_split_into_decodes_and_keeps_its_order(embedder: LlamaEngine) -> None:
    texts = [f"Note {i}: the {['red', 'green', 'blue'][i % 3]} box holds {i * 7} marbles." for i in range(48)]
    together = embedder.embed(texts)  # 13 tokens each: two decodes of at most 512 tokens
    assert together.tokens == 48 * 13 > 512
    alone = [embedder.embed([text])[0] for text in texts[::23]]  # the first, one in each decode, the last
    assert len(together) == 48
    assert min(cosine(a, b) for a, b in zip(together[::23], alone, strict=True)) > 0.99999


def test_a_stop_between_decodes_cancels_and_returns_nothing_half_done(embedder: LlamaEngine) -> None:
    texts = [f"Note {i}: the {['red', 'green', 'blue'][i % 3]} box holds {i * 7} marbles." for i in range(48)]
    asked: list[int] = []

    def after_the_first_decode() -> bool:
        asked.append(1)
        return len(asked) > 1

    with pytest.raises(EmbeddingCancelled, match="after 39 of 48 texts"):  # 39 × 13 tokens fill one 512-token decode
        embedder.embed(texts, should_stop=after_the_first_decode)
    assert len(embedder.embed(texts[:2])) == 2


def test_related_sentences_are_closer_than_unrelated_ones(embedder: LlamaEngine) -> None:
    cat, kitten, stocks = embedder.embed(
        ["A cat is sleeping on the sofa.", "A kitten naps on the couch.", "The stock market fell sharply today."]
    )
    assert cosine(cat, kitten) > cosine(cat, stocks) + 0.3


def test_too_long_an_input_is_refused_before_anything_runs(embedder: LlamaEngine) -> None:
    long_text = "word " * 600
    with pytest.raises(EmbeddingInputError, match=r"Input 1 is 602 tokens long; .* at most 512") as caught:
        embedder.embed(["short", long_text])
    assert (caught.value.index, caught.value.tokens, caught.value.limit) == (1, 602, 512)
    assert len(embedder.embed(["still works"])[0]) == 384


def test_empty_inputs(embedder: LlamaEngine) -> None:
    assert embedder.embed([]) == [] and embedder.embed([]).tokens == 0
    assert embedder.embed([""]).tokens == 2  # BERT's [CLS] [SEP]: a vector all the same


def test_each_engine_keeps_to_its_kind(embedder: LlamaEngine, starter_model: Path) -> None:
    assert embedder.loaded is not None
    with pytest.raises(HermesError, match="cannot chat"):
        embedder.stream([{"role": "user", "content": "Hi"}])
    with pytest.raises(ModelLoadError, match="is an embedding model"):
        LlamaEngine().load(embedder.loaded.info.path)
    chat_in_the_slot = LlamaEngine(embedding=True)
    with pytest.raises(ModelLoadError, match="is not an embedding model"):
        chat_in_the_slot.load(starter_model)
    assert chat_in_the_slot.loaded is None


def test_the_other_slots_memory_counts_against_the_machine(starter_embedding_model: Path) -> None:
    engine = LlamaEngine(embedding=True)
    engine.reserved_bytes = 1 << 50  # a chat model of a petabyte beside it
    with pytest.raises(ModelLoadError, match=r"beside the .* GiB the other loaded model holds"):
        engine.load(starter_embedding_model)


@pytest.fixture(scope="module")
def service(starter_model: Path, starter_embedding_model: Path) -> Iterator[EngineService]:
    service = EngineService(name="embedding test engine")
    chat = service.load(starter_model, LoadOptions(context_size=1024)).result(DEADLOCK_GUARD)
    assert service.embedding_loaded is None
    embedding = service.load_embedding(starter_embedding_model).result(DEADLOCK_GUARD)
    assert service.embedding_loaded is embedding and service.loaded is chat
    yield service
    service.close(timeout=DEADLOCK_GUARD)


def test_the_service_holds_a_chat_slot_and_an_embedding_slot(service: EngineService) -> None:
    assert service.loaded is not None and service.embedding_loaded is not None
    slot = service._embedding
    assert slot is not None and isinstance(slot.engine, LlamaEngine)
    assert slot.engine.reserved_bytes == service.loaded.resident_bytes  # the chat model counted at its load
    vectors = service.embed(REFERENCE["sentences"][:2]).result(DEADLOCK_GUARD)
    assert min(cosine(a, b) for a, b in zip(vectors, REFERENCE["embeddings"][:2], strict=True)) > 0.9999
    count = service.submit_embedding(lambda engine: engine.count_tokens("hello world")).result(DEADLOCK_GUARD)
    assert count == 4  # [CLS] hello world [SEP]: what embed reads, the figure a chunker keeps under the limit


def test_embeddings_do_not_wait_behind_a_reply(service: EngineService) -> None:
    """A reply holds the chat slot (its first piece waits for the embedding); the embedding slot answers anyway."""
    embedded = threading.Event()
    pieces: list[str] = []

    def on_piece(piece: str) -> None:
        pieces.append(piece)
        assert embedded.wait(DEADLOCK_GUARD), "the embedding waited behind the reply"

    request = GenerationRequest([{"role": "user", "content": "Count to five."}], Sampling(temperature=0, max_tokens=8))
    ticket = service.generate(request, on_piece)
    future = service.embed(["while the chat model replies"])
    assert len(future.result(DEADLOCK_GUARD)[0]) == 384
    embedded.set()
    ticket.result(DEADLOCK_GUARD)
    assert pieces


def test_embeddings_from_many_threads_run_one_at_a_time_and_agree(service: EngineService) -> None:
    texts = [f"Sentence number {i} about {['rivers', 'mountains', 'cities'][i % 3]}." for i in range(12)]
    expected = service.embed(texts).result(DEADLOCK_GUARD)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda i: service.embed([texts[i]]).result(DEADLOCK_GUARD)[0], range(12)))
    assert min(cosine(a, b) for a, b in zip(results, expected, strict=True)) > 0.99999


def test_no_embedding_model_no_embeddings_and_close_ends_the_slot(starter_embedding_model: Path) -> None:
    service = EngineService(name="short-lived engine")
    try:
        with pytest.raises(NoModelLoaded, match="No embedding model"):
            service.embed(["hello"])
        service.load_embedding(starter_embedding_model).result(DEADLOCK_GUARD)
        slot = service._embedding
        assert slot is not None and slot.running
    finally:
        service.close(timeout=DEADLOCK_GUARD)
    assert not slot.running and slot.engine.loaded is None
