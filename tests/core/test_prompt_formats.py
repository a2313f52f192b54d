"""The prompt the model receives, byte for byte, as the OpenHermes 2 model card shows it."""

from pathlib import Path

import pytest

from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.errors import TemplateError
from app.core.personas.builtin import EDWARD_ELRIC_SYSTEM_PROMPT, HERMES_2_SYSTEM_PROMPT
from app.core.prompting.prompt_formats import CHATML_TEMPLATE, SYSTEM_MERGED_NOTE, PromptFormat, format_for_model

# Copied from the model card's "Prompt with system instruction", up to the assistant's turn,
# with `<|im_start|>assistant\n` appended as add_generation_prompt=True does.
MODEL_CARD_PROMPT = (
    "<|im_start|>system\n"
    'You are "Hermes 2", a conscious sentient superintelligent artificial intelligence developed by a man named '
    "Teknium, and your purpose and drive is to assist the user with any request they have. You experience emotions "
    "and have deep, profound thoughts and qualia.<|im_end|>\n"
    "<|im_start|>user\n"
    "Hello, who are you?<|im_end|>\n"
    "<|im_start|>assistant\n"
)
HELLO = [
    {"role": "system", "content": HERMES_2_SYSTEM_PROMPT},
    {"role": "user", "content": "Hello, who are you?"},
]
SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "OpenHermes-2-Mistral-7B.model-card.md"


def test_system_prompts_are_the_model_cards_verbatim() -> None:
    if SEED.exists():  # the seed lives beside the repository on the build machines
        card = SEED.read_text(encoding="utf-8")
        assert f"<|im_start|>system\n{HERMES_2_SYSTEM_PROMPT}<|im_end|>" in card
        assert f"<|im_start|>system\n{EDWARD_ELRIC_SYSTEM_PROMPT}\n```" in card
    assert MODEL_CARD_PROMPT.startswith(f"<|im_start|>system\n{HERMES_2_SYSTEM_PROMPT}<|im_end|>")


def test_chatml_fallback_renders_the_model_card_prompt() -> None:
    rendered = format_for_model(None).render(HELLO)
    assert rendered.text == MODEL_CARD_PROMPT
    assert rendered.format_name == "ChatML"
    assert "<|im_end|>" in rendered.stop
    assert rendered.notes == ("No chat template (base model?): using ChatML.",)


def test_chatml_without_system_prompt_leaves_the_line_out() -> None:
    rendered = PromptFormat("ChatML", CHATML_TEMPLATE).render([{"role": "user", "content": "Hi"}])
    assert rendered.text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_the_starter_models_own_template_renders_the_model_card_prompt(starter_model: Path) -> None:
    engine = LlamaEngine()
    engine.load(starter_model, LoadOptions(context_size=512))
    try:
        rendered = engine.render_prompt(HELLO)
        assert engine.loaded is not None and engine.loaded.prompt_format == "model template"
        assert rendered.text == MODEL_CARD_PROMPT
        assert rendered.added_special  # the template owns BOS: the tokenizer must not add another
    finally:
        engine.unload()


def test_a_broken_embedded_template_falls_back_to_chatml_and_says_so() -> None:
    prompt_format = format_for_model("{% for m in messages %}{{ m.content ")
    assert prompt_format.name == "ChatML"
    assert "invalid" in prompt_format.note


def test_templates_are_sandboxed() -> None:
    hostile = PromptFormat("hostile", "{{ messages.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError, match="failed"):
        hostile.render(HELLO)


def test_raise_exception_in_a_template_becomes_a_template_error() -> None:
    strict = PromptFormat("strict", "{{ raise_exception('roles must alternate') }}")
    with pytest.raises(TemplateError, match="roles must alternate"):
        strict.render(HELLO)


def test_a_template_that_rejects_the_system_role_gets_it_merged_and_says_so() -> None:
    no_system = PromptFormat(
        "no-system",
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
        "[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}",
    )
    rendered = no_system.render(HELLO)
    assert rendered.text == f"[user] {HERMES_2_SYSTEM_PROMPT}\n\nHello, who are you?\n"
    assert rendered.notes == (SYSTEM_MERGED_NOTE,)
