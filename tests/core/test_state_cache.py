"""Saved llama.cpp states with the real engine and the real starter model: long chats are not read again.

Greedy replies must be identical with and without a restored state; a state is never restored into another model,
another context size, or from a damaged file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.engines.state_cache import MIN_TOKENS, StateCache, namespace
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.types import GenerationStats, Sampling

GREEDY = Sampling(temperature=0.0, max_tokens=12, seed=3)
OPTIONS = LoadOptions(context_size=2048)


def long_chat(topic: str, count: int = 60) -> list[ChatMessage]:
    facts = " ".join(f"Fact {i}: the {topic} number {i} is {i * 7 % 13}." for i in range(count))
    return [{"role": "system", "content": f"You know these facts about {topic}. {facts}"},
            {"role": "user", "content": f"Tell me about {topic}."}]  # fmt: skip


def reply(engine: LlamaEngine, messages: Sequence[ChatMessage]) -> tuple[str, GenerationStats]:
    generation = engine.stream(messages, GREEDY)
    text = generation.text()
    return text, generation.stats


def then(messages: list[ChatMessage], answer: str, question: str) -> list[ChatMessage]:
    return [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": question}]


@pytest.fixture(scope="module")
def cold(starter_model: Path) -> LlamaEngine:
    """An engine that keeps no state: the reference replies (``fresh`` empties its context first)."""
    engine = LlamaEngine(StateCache(memory_budget=0))
    engine.load(starter_model, OPTIONS)
    yield engine
    engine.unload()


def fresh(engine: LlamaEngine) -> LlamaEngine:
    """``engine`` with an empty context, as just loaded: its next prompt is read from its first token."""
    engine._require().reset()
    return engine


def test_coming_back_to_a_chat_restores_its_state_and_replies_the_same(
    starter_model: Path, cold: LlamaEngine, tmp_path: Path
) -> None:
    """Continuing a chat from its saved state replies as an engine without the cache that never left the chat: the
    state restored holds the very bytes that engine's context holds. (Not always as a cold read of the whole
    continued chat: the earlier reply's tokens were read one at a time, a cold read reads them inside a batch, and
    llama.cpp's CPU kernels give a token slightly other values in a batch than alone; that is so without any cache.)"""
    engine = LlamaEngine(StateCache(tmp_path / "states"))
    engine.load(starter_model, OPTIONS)
    volcanoes, oceans = long_chat("volcanoes"), long_chat("oceans")
    first, stats = reply(engine, volcanoes)
    assert stats.prompt_tokens >= MIN_TOKENS and stats.restored_tokens == 0
    assert reply(fresh(cold), volcanoes)[0] == first  # the reference engine stays in this chat from here
    reply(engine, oceans)  # another chat in between: the context now holds the oceans
    again = then(volcanoes, first, "And the next one?")
    warm_text, warm = reply(engine, again)
    assert warm.restored_tokens > stats.prompt_tokens * 0.9  # the whole first turn came from the cache
    stayed_text, stayed = reply(cold, again)
    assert stayed.restored_tokens == 0
    assert warm_text == stayed_text  # identical greedy output

    # a new process (a new engine on the same folder) restores from disk
    engine.unload()
    restarted = LlamaEngine(StateCache(tmp_path / "states"))
    restarted.load(starter_model, OPTIONS)
    text, from_disk = reply(restarted, again)
    assert from_disk.restored_tokens > stats.prompt_tokens * 0.9 and text == stayed_text

    # another chat, then a branch from a middle message: a saved state cut back to the shared prefix
    reply(restarted, oceans)
    branch = then(volcanoes, first, "Which is the largest?")
    text, cut = reply(restarted, branch)
    assert cut.restored_tokens > stats.prompt_tokens * 0.9 and text == reply(cold, branch)[0]
    restarted.unload()


@pytest.mark.expect_log("does not match its checksum")
def test_another_context_size_never_restores_and_damaged_files_are_skipped(
    starter_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "states"
    engine = LlamaEngine(StateCache(folder, memory_budget=0))
    engine.load(starter_model, OPTIONS)
    chat = long_chat("rivers")
    first, _ = reply(engine, chat)
    engine.unload()
    [saved] = list(folder.glob("*/*.state"))

    other = LlamaEngine(StateCache(folder, memory_budget=0))
    other.load(starter_model, LoadOptions(context_size=1536))
    _, stats = reply(other, then(chat, first, "More?"))
    assert stats.restored_tokens == 0  # another context size: another namespace
    other.unload()

    saved.write_bytes(saved.read_bytes()[:-100] + b"x" * 100)  # damaged after its checksum was written
    again = LlamaEngine(StateCache(folder, memory_budget=0))
    again.load(starter_model, OPTIONS)
    text, stats = reply(again, then(chat, first, "More?"))
    assert stats.restored_tokens == 0 and text
    assert "does not match its checksum" in caplog.text and not saved.exists()
    again.unload()


def test_the_disk_budget_evicts_the_oldest_state_first(tmp_path: Path) -> None:
    cache = StateCache(tmp_path, memory_budget=0, disk_budget=3000)
    space = namespace("model", 1)
    for n in range(4):
        cache.put(space, list(range(n, n + 100)), bytes([n]) * 800)  # ~1.3 KB a file: two fit
        cache.flush()
    kept = sorted(path.stat().st_mtime for path in tmp_path.glob("*/*.state"))
    assert len(kept) == 2 and cache.disk_bytes() <= 3000
    found = cache.best(space, list(range(3, 103)))
    assert found is not None and found[1] == 100 and found[0].data == bytes([3]) * 800
    assert cache.best(space, list(range(0, 100))) is None  # the oldest went first
    assert cache.best(namespace("another model", 1), list(range(3, 103))) is None


def test_continuing_a_saved_chat_in_a_new_process_restores_its_state(starter_model: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    def chat(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "--basedir", str(tmp_path), "chat", "--model", str(starter_model),
             "--max-tokens", "8", "--temperature", "0", *args],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    system = long_chat("glaciers")[0]["content"]
    first = chat("--save", "--system", system, "Tell me about glaciers.")
    assert first.returncode == 0, first.stderr
    assert "from the cache" not in first.stderr
    assert list((tmp_path / "cache" / "states").glob("*/*.state"))  # written before the process ended
    again = chat("--chat", "1", "And the next one?")
    assert again.returncode == 0, again.stderr
    assert "prompt tokens from the cache" in again.stderr


@pytest.fixture(scope="module")
def regenerated(starter_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A chat answered, gone on, left for another chat, then its first reply regenerated: a middle message."""
    folder = tmp_path_factory.mktemp("regenerate") / "states"
    engine = LlamaEngine(StateCache(folder))
    engine.load(starter_model, OPTIONS)
    deserts = long_chat("deserts")
    first, cold = reply(engine, deserts)  # nothing saved yet: read cold
    going_on = then(deserts, first, "And the next one?")
    reply(engine, going_on)  # the chat goes on: its saved state now holds both turns
    reply(engine, long_chat("forests"))  # another chat: the context holds that one now
    again, warm = reply(engine, deserts)  # Regenerate the first reply
    engine.unload()
    return {"folder": folder, "first": first, "cold": cold, "again": again, "warm": warm, "going_on": going_on}


def test_regenerating_an_earlier_reply_restores_and_another_model_file_never_does(
    starter_model: Path, regenerated: dict[str, object], tmp_path: Path
) -> None:
    import os
    import shutil

    cold, warm = regenerated["cold"], regenerated["warm"]
    assert isinstance(cold, GenerationStats) and isinstance(warm, GenerationStats)
    assert warm.restored_tokens > cold.prompt_tokens * 0.9  # the later state, cut back to this prompt

    twin = tmp_path / "twin.gguf"  # the same bytes under another name: another model file, another namespace
    try:
        os.link(starter_model, twin)
    except OSError:
        shutil.copy2(starter_model, twin)
    other = LlamaEngine(StateCache(regenerated["folder"]))  # type: ignore[arg-type]
    other.load(twin, OPTIONS)
    _, stats = reply(other, regenerated["going_on"])  # type: ignore[arg-type]
    assert stats.restored_tokens == 0
    other.unload()


def test_a_regenerated_reply_is_the_cold_reply(regenerated: dict[str, object]) -> None:
    assert regenerated["again"] == regenerated["first"]


def test_interleaved_chats_regenerated_from_their_states_reply_as_without_the_cache(
    starter_model: Path, cold: LlamaEngine
) -> None:
    """Three chats answered one after another, then each regenerated in another order (each from its saved state,
    cut back to its prompt): the replies are the ones an engine without the cache gave to the same chats."""
    chats = [long_chat(topic, count=24) for topic in ("comets", "bridges", "orchards")]
    fresh(cold)
    without = [reply(cold, messages)[0] for messages in chats]  # the same chats in the same order, nothing kept
    engine = LlamaEngine(StateCache())
    engine.load(starter_model, OPTIONS)
    for messages, expected in zip(chats, without, strict=True):
        text, stats = reply(engine, messages)
        assert stats.prompt_tokens >= MIN_TOKENS and stats.restored_tokens == 0 and text == expected
    for index in (0, 2, 1):
        text, stats = reply(engine, chats[index])
        assert stats.restored_tokens == stats.prompt_tokens - 1  # all but the last token, from the saved state
        assert text == without[index]
    engine.unload()
