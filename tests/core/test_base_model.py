"""A model without a chat template (issue 25, defects 1 and 2): the real Gemma 3 270M base GGUF in the real engine.

Before: it fell back to ChatML marked as if the template wrote BOS, so no BOS was sent, ChatML markup leaked into
the reply and the reply ran to max_tokens. Now: BOS exactly once (tokens, not text), a format the base model
continues and ends, stops at a new turn, and every face can say "no chat template" and which format is used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.engines.llama_adapter import apply_builtin_template, builtin_templates
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.engines.model_format import (
    BASE_LABEL,
    ModelTokens,
    bos_once_ids,
    fallback_template,
    is_file_format,
    model_format,
)
from app.core.library.gguf_file import read_gguf
from app.core.prompting.prompt_formats import NO_TEMPLATE, PromptFormat, bos_once, preview_prompt
from app.core.prompting.types import Sampling

MARKUP = ("<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "USER:", "ASSISTANT:", "</s>", "<bos>")
QUESTION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]
GREEDY = Sampling(temperature=0.0, max_tokens=96, seed=1)
BOS = 2  # Gemma's <bos>


@pytest.fixture(scope="module")
def gemma(base_model: Path) -> Iterator[LlamaEngine]:
    engine = LlamaEngine()
    engine.load(base_model, LoadOptions(context_size=1024))
    yield engine
    engine.unload()


def test_the_base_model_has_no_template_and_asks_for_bos(base_model: Path, gemma: LlamaEngine) -> None:
    info = read_gguf(base_model)
    assert info.chat_template is None and info.metadata["tokenizer.ggml.add_bos_token"] is True
    loaded = gemma.loaded
    assert loaded is not None and not loaded.has_template and loaded.add_bos
    assert loaded.prompt_format == BASE_LABEL  # the faces show this name
    assert loaded.format is not None and loaded.format.note.startswith(NO_TEMPLATE)


def test_its_prompt_starts_with_bos_exactly_once_as_tokens(gemma: LlamaEngine) -> None:
    rendered = gemma.render_prompt(QUESTION)
    assert rendered.text.startswith("<bos>") and not rendered.text.startswith("<bos><bos>")
    ids = gemma.prompt_tokens(rendered)
    assert ids[0] == BOS and ids.count(BOS) == 1
    generation = gemma.stream(QUESTION, GREEDY)
    reply = generation.text()
    assert generation.stats.prompt_tokens == len(ids)  # what was sent is what was counted
    assert reply.strip(), "the base model said nothing"
    assert not any(mark in reply for mark in MARKUP), reply
    assert generation.stats.finish_reason == "stop", f"ran to max_tokens: {reply!r}"
    assert generation.stats.generated_tokens < GREEDY.max_tokens


def test_sampled_replies_end_without_markup(gemma: LlamaEngine) -> None:
    """The app's default sampling: no markup ever; most replies end (90 % of 30 in docs/benchmarks.md; sampled
    tokens can differ between CPUs' kernels, so two of three here)."""
    ended = []
    for question in ("Hello! Who are you?", "Name three colours.", "Write one sentence about cats."):
        generation = gemma.stream([{"role": "user", "content": question}], Sampling(max_tokens=128, seed=2))
        reply = generation.text()
        assert not any(mark in reply for mark in MARKUP), reply
        ended.append(generation.stats.finish_reason == "stop")
    assert sum(ended) >= 2, ended


@pytest.mark.parametrize("choice", ["chatml", "llama-3", "custom"])
def test_every_format_honours_the_models_bos(gemma: LlamaEngine, choice: str) -> None:
    """A named format (Llama 3 writes ``{{ bos_token }}`` itself, ChatML does not) and a custom one: BOS once."""
    custom = "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:"
    prompt_format = gemma.prompt_format(choice, custom)
    ids = gemma.prompt_tokens(gemma.render_prompt(QUESTION, prompt_format))
    assert ids[0] == BOS and ids.count(BOS) == 1


def test_a_format_set_for_the_file_is_used_and_named(base_model: Path) -> None:
    engine = LlamaEngine()
    try:
        loaded = engine.load(base_model, LoadOptions(context_size=512, prompt_format="llama.cpp:gemma"))
        assert loaded.prompt_format == "gemma (llama.cpp built-in)" and not loaded.has_template
        rendered = engine.render_prompt(QUESTION)
        assert rendered.text.startswith("<bos><start_of_turn>user\nYou are a helpful assistant.")
        assert rendered.text.endswith("<start_of_turn>model\n")
        assert "<end_of_turn>" in rendered.stop and "<start_of_turn>user" in rendered.stop
        assert engine.prompt_tokens(rendered)[:2] == [BOS, 105]  # <bos><start_of_turn>, once each
        loaded = engine.load(base_model, LoadOptions(context_size=512, prompt_format="llama.cpp:klingon"))
        assert loaded.prompt_format == BASE_LABEL  # an unknown one is said and Auto used: nothing lost
        assert any("klingon" in note for note in loaded.notes)
    finally:
        engine.unload()


def test_the_fallback_comes_from_llama_cpps_templates_for_the_architecture(base_model: Path) -> None:
    info = read_gguf(base_model)
    builtins = builtin_templates()
    assert "gemma" in builtins and "vicuna" in builtins
    assert fallback_template(info, builtins) == "vicuna"  # a base model: a plain transcript it continues
    tuned = dataclasses.replace(info, metadata={**info.metadata, "general.finetune": "it"})
    assert fallback_template(tuned, builtins) == "gemma"  # an instruct Gemma without its template: Gemma's
    other = dataclasses.replace(tuned, metadata={**tuned.metadata, "general.architecture": "llama"})
    assert fallback_template(other, builtins) == ""  # "llama" says nothing of the format: ChatML
    generic = dataclasses.replace(info, metadata={**info.metadata, "general.architecture": "llama",
                                                  "general.name": "teknium_openhermes-2-mistral-7b"})  # fmt: skip
    assert fallback_template(generic, builtins) == ""  # an old OpenHermes 2 conversion keeps ChatML, as before
    based = dataclasses.replace(generic, metadata={**generic.metadata, "general.name": "Mistral 7B v0.1 Base"})
    assert fallback_template(based, builtins) == "vicuna"  # a file that says it is a base model: the transcript
    chosen, has_template, _notes = model_format(other, "auto", ModelTokens("<s>", "</s>", True), builtins,
                                                apply_builtin_template)  # fmt: skip
    assert chosen.name == "ChatML" and not has_template and chosen.note == f"{NO_TEMPLATE}: using ChatML."
    assert chosen.render([{"role": "user", "content": "Hi"}]).text.startswith("<s><|im_start|>user")


def test_the_preview_shows_the_engines_own_format_and_says_there_is_no_template(gemma: LlamaEngine) -> None:
    loaded = gemma.loaded
    assert loaded is not None
    text, notes = preview_prompt(QUESTION, "auto", model_template=None, bos_token="<bos>", eos_token="<eos>",
                                 add_bos=True, model_format=loaded.format)  # fmt: skip
    assert text == gemma.render_prompt(QUESTION).text
    assert notes[0] == f"Format: {BASE_LABEL}" and notes[1].startswith(NO_TEMPLATE)


def test_bos_once_in_text_and_tokens() -> None:
    assert bos_once("<s><s>Hi", "<s>", add_bos=False) == "<s>Hi"  # a template that wrote it twice
    assert bos_once("Hi", "<s>", add_bos=True) == "<s>Hi"
    assert bos_once("Hi", "<s>", add_bos=False) == "Hi"  # the GGUF does not want one: none added
    assert bos_once_ids([1, 1, 5], 1, add_bos=True) == [1, 5]
    assert bos_once_ids([5], 1, add_bos=True) == [1, 5]
    assert bos_once_ids([5], 1, add_bos=False) == [5]
    chatml = PromptFormat("x", "{{ bos_token }}{{ messages[0].content }}", bos_token="<bos>", add_bos=True)
    assert chatml.render([{"role": "user", "content": "Hi"}]).text == "<bos>Hi"


def test_file_format_keys() -> None:
    assert all(is_file_format(key) for key in ("auto", "chatml", "llama-3", "llama.cpp:gemma", "llama.cpp:seed_oss"))
    assert not any(is_file_format(key) for key in ("custom", "klingon", "llama.cpp:", "llama.cpp:a b", 7 * "x"))
