"""Chat templates are bounded in memory and time, and real templates render exactly as llama-cpp-python renders them."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest

from app.core.errors import TemplateError
from app.core.prompting.prompt_formats import RENDER_SECONDS, PromptFormat, resolve_format

HERE = Path(__file__).resolve().parents[1] / "data" / "chat_templates"
CONVERSATIONS = {
    "with a system prompt": [
        {"role": "system", "content": "You are Hermes, a helpful assistant."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "without one": [{"role": "user", "content": "What is 2 + 2?"}],
    "long": [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "word " * 400}
             for i in range(41)],
}  # fmt: skip


def template_files() -> list[Path]:
    """The committed common templates, plus llama.cpp's whole models/templates when present."""
    folders = [HERE]
    if os.environ.get("HERMES_CHAT_TEMPLATES"):
        folders.append(Path(os.environ["HERMES_CHAT_TEMPLATES"]))
    try:
        import llama_cpp

        folders.append(Path(llama_cpp.__file__).parents[1] / "vendor" / "llama.cpp" / "models" / "templates")
    except ImportError:
        pass
    found = {path.name: path for folder in folders if folder.is_dir() for path in sorted(folder.glob("*.jinja"))}
    return sorted(found.values())


def reference(template: str, messages: list[dict]) -> str | None:
    """llama-cpp-python's own (unbounded) rendering, or None where it fails."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    try:
        return Jinja2ChatFormatter(template=template, eos_token="</s>", bos_token="<s>")(messages=messages).prompt
    except Exception:
        return None


def test_the_common_templates_are_all_here() -> None:
    names = {path.name for path in HERE.glob("*.jinja")}
    for model in ("Llama-3.1", "Qwen2.5", "Mistral-Nemo", "gemma-2", "Phi-3.5", "DeepSeek-R1", "command-r7b"):
        assert any(model in name for name in names), model


@pytest.mark.parametrize("path", template_files(), ids=lambda path: path.stem)
def test_a_real_template_renders_exactly_as_llama_cpp_python_renders_it(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    bounded = PromptFormat(path.stem, source, bos_token="<s>", eos_token="</s>")
    rendered_any = False
    for name, messages in CONVERSATIONS.items():
        expected = reference(source, messages)
        if expected is None:
            with pytest.raises(TemplateError):
                bounded._render(messages)
            continue
        assert bounded._render(messages) == expected, name
        rendered_any = True
    if not rendered_any:  # a tool-use variant that needs `tools`: llama-cpp-python cannot render it either
        return
    prompt = bounded.render(CONVERSATIONS["with a system prompt"])  # as the app renders (merges an unwanted system)
    assert "Tell me a joke." in prompt.text


HOSTILE = {
    "issue 13's gigabyte": ("{% set x = 'a' * 10**9 %}{{ x }}", "'\\*' \\(repetition\\)"),
    "repetition in output": ("{{ 'ab' * 999999999 }}", "repetition"),
    "list repetition": ("{{ ([1, 2] * 10**8)|length }}", "repetition"),
    "tuple repetition": ("{{ ((1,) * 10**9)|length }}", "repetition"),
    "a huge power": ("{{ 7 ** (10 ** 10) }}", "'\\*\\*' would make a number"),
    "doubling with ~": (
        "{% set ns = namespace(x='a') %}{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x }}",
        "'~' \\(concatenation\\)",
    ),
    "doubling with +": (
        "{% set ns = namespace(x='a') %}{% for i in range(64) %}{% set ns.x = ns.x + ns.x %}{% endfor %}{{ ns.x }}",
        "'\\+' \\(concatenation\\)",
    ),
    "center": ("{{ 'a'|center(10**9) }}", "center"),
    "indent": ("{{ ('a\\n' * 1000)|indent(10**7) }}", "indent"),
    "format filter": ("{{ '%999999999d'|format(1) }}", "format width"),
    "% with a star": ("{{ '%*d' % (10**9, 1) }}", "format width"),
    "str.format": ("{{ '{:>999999999}'.format(1) }}", "format width"),
    "ljust": ("{{ 'a'.ljust(10**9) }}", "str.ljust"),
    "zfill": ("{{ 'a'.zfill(10**9) }}", "str.zfill"),
    "expandtabs": ("{{ ('\\t' * 1000).expandtabs(10**7) }}", "expandtabs"),
    "join": ("{{ range(50000)|join('x' * 1000) }}", "join"),
    "str.join": ("{{ ('x' * 1000).join(range(50000)|map('string')) }}", "str.join"),
    "replace": ("{{ ('a' * 1000)|replace('', 'x' * 10000) }}", "replace"),
    "range": ("{% for i in range(10**9) %}{% endfor %}", "range"),
    "batch fill": ("{{ [1]|batch(10**9, 0)|list|length }}", "batch"),
    "sum of lists": ("{{ ([[1] * 1000] * 50000)|sum(start=[])|length }}", "concatenation"),
    "tojson indent": ("{{ messages|tojson(indent=10**8) }}", "tojson"),
    "output": ("{% set s = 'x' * 1000000 %}{% for i in range(100000) %}{{ s }}{% endfor %}", "output passed"),
    "many sets": ("".join(f"{{% set a{i} = 'x' * 4000000 %}}" for i in range(200)) + "{{ a0|length }}", "in all"),
    "recursion": (
        "{% macro f(n) %}{% set s = 'x' * 3000000 %}{{ f(n + 1) }}{{ s|length }}{% endmacro %}{{ f(0) }}",
        "in all",
    ),
    "nested loops": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "longer"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_template_is_refused_quickly_within_a_few_tens_of_mb(name: str) -> None:
    template, problem = HOSTILE[name]
    tracemalloc.start()
    started = time.process_time()  # this thread's work, not the waits a loaded machine adds
    try:
        with pytest.raises(TemplateError, match=problem):
            PromptFormat("hostile", template).render([{"role": "user", "content": "Hi"}])
        elapsed = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20, f"{peak / 2**20:.0f} MB allocated before the refusal"
    # The time budget itself (plus the margin a loaded machine needs to notice it): most refusals take milliseconds.
    assert elapsed < RENDER_SECONDS * 2.5


def test_a_custom_preset_template_is_bounded_too() -> None:
    with pytest.raises(TemplateError, match=r"custom template chat template was refused: '\*' \(repetition\)"):
        resolve_format("custom", custom_template="{{ 'a' * 10**9 }}").render([{"role": "user", "content": "Hi"}])


def test_ordinary_operations_still_work() -> None:
    template = (
        "{% set ns = namespace(out='') %}{% for m in messages %}{% set ns.out = ns.out ~ m.role ~ ':' ~ m.content %}"
        "{% endfor %}{{ ns.out }}|{{ '-' * 3 }}|{{ 2 ** 10 }}|{{ 'x'|center(5) }}|{{ '%02d'|format(7) }}"
        "|{{ '{:>4}'.format('a') }}|{{ [1, 2]|join(',') }}|{{ 'a b'|replace(' ', '_') }}|{{ range(3)|sum }}"
        "|{{ messages|tojson }}|{{ 'ab'.ljust(4, '.') }}|{{ (messages|map(attribute='content')|list) + ['z'] }}"
        "|{{ '+'.join(messages|map(attribute='role')) }}|{{ '{a}'.format_map({'a': 1}) }}"
    )
    text = PromptFormat("ordinary", template).render([{"role": "user", "content": "Hi"}]).text
    expected = "user:Hi|---|1024|  x  |07|   a|1,2|a_b|3|" + '[{"role": "user", "content": "Hi"}]'
    expected += "|ab..|['Hi', 'z']|user|1"
    assert text == expected
