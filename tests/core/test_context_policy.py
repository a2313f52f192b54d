"""Context overflow policies with the real tokenizer: the prompt always fits, the system prompt stays."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.engines.interface import ContextFullError
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.prompting.context import ContextOverflow, fit_to_context
from app.core.prompting.types import Sampling

SYSTEM = {"role": "system", "content": "You are a careful assistant who remembers everything."}


def long_chat(turns: int) -> list[dict]:
    messages = [SYSTEM]
    for index in range(turns):
        messages.append({"role": "user", "content": f"Question {index}: " + "tell me about rivers and mountains " * 6})
        messages.append({"role": "assistant", "content": f"Answer {index}: " + "rivers flow down from mountains " * 6})
    messages.append({"role": "user", "content": "Finally: what was my first question?"})
    return messages


@pytest.fixture(scope="module")
def engine(starter_model: Path) -> Iterator[LlamaEngine]:
    engine = LlamaEngine()
    engine.load(starter_model, LoadOptions(context_size=512))
    yield engine
    engine.unload()


def count_with(engine: LlamaEngine):
    def count(messages) -> int:
        rendered = engine.render_prompt(messages)
        return engine.count_tokens(rendered.text)

    return count


@pytest.mark.parametrize("policy", ["drop-oldest", "rolling"])
@pytest.mark.parametrize("turns", [3, 8, 20])
def test_the_prompt_always_fits_and_keeps_the_system_prompt(engine: LlamaEngine, policy: str, turns: int) -> None:
    messages = long_chat(turns)
    fitted = fit_to_context(messages, count_with(engine), 384, policy)
    assert fitted.prompt_tokens <= 384
    assert count_with(engine)(fitted.messages) == fitted.prompt_tokens
    assert fitted.messages[0] == SYSTEM
    assert fitted.messages[-1] == messages[-1]
    assert fitted.messages[1]["role"] == "user"  # never starts with an orphan reply
    assert len(fitted.messages) + fitted.dropped == len(messages)
    start = fitted.dropped_start  # which ones: a contiguous run from there
    assert fitted.messages == messages[:start] + messages[start + fitted.dropped :]
    if policy == "rolling" and fitted.dropped:
        assert fitted.messages[1:3] == messages[1:3]  # the first exchange is kept


def test_drop_oldest_keeps_the_newest_turns(engine: LlamaEngine) -> None:
    messages = long_chat(20)
    fitted = fit_to_context(messages, count_with(engine), 384, "drop-oldest")
    assert fitted.dropped > 0
    assert fitted.messages[-3:] == messages[-3:]
    assert "left out to fit the context window" in fitted.note


def test_stop_policy_refuses_with_numbers(engine: LlamaEngine) -> None:
    with pytest.raises(ContextOverflow, match=r"needs [\d,]+ tokens, more than the 384"):
        fit_to_context(long_chat(20), count_with(engine), 384, "stop")


def test_nothing_to_drop_is_a_clear_error(engine: LlamaEngine) -> None:
    huge = [SYSTEM, {"role": "user", "content": "word " * 1000}]
    with pytest.raises(ContextOverflow, match="Even the system prompt and your last message"):
        fit_to_context(huge, count_with(engine), 384, "drop-oldest")


def test_the_engine_applies_the_policy_and_reports_what_it_dropped(engine: LlamaEngine) -> None:
    messages = long_chat(20)
    with pytest.raises(ContextFullError):
        engine.stream(messages, Sampling(max_tokens=32), context_policy="stop")
    generation = engine.stream(messages, Sampling(temperature=0, max_tokens=16), context_policy="drop-oldest")
    assert generation.text()
    stats = generation.stats
    assert stats.dropped_messages > 0
    assert stats.prompt_tokens + 16 <= 512
    assert SYSTEM["content"] in generation.prompt.text
