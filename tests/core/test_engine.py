"""The real engine, the real starter model: streaming, stopping, stats."""

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.engines.interface import ContextFullError
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.errors import NoModelLoaded
from app.core.personas.builtin import EDWARD_ELRIC_SYSTEM_PROMPT, HERMES_2_SYSTEM_PROMPT
from app.core.prompting.types import Sampling

HELLO = [
    {"role": "system", "content": HERMES_2_SYSTEM_PROMPT},
    {"role": "user", "content": "Hello, who are you?"},
]
GREEDY = Sampling(temperature=0.0, max_tokens=64, seed=7)


@pytest.fixture(scope="module")
def engine(starter_model: Path) -> Iterator[LlamaEngine]:
    engine = LlamaEngine()
    engine.load(starter_model, LoadOptions(context_size=2048))
    yield engine
    engine.unload()


def test_streams_at_least_20_tokens_of_reply(engine: LlamaEngine) -> None:
    generation = engine.stream(HELLO, GREEDY)
    pieces = list(generation)
    text = "".join(pieces)
    stats = generation.stats
    assert len(pieces) >= 20
    assert stats.generated_tokens >= 20
    assert len(text.split()) >= 10
    assert "<|im_end|>" not in text and "<|im_start|>" not in text
    assert stats.prompt_tokens == engine.count_tokens(generation.prompt.text)
    assert stats.finish_reason in ("stop", "length")
    assert stats.context_used == stats.prompt_tokens + stats.generated_tokens
    assert stats.context_size == 2048
    assert 0 < stats.ttft_s < stats.total_s
    assert stats.tokens_per_s > 1


def test_same_seed_same_reply(engine: LlamaEngine) -> None:
    sampling = Sampling(temperature=0.8, max_tokens=24, seed=1234)
    first = engine.stream(HELLO, sampling).text()
    second = engine.stream(HELLO, sampling).text()
    assert first == second and first


def test_max_tokens_ends_with_length(engine: LlamaEngine) -> None:
    generation = engine.stream(HELLO, Sampling(temperature=0.0, max_tokens=5))
    generation.text()
    assert generation.stats.finish_reason == "length"
    assert generation.stats.generated_tokens == 5


def test_stop_mid_stream_within_200_ms_keeps_the_partial_text(engine: LlamaEngine) -> None:
    """The stop flag is checked between tokens: at most the token being decoded follows it.

    200 ms is the bound on an idle machine; on an overloaded one a single decode can take longer, so the
    bound grows to three typical token gaps of this very run.
    """
    stop = threading.Event()
    stop_requested_at: list[float] = []
    long_reply = Sampling(temperature=0.8, max_tokens=1500, seed=3)
    messages = [*HELLO[:1], {"role": "user", "content": "Write a very long story about a dragon, in ten chapters."}]

    enough = threading.Event()  # a dozen pieces in: however busy the machine, the reply is under way

    def press_stop() -> None:
        enough.wait(60)
        stop_requested_at.append(time.perf_counter())
        stop.set()

    presser = threading.Thread(target=press_stop)
    generation = engine.stream(messages, long_reply, should_stop=stop.is_set)
    presser.start()
    pieces, arrivals = [], []
    for piece in generation:
        pieces.append(piece)
        arrivals.append(time.perf_counter())
        if len(pieces) >= 12:
            enough.set()
    ended = time.perf_counter()
    presser.join()
    text = "".join(pieces)
    assert generation.stats.finish_reason == "cancelled"
    after_stop = [t for t in arrivals if t > stop_requested_at[0]]
    assert len(after_stop) <= 1, f"{len(after_stop)} pieces arrived after Stop"
    gaps = sorted(b - a for a, b in itertools.pairwise(arrivals))
    typical_gap = gaps[len(gaps) // 2]
    assert ended - stop_requested_at[0] < max(0.2, 3 * typical_gap)
    assert len(text) > 20 and generation.stats.generated_tokens < 1500
    # the engine is reusable at once
    assert engine.stream(HELLO, Sampling(temperature=0.0, max_tokens=8)).text()


def test_stop_while_the_prompt_is_processed_ends_at_once_and_loses_nothing(
    engine: LlamaEngine, starter_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A long chat's prompt takes seconds (minutes for a 7B on a CPU): Stop must not wait for it to finish."""
    caplog.set_level(logging.DEBUG, logger="llama.cpp")
    long_chat = [*HELLO[:1], {"role": "user", "content": "Summarise this. " + "The Roman Empire lasted long. " * 100}]
    reply = Sampling(temperature=0.0, max_tokens=6)
    stop = threading.Event()
    pressed_at: list[float] = []

    def press_stop() -> None:
        time.sleep(0.3)
        pressed_at.append(time.perf_counter())
        stop.set()

    generation = engine.stream(long_chat, reply, should_stop=stop.is_set)
    assert generation.stats.prompt_tokens > 600  # two batches of 512, about 1.7 s here
    presser = threading.Thread(target=press_stop)
    presser.start()
    text = generation.text()
    ended = time.perf_counter()
    presser.join()
    assert generation.stats.finish_reason == "cancelled"
    assert text == "" and generation.stats.generated_tokens == 0
    stop_took = ended - pressed_at[0]
    native = [r for r in caplog.records if r.name == "llama.cpp"]
    assert any("compute" in r.getMessage() for r in native)  # llama.cpp said it gave up the batch ...
    assert all(r.levelno < logging.WARNING for r in native)  # ... which is no error when Stop asked for it

    # What llama.cpp kept of the prompt is consistent: the same reply as a freshly loaded model gives.
    whole = engine.stream(long_chat, reply).text()
    fresh = LlamaEngine()
    fresh.load(starter_model, LoadOptions(context_size=2048))
    try:
        unstopped = fresh.stream(long_chat, reply)
        assert whole == unstopped.text()
    finally:
        fresh.unload()
    # Stop did not wait for the prompt: it took well under what reading the whole prompt takes on this machine now
    # (an adaptive bound: a loaded machine is slower at both).
    assert stop_took < max(0.5, unstopped.stats.ttft_s / 2), f"Stop took {stop_took:.2f} s"


def test_a_long_prompt_reports_its_progress_batch_by_batch_and_replies_the_same(engine: LlamaEngine) -> None:
    long_chat = [*HELLO[:1], {"role": "user", "content": "Summarise this. " + "The Roman Empire lasted long. " * 100}]
    reply = Sampling(temperature=0.0, max_tokens=8)
    progress: list[tuple[int, int]] = []
    engine.stream(HELLO, reply).text()  # something else in the cache first
    generation = engine.stream(long_chat, reply, on_prompt_progress=lambda done, total: progress.append((done, total)))
    with_progress = generation.text()
    total = generation.stats.prompt_tokens
    assert progress[0][0] < 512 and progress[-1] == (total - 1, total)  # the last token goes with the reply
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})  # strictly increasing
    assert len(progress) >= 3 and generation.stats.finish_reason in ("stop", "length")

    engine.stream(HELLO, reply).text()
    assert engine.stream(long_chat, reply).text() == with_progress  # the same reply as in one go

    engine.stream(HELLO, reply).text()
    stop = threading.Event()
    stopped = engine.stream(long_chat, reply, should_stop=stop.is_set, on_prompt_progress=lambda d, t: stop.set())
    assert stopped.text() == "" and stopped.stats.finish_reason == "cancelled"


def test_edward_elric_roleplay_chats(engine: LlamaEngine) -> None:
    messages = [
        {"role": "system", "content": EDWARD_ELRIC_SYSTEM_PROMPT},
        {"role": "user", "content": "Who are you, and what is alchemy?"},
    ]
    generation = engine.stream(messages, GREEDY)
    assert generation.text().strip()
    assert generation.prompt.text.startswith(f"<|im_start|>system\n{EDWARD_ELRIC_SYSTEM_PROMPT}<|im_end|>")


def test_a_conversation_larger_than_the_context_is_refused_clearly(starter_model: Path) -> None:
    small = LlamaEngine()
    small.load(starter_model, LoadOptions(context_size=256))
    try:
        huge = [{"role": "user", "content": "word " * 400}]
        with pytest.raises(ContextFullError, match=r"needs [\d,]+ tokens, more than the 192 the context leaves"):
            small.stream(huge, GREEDY)
    finally:
        small.unload()


def test_generating_without_a_model_is_a_clear_error() -> None:
    with pytest.raises(NoModelLoaded):
        LlamaEngine().stream(HELLO, GREEDY)
