"""Every named prompt format renders a 3-turn conversation exactly as its reference specifies."""

import time

import pytest

from app.core.errors import TemplateError
from app.core.prompting.prompt_formats import SYSTEM_MERGED_NOTE, TemplateTimeout, resolve_format

THREE_TURNS = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Name a colour."},
    {"role": "assistant", "content": "Blue."},
    {"role": "user", "content": "Another?"},
]

EXPECTED = {
    # ChatML (OpenHermes 2 model card; OpenAI ChatML)
    "chatml": "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n"
    "<|im_start|>assistant\nBlue.<|im_end|>\n<|im_start|>user\nAnother?<|im_end|>\n<|im_start|>assistant\n",
    # Meta Llama 2 chat: <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s>
    "llama-2": "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello. </s>"
    "<s>[INST] Name a colour. [/INST] Blue. </s><s>[INST] Another? [/INST]",
    # Meta Llama 3 instruct
    "llama-3": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\nBlue.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nAnother?<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    # Mistral Instruct v0.1: no system role, so it is merged into the first user turn
    "mistral-instruct": "<s>[INST] You are terse.\n\nHi [/INST]Hello.</s>[INST] Name a colour. [/INST]Blue.</s>"
    "[INST] Another? [/INST]",
    # Stanford Alpaca
    "alpaca": "You are terse.\n\n### Instruction:\nHi\n\n### Response:\nHello.\n\n### Instruction:\nName a colour.\n\n"
    "### Response:\nBlue.\n\n### Instruction:\nAnother?\n\n### Response:\n",
    # Vicuna v1.1 (FastChat)
    "vicuna": "You are terse. USER: Hi ASSISTANT: Hello.</s>USER: Name a colour. ASSISTANT: Blue.</s>"
    "USER: Another? ASSISTANT:",
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_three_turns(key: str) -> None:
    rendered = resolve_format(key).render(THREE_TURNS)
    assert rendered.text == EXPECTED[key]
    assert (SYSTEM_MERGED_NOTE in rendered.notes) == (key == "mistral-instruct")


def test_alpaca_and_vicuna_default_system_prompts() -> None:
    alpaca = resolve_format("alpaca").render([{"role": "user", "content": "Hi"}]).text
    assert alpaca.startswith("Below is an instruction that describes a task. Write a response that appropriately")
    vicuna = resolve_format("vicuna").render([{"role": "user", "content": "Hi"}]).text
    assert vicuna == (
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions. USER: Hi ASSISTANT:"
    )


def test_a_loaded_models_tokens_replace_the_formats_defaults() -> None:
    rendered = resolve_format("llama-3", bos_token="<BOS>", eos_token="<EOS>").render(
        [{"role": "user", "content": "x"}]
    )
    assert rendered.text.startswith("<BOS><|start_header_id|>user")
    assert "<EOS>" in rendered.stop


@pytest.mark.parametrize(
    "template",
    [
        "{% include '/etc/passwd' %}",
        "{{ messages.__class__.__mro__[-1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ ''.__class__ }}",
        "{% import 'os' as os %}",
    ],
)
def test_hostile_custom_templates_are_refused(template: str) -> None:
    """The sandbox either refuses outright or renders nothing of what was reached for."""
    try:
        text = resolve_format("custom", custom_template=template).render(THREE_TURNS).text
    except TemplateError:
        return
    assert "class" not in text and "root:" not in text and "uid=" not in text


def test_an_endless_template_is_stopped() -> None:
    endless = "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}"
    started = time.perf_counter()
    with pytest.raises(TemplateTimeout, match="took longer than"):
        resolve_format("custom", custom_template=endless).render(THREE_TURNS)
    assert time.perf_counter() - started < 5


def test_empty_or_unknown_formats_are_clear_errors() -> None:
    with pytest.raises(TemplateError, match="empty"):
        resolve_format("custom", custom_template="  ")
    with pytest.raises(TemplateError, match="Unknown prompt format"):
        resolve_format("klingon")
