"""The engine thread under pytest-qt: queued requests, batched tokens, errors as signals."""

import itertools
from pathlib import Path

from app.core.engines.load_options import LoadOptions
from app.core.personas.builtin import HERMES_2_SYSTEM_PROMPT
from app.core.prompting.types import GenerationStats, Sampling
from app.ui.engines.engine_client import EngineClient

HELLO = [
    {"role": "system", "content": HERMES_2_SYSTEM_PROMPT},
    {"role": "user", "content": "Hello, who are you?"},
]


def test_load_generate_batches_finish(qtbot, starter_model: Path) -> None:
    client = EngineClient()
    try:
        with qtbot.waitSignal(client.model_loaded, timeout=30_000) as loaded:
            client.load(str(starter_model), LoadOptions(context_size=1024))
        assert loaded.args[0].info.architecture == "llama"
        assert client.loaded is not None

        batches: list[str] = []
        client.tokens.connect(lambda _rid, text: batches.append(text))
        with qtbot.waitSignal(client.generation_finished, timeout=60_000) as finished:
            request = client.generate(HELLO, Sampling(temperature=0.0, max_tokens=96))
        request_id, stats = finished.args
        assert request_id == request
        assert isinstance(stats, GenerationStats) and stats.generated_tokens >= 20
        assert "".join(batches).strip()
        # batched: far fewer signals than tokens (one per frame at most, not one per token)
        assert len(batches) < stats.generated_tokens
    finally:
        client.shutdown()
    assert not client.running


def test_corrupt_file_gives_an_error_signal_and_the_thread_stays_usable(
    qtbot, truncated_model: Path, starter_model: Path
) -> None:
    client = EngineClient()
    try:
        with qtbot.waitSignal(client.load_failed, timeout=10_000) as failed:
            client.load(str(truncated_model), LoadOptions(context_size=512))
        assert "truncated" in failed.args[0]
        assert client.loaded is None
        with qtbot.waitSignal(client.model_loaded, timeout=30_000):
            client.load(str(starter_model), LoadOptions(context_size=512))
        with qtbot.waitSignal(client.generation_finished, timeout=60_000) as finished:
            client.generate(HELLO, Sampling(temperature=0.0, max_tokens=8))
        assert finished.args[1].generated_tokens > 0
    finally:
        client.shutdown()


def test_stop_ends_generation_quickly_and_keeps_text(qtbot, starter_model: Path) -> None:
    import time

    client = EngineClient()
    try:
        with qtbot.waitSignal(client.model_loaded, timeout=30_000):
            client.load(str(starter_model), LoadOptions(context_size=2048))
        received: list[str] = []
        arrivals: list[float] = []
        client.tokens.connect(lambda _rid, text: (received.append(text), arrivals.append(time.perf_counter())))
        with qtbot.waitSignal(client.tokens, timeout=30_000):
            client.generate(
                [{"role": "user", "content": "Write a long story about the sea."}],
                Sampling(temperature=0.8, max_tokens=1500, seed=5),
            )
        qtbot.waitUntil(lambda: len(arrivals) >= 6, timeout=30_000)
        with qtbot.waitSignal(client.generation_finished, timeout=5_000) as finished:
            asked = time.perf_counter()
            client.stop()
        # Stop takes effect within a few batches of tokens, measured on this machine now (as test_engine.py does).
        gaps = sorted(b - a for a, b in itertools.pairwise(arrivals))
        typical_gap = gaps[len(gaps) // 2]
        assert time.perf_counter() - asked < max(0.2, 3 * typical_gap)
        assert finished.args[1].finish_reason == "cancelled"
        assert "".join(received).strip()
    finally:
        client.shutdown()


def test_shutdown_during_generation_joins_the_thread(qtbot, starter_model: Path) -> None:
    client = EngineClient()
    with qtbot.waitSignal(client.model_loaded, timeout=30_000):
        client.load(str(starter_model), LoadOptions(context_size=2048))
    with qtbot.waitSignal(client.tokens, timeout=30_000):
        client.generate([{"role": "user", "content": "Count to one thousand."}], Sampling(max_tokens=1500))
    client.shutdown()
    assert not client.running
    assert client.engine.loaded is None
