"""Fenced code blocks are found as CommonMark finds them; Pygments colours give back the exact code."""

from __future__ import annotations

from app.core.rendering.code_blocks import code_blocks
from app.core.rendering.fences import Segment, split_fences
from app.core.rendering.highlight import PLAIN, highlight, known_language

REPLY = """Intro line.

```python
def f(x):

    return "hi"  # a comment
```
Between.
~~~~
``` not a close (shorter tilde fence is still open)
~~~~
   ```js
   const a = 1;
     indented();
   ```
Tail."""


def test_prose_and_code_alternate_and_code_is_exact() -> None:
    segments = split_fences(REPLY)
    assert [s.code for s in segments] == [False, True, False, True, True, False]
    assert segments[1] == Segment('def f(x):\n\n    return "hi"  # a comment', True, "python", True)
    assert segments[3].text == "``` not a close (shorter tilde fence is still open)" and segments[3].language == ""
    assert segments[4].text == "const a = 1;\n  indented();"  # the fence's own indentation is removed
    assert segments[-1].text == "Tail."


def test_the_closed_blocks_agree_with_the_copy_menu() -> None:
    text = "a\n```py\nx = 1\ny = 2\n```\nb\n```\nplain\n```\n"
    found = [s for s in split_fences(text) if s.code]
    assert [(s.language, s.text) for s in found] == [(b.language, b.code) for b in code_blocks(text)]


def test_an_unclosed_block_runs_to_the_end() -> None:
    segments = split_fences("Look:\n```python\nprint(1)\nprint(")
    assert segments[-1] == Segment("print(1)\nprint(", True, "python", False)
    assert split_fences("```")[0] == Segment("", True, "", False)


def test_inline_backticks_are_not_a_fence() -> None:
    assert split_fences("```a``` is inline\n") == [Segment("```a``` is inline\n")]


def test_runs_add_up_to_the_code_and_keyword_and_string_differ() -> None:
    code = 'def greet(name):\n\treturn "hello " + name  # hi\n\n'
    for dark in (False, True):
        runs = highlight(code, "python", dark=dark)
        assert "".join(run.text for run in runs) == code
        colours = {run.text.strip(): run.colour for run in runs}
        assert colours["def"].color and colours['"hello "'].color
        assert colours["def"] != colours['"hello "'] != PLAIN


def test_unknown_language_and_empty_code_are_plain() -> None:
    assert highlight("x = 1", "no-such-language", dark=False) == highlight("x = 1", "", dark=True)
    assert [run.colour for run in highlight("x = 1", "", dark=False)] == [PLAIN]
    assert highlight("", "python", dark=False) == []
    assert known_language("Python") and known_language("sh") and not known_language("klingon")
