"""Hostile chat templates (issue 28, items 9 and 21): compiling is bounded, a broken one is a message."""

from __future__ import annotations

import time

import pytest

from app.core.errors import TemplateError
from app.core.prompting import template_sandbox
from app.core.prompting.prompt_formats import PromptFormat, format_for_model


def test_a_template_of_100000_empty_tags_is_refused_at_once() -> None:
    source = "{{ '' }}" * 100_000  # 0.8 MB: 11 s to compile before
    started = time.monotonic()
    chosen = format_for_model(source)
    assert time.monotonic() - started < 2
    assert chosen.name == "ChatML" and "800,000 characters long" in chosen.note


def test_many_tags_in_a_short_template_are_refused() -> None:
    with pytest.raises(TemplateError, match="20,000 tags"):
        PromptFormat("custom template", "{{x}}" * 20_000)


def test_compiling_stops_at_its_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template_sandbox, "COMPILE_SECONDS", 0.0)
    with pytest.raises(TemplateError, match="compiling it took longer than 0 s"):
        PromptFormat("custom template", "{% for m in messages %}{{ m.content }}{% endfor %}" * 50)


def test_a_real_template_still_compiles_and_renders() -> None:
    chosen = format_for_model(
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    )
    assert chosen.name == "model template"
    assert "<|im_start|>user\nhi" in chosen.render([{"role": "user", "content": "hi"}]).text


def test_llama_cpp_python_no_longer_compiles_the_files_templates_itself() -> None:
    # Llama() compiled every template in a file with plain Jinja at load: unbounded, and a raw TemplateSyntaxError
    # for a broken one. Now its formatters compile only if used (the app never uses them).
    from app.core.engines.llama_adapter import import_llama_cpp

    import_llama_cpp()
    from llama_cpp import llama_chat_format

    started = time.monotonic()
    broken_and_big = "{% for m in messages %}{{ m.content }" + "{{''}}" * 100_000
    formatter = llama_chat_format.Jinja2ChatFormatter(template=broken_and_big, eos_token="", bos_token="")
    formatter.to_chat_handler()
    assert time.monotonic() - started < 1
