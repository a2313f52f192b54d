"""Saved states of a model whose state cannot be cut back to a shorter prefix: a real recurrent model and a real
hybrid one (the tiny random-weight Mamba and LFM2 of tests/recurrent_model.py) in the real llama.cpp engine, with a
real StateCache.

Only exact checkpoints (a state whose every token starts the new prompt) are restored; a regenerate restores the
checkpoint saved at the prompt's end and replies as a cold read does; a longer state is never cut back, and the
context's own prefix is kept when no checkpoint beats it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.llama_state import exact_states_only
from app.core.engines.load_options import LoadOptions
from app.core.engines.state_cache import MIN_TOKENS, StateCache
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.types import GenerationStats, Sampling
from tests.recurrent_model import write_tiny_lfm2, write_tiny_mamba

if TYPE_CHECKING:
    from llama_cpp import Llama

GREEDY = Sampling(temperature=0.0, max_tokens=12, seed=3)
OPTIONS = LoadOptions(context_size=2048)


def chat(topic: str, count: int = 12) -> list[ChatMessage]:
    """~450 tokens (the vocabulary is mostly bytes); chats differ only in their system message's subject."""
    facts = " ".join(f"Fact {i}: the {topic} number {i} is {i * 7 % 13}." for i in range(count))
    return [{"role": "system", "content": f"You know these facts about {topic}. {facts}"},
            {"role": "user", "content": "Tell me more."}]  # fmt: skip


def then(messages: Sequence[ChatMessage], answer: str, question: str) -> list[ChatMessage]:
    return [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": question}]


def reply(engine: LlamaEngine, messages: Sequence[ChatMessage]) -> tuple[str, GenerationStats]:
    generation = engine.stream(messages, GREEDY)
    return generation.text(), generation.stats


def prompt_of(engine: LlamaEngine, messages: Sequence[ChatMessage]) -> list[int]:
    return engine.prompt_tokens(engine.render_prompt(messages))


def watch_reads(llama: Llama, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Where each of llama.cpp's reads starts from here (the real ``Llama.eval`` still reads): what the context kept."""
    starts: list[int] = []
    evaluate = llama.eval

    def watched(batch: Sequence[int]) -> None:
        starts.append(llama.n_tokens)
        evaluate(batch)

    monkeypatch.setattr(llama, "eval", watched)
    return starts


@pytest.fixture(scope="module", params=["mamba", "lfm2"])
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Mamba: recurrent (llama_model_is_recurrent); LFM2: hybrid, attention beside its convolutions (_is_hybrid)."""
    write = write_tiny_mamba if request.param == "mamba" else write_tiny_lfm2
    return write(tmp_path_factory.mktemp(request.param) / f"tiny-{request.param}.gguf")


@pytest.fixture(scope="module")
def cold(model: Path) -> Iterator[LlamaEngine]:
    """An engine that keeps no state: every prompt read in full, the reference replies."""
    engine = LlamaEngine(StateCache(memory_budget=0))
    engine.load(model, OPTIONS)
    yield engine
    engine.unload()


def test_the_model_is_recurrent_and_its_replies_depend_on_the_whole_prompt(cold: LlamaEngine) -> None:
    assert exact_states_only(cold._require())
    deserts, forests = chat("deserts"), chat("forests")
    assert len(prompt_of(cold, deserts)) >= MIN_TOKENS  # long enough for the cache
    # The chats differ only in their first message: a state of the wrong chat restored would change the reply.
    assert reply(cold, deserts)[0] != reply(cold, forests)[0]


def test_a_regenerate_restores_the_prompt_end_checkpoint_and_replies_as_a_cold_read(
    model: Path, cold: LlamaEngine, tmp_path: Path
) -> None:
    cache = StateCache(tmp_path / "states")
    engine = LlamaEngine(cache)
    engine.load(model, OPTIONS)
    deserts = chat("deserts")
    first, stats = reply(engine, deserts)
    assert stats.restored_tokens == 0 and first == reply(cold, deserts)[0]
    going_on = then(deserts, first, "And the next one?")
    reply(engine, going_on)  # the chat goes on: a longer state, whose tokens start with the first prompt's
    reply(engine, chat("forests"))  # another chat: the context holds that one now

    tokens, space = prompt_of(engine, deserts), engine._state_space
    checkpoint = cache.best(space, tokens[:-1], exact=True)
    assert checkpoint is not None and checkpoint[0].tokens == tuple(tokens[:-1])  # saved at the prompt's end
    longer = cache.best(space, tokens[:-1])  # what an attention model would cut back
    assert longer is not None and len(longer[0].tokens) > len(tokens)

    again, regenerated = reply(engine, deserts)  # Regenerate the first reply
    assert regenerated.restored_tokens == len(tokens) - 1  # all but the last token, from the checkpoint
    assert again == first
    engine.unload()

    restarted = LlamaEngine(StateCache(tmp_path / "states"))  # a new process: the checkpoint from disk
    restarted.load(model, OPTIONS)
    again, from_disk = reply(restarted, deserts)
    assert from_disk.restored_tokens == len(tokens) - 1 and again == first
    restarted.unload()


def test_a_longer_state_is_never_cut_back_and_the_context_keeps_its_own_prefix(
    model: Path, cold: LlamaEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    oceans = chat("oceans")
    first = reply(cold, oceans)[0]
    asked = then(oceans, first, "Tell me the next fact and the one after it, please.")
    edited = then(oceans, first, "Tell me the next fact and the one after that one.")  # an edit of the question

    cache = StateCache()  # memory only
    engine = LlamaEngine(cache)
    engine.load(model, OPTIONS)
    reply(engine, asked)  # the cache holds states of the question as first asked (never a prefix of the edit)
    engine.state_cache = None
    # The context holds the first prompt now (one token sampled, never evaluated); nothing of it is saved.
    engine.stream(oceans, Sampling(temperature=0.0, max_tokens=1)).text()
    engine.state_cache = cache
    llama = engine._require()
    held = [int(token) for token in llama.input_ids[: llama.n_tokens]]
    tokens = prompt_of(engine, edited)
    assert tokens[: len(held)] == held  # the context is a prefix of the edited prompt...
    longer = cache.best(engine._state_space, tokens[:-1])
    assert longer is not None and longer[1] > len(held) + 16  # ...and a saved state shares more of it, but longer
    assert cache.best(engine._state_space, tokens[:-1], exact=True) is None

    starts = watch_reads(llama, monkeypatch)
    text, stats = reply(engine, edited)
    monkeypatch.undo()
    assert stats.restored_tokens == 0  # the longer state was not cut back (llama.cpp would refuse: logged)
    assert starts[0] == len(held)  # the context's own prefix was kept, only the edit and the rest read
    assert text == reply(cold, edited)[0]
    engine.unload()


def test_a_prompt_stopped_midway_goes_on_from_where_it_stopped(
    model: Path, cold: LlamaEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rivers = chat("rivers", count=40)  # ~1,400 tokens: three batches
    expected = reply(cold, rivers)[0]
    engine = LlamaEngine(StateCache())
    engine.load(model, OPTIONS)
    stop, progress = [False], []

    def heard(done: int, total: int) -> None:
        progress.append((done, total))
        stop[0] = done > 0  # Stop pressed once the first batch is read

    stopped = engine.stream(rivers, GREEDY, should_stop=lambda: stop[0], on_prompt_progress=heard)
    assert stopped.text() == "" and progress[-1][0] == engine._require().n_batch
    stop[0] = False
    llama = engine._require()
    starts = watch_reads(llama, monkeypatch)
    text = reply(engine, rivers)[0]  # sent again: the batch already read is kept, and the reply is the cold one
    monkeypatch.undo()
    assert starts[0] == llama.n_batch and text == expected
    engine.unload()
