"""Prompt-lookup decoding with the real engine and the starter model: the same greedy reply, token for token, with
drafts accepted; with a state restored from the cache; refused without flash attention (where it could differ)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.engines.model_options import clean_options
from app.core.engines.state_cache import StateCache
from app.core.errors import ModelLoadError
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.types import GenerationStats, Sampling
from app.core.settings import Settings

PLAIN = LoadOptions(context_size=2048, flash_attn="on")  # drafting turns flash attention on: the same here
DRAFTING = PLAIN.with_overrides(flash_attn="auto", prompt_lookup=4)
CODE = '''def parse_config(path):
    """Read a config file of key = value lines."""
    values = {}
    with open(path, encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values
'''
REPEAT: list[ChatMessage] = [
    {
        "role": "user",
        "content": f"Here is a function:\n```python\n{CODE}```\nRepeat this code with one change: the function is "
        "called load_config.",
    }
]


def reply(engine: LlamaEngine, messages: list[ChatMessage], tokens: int) -> tuple[str, GenerationStats]:
    generation = engine.stream(messages, Sampling(temperature=0.0, max_tokens=tokens, seed=2))
    return generation.text(), generation.stats


@pytest.fixture(scope="module")
def plain(starter_model: Path) -> LlamaEngine:
    engine = LlamaEngine()
    engine.load(starter_model, PLAIN)
    yield engine
    engine.unload()


def test_drafted_reply_is_the_plain_greedy_reply(starter_model: Path, plain: LlamaEngine) -> None:
    engine = LlamaEngine()
    engine.load(starter_model, DRAFTING)
    try:
        drafted_text, drafted = reply(engine, REPEAT, 40)
        plain_text, stats = reply(plain, REPEAT, 40)
        assert drafted.drafted_tokens > 0 and drafted.accepted_tokens > 0  # drafts were made and some were kept
        assert drafted_text == plain_text
        assert drafted.generated_tokens == stats.generated_tokens
        assert stats.drafted_tokens == 0
        # the context holds exactly the checked tokens: the next turn continues as the plain engine's does
        follow = [*REPEAT, {"role": "assistant", "content": plain_text}, {"role": "user", "content": "Thanks!"}]
        assert reply(engine, follow, 12)[0] == reply(plain, follow, 12)[0]
    finally:
        engine.unload()


def test_drafting_continues_from_a_restored_state(starter_model: Path, plain: LlamaEngine, tmp_path: Path) -> None:
    engine = LlamaEngine(StateCache(tmp_path / "states"))
    engine.load(starter_model, DRAFTING)
    notes = " ".join(f"Line {i}: value_{i} = {i * 7 % 13}" for i in range(50))
    chat: list[ChatMessage] = [{"role": "system", "content": f"Keep these lines. {notes}"},
                               {"role": "user", "content": "Repeat lines 3 to 6."}]  # fmt: skip
    try:
        first, _ = reply(engine, chat, 16)
        reply(engine, REPEAT, 8)  # another chat: the context no longer holds the first
        again = [*chat, {"role": "assistant", "content": first}, {"role": "user", "content": "And lines 7 to 9?"}]
        text, stats = reply(engine, again, 20)
        assert stats.restored_tokens > 256 and stats.drafted_tokens > 0
        assert text == reply(plain, again, 20)[0]
    finally:
        engine.unload()


def test_prompt_lookup_needs_flash_attention_and_a_sane_length(starter_model: Path) -> None:
    engine = LlamaEngine()
    with pytest.raises(ModelLoadError, match="needs flash attention"):
        engine.load(starter_model, DRAFTING.with_overrides(flash_attn="off"))
    with pytest.raises(ModelLoadError, match="1 to 64"):
        engine.load(starter_model, DRAFTING.with_overrides(prompt_lookup=500))
    assert engine.loaded is None
    assert clean_options({"prompt_lookup": 500}) == {"prompt_lookup": 64}
    assert clean_options({"prompt_lookup": "lots"}) == {}
    assert Settings(prompt_lookup=-3).validated().prompt_lookup == 0
    assert Settings().prompt_lookup == 0  # off by default: slower on the machines measured (docs/benchmarks.md)


def test_drafting_stops_for_the_reply_once_few_drafts_are_accepted() -> None:
    """The real ``LlamaPromptLookupDecoding`` inside ``Drafter``, called as ``Llama.generate`` calls it: the
    sequence grows by the sampled token only (every proposal refused), or by part of each proposal too."""
    import numpy as np

    from app.core.engines.prompt_lookup import WARM_UP, DraftCounts, Drafter

    refused = DraftCounts()
    drafter = Drafter(4, refused, on_first_call=lambda: None)
    proposals = []
    for step in range(40):  # ends in "1 2", which the lookup finds earlier: a proposal each time, until it stops
        ids = np.array([1, 2, 3] * 5 + [7] * step + [1, 2], dtype=np.intc)
        proposals.append(len(drafter(ids)))
    assert refused.accepted == 0 and WARM_UP <= refused.drafted < WARM_UP + 4  # judged once WARM_UP were drafted
    assert refused.stopped_at == refused.drafted and proposals[-1] == 0  # and none for the rest of the reply
    assert sum(proposals) == refused.drafted

    kept = DraftCounts()
    drafter = Drafter(4, kept, on_first_call=lambda: None)
    for step in range(40):  # three more tokens each call: two of each proposal accepted, half of them
        drafter(np.array([1, 2, 3] * (5 + step) + [1, 2], dtype=np.intc))
    assert kept.stopped_at == 0 and kept.accepted * 2 >= kept.drafted - 4 and kept.drafted > 100
