"""The template sandbox's limits that need no Jinja: the size bound, its error, and the time bound.

``prompt_formats`` checks templates with these on the start path; compiling and rendering
(``template_sandbox``, which imports jinja2) is loaded only when a chat template is first compiled.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from app.core.errors import TemplateError

T = TypeVar("T")

MAX_CHARS = 4 << 20  # one string (a list: 8 per item): the largest prompt a model could take, and then some


class TemplateTooBig(TemplateError):
    """A template operation would allocate more than its budget."""


def stopped_after(work: Callable[[], T], seconds: float, stop: Callable[[], Exception], *, template_lines: bool) -> T:
    """Run ``work()``, raising ``stop()`` once it runs past ``seconds``.

    Jinja compiles templates to Python, so a trace function can stop them. ``template_lines``: every line of compiled
    template code is counted (a render; a filter's own loop is bounded by its input's size); else every Python call
    (a compile: Jinja's lexer, parser and code generator are Python calls; no line tracing, a small cost).
    """
    deadline = time.perf_counter() + seconds
    every = 256 if template_lines else 4096
    count = [0]

    def check(frame: FrameType, event: str, arg: Any) -> Any:
        count[0] += 1
        if count[0] % every == 0 and time.perf_counter() > deadline:
            raise stop()
        return check if template_lines else None

    def on_call(frame: FrameType, event: str, arg: Any) -> Any:
        if template_lines:
            return check if frame.f_code.co_filename == "<template>" else None
        return check(frame, event, arg)

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        return work()
    finally:
        sys.settrace(previous)
