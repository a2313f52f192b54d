"""A Jinja sandbox with a memory budget, for chat templates that come from strangers (a GGUF, a preset).

This is the part that imports jinja2 (loaded on a template's first compile); its limits are in ``template_limits``.

Jinja's ``ImmutableSandboxedEnvironment`` stops attribute tricks and mutation, and the time budget
in ``prompt_formats`` stops long loops, but neither can stop one big C-level operation:
``{{ 'a' * 10**9 }}`` allocates a gigabyte before any check runs. Here every operation that can
multiply size is checked *before* it runs — ``*``, ``**``, ``+``, ``%``, ``~``, the filters
``center``/``indent``/``format``/``join``/``replace``/``batch``/``slice``/``sum``/``tojson``, the
string methods ``ljust``/``rjust``/``center``/``zfill``/``expandtabs``/``join``/``replace``/``format``
— and refused with a ``TemplateError`` naming the operation when its result would exceed
``MAX_CHARS``, or when the sizes produced by one render add up to more than ``TOTAL_CHARS`` plus
``TOTAL_PER_INPUT_CHAR`` times the conversation (which bounds what recursion, namespaces and a long run of
``set`` can keep alive). ``range`` is capped, ``lipsum`` is gone, and
the output is counted as it is generated. Compiling is bounded too: ``MAX_TEMPLATE_CHARS``, ``MAX_TAGS`` and
``COMPILE_SECONDS`` (100,000 empty tags took 11 s to compile, 7 million never finished).

The environment renders like llama-cpp-python's ``Jinja2ChatFormatter`` (same options, extensions,
``tojson``, ``strftime_now``, ``raise_exception``), so templates behave as they do there.
"""

from __future__ import annotations

import json
import math
import re
import string
import threading
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Concat
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.core.errors import TemplateError
from app.core.prompting.template_limits import MAX_CHARS, TemplateTooBig, stopped_after

# Everything one render may produce through the operations above: a base, plus a multiple of the conversation,
# because real templates that build the prompt in a namespace (``ns.x = ns.x ~ turn``) produce about
# (number of messages) × (prompt size) characters, nearly all of it freed at once (Reka-Edge: 201× for 201 turns).
TOTAL_CHARS = 32 << 20
TOTAL_PER_INPUT_CHAR = 256
MAX_RANGE = 100_000
MAX_TEMPLATE_CHARS = 256 << 10  # a template's source: real ones are 1–20 KB (Llama 3.1 with tools: ~10 KB)
MAX_TAGS = 10_000  # ``{{ }}`` and ``{% %}`` tags in one template (real ones: a few hundred)
COMPILE_SECONDS = 5.0  # compiling a template: milliseconds for a real one
MAX_WIDTH = 10_000  # a padding or indent width
MAX_INT_BITS = 100_000
_WIDTH = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")


class _Budget(threading.local):
    used = 0
    limit = TOTAL_CHARS


_budget = _Budget()


def reset_budget(input_chars: int = 0) -> None:
    """Start a render's allocation count (one per thread), for a conversation of ``input_chars``."""
    _budget.used = 0
    _budget.limit = TOTAL_CHARS + TOTAL_PER_INPUT_CHAR * input_chars


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | list | tuple):
        return len(value)
    return 0


def _cost(value: str | list[Any] | tuple[Any, ...]) -> int:
    """Characters for a string; a list or tuple costs a pointer (8 bytes) per item."""
    return len(value) if isinstance(value, str) else 8 * len(value)


def _charge(what: str, size: int) -> None:
    if size > MAX_CHARS:
        raise TemplateTooBig(f"{what} would make a value of {size:,} characters (the limit is {MAX_CHARS:,}).")
    _budget.used += size
    if _budget.used > _budget.limit:
        raise TemplateTooBig(f"{what}: the template allocated more than {_budget.limit:,} characters in all.")


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int):
                _charge("'*' (repetition)", _cost(seq) * max(0, count))
                return
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateTooBig("'*' on numbers this large is refused.")
    elif operator == "**":
        big = isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0
        if big and right * math.log2(abs(left)) > MAX_INT_BITS:
            raise TemplateTooBig(f"'**' would make a number of {right * math.log2(abs(left)):,.0f} bits.")
    elif operator == "+":
        if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            _charge("'+' (concatenation)", _cost(left) + _cost(right))
    elif operator == "%" and isinstance(left, str):
        args = right if isinstance(right, tuple) else (right,)
        _check_percent_format(left, args)


def _check_percent_format(fmt: str, args: tuple[Any, ...]) -> None:
    widths = [int(w) for match in _WIDTH.finditer(fmt) for w in match.groups() if w and w != "*"]
    if "*" in fmt:
        widths += [_int(a) for a in args]
    if widths and max(widths) > MAX_WIDTH:
        raise TemplateTooBig(f"a '%' format width of {max(widths):,} is refused (the limit is {MAX_WIDTH:,}).")
    _charge("'%' (formatting)", len(fmt) + sum(len(str(a)) for a in args if isinstance(a, str)))


def _check_brace_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        raise TemplateError(f"a bad format string: {exc}") from exc
    for _text, _name, spec, _conversion in fields:
        if not spec:
            continue
        numbers = [int(n) for n in re.findall(r"\d+", spec)]
        if "{" in spec:
            numbers += [_int(v) for v in (*args, *kwargs.values())]
        if numbers and max(numbers) > MAX_WIDTH:
            raise TemplateTooBig(f"a format width of {max(numbers):,} is refused (the limit is {MAX_WIDTH:,}).")
    _charge("format()", len(fmt) + sum(_size(v) for v in (*args, *kwargs.values())))


def _check_str_method(name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if name in ("ljust", "rjust", "center", "zfill"):
        width = _int(args[0] if args else kwargs.get("width", 0))
        _charge(f"str.{name}()", max(width, len(text)))
    elif name == "expandtabs":
        size = _int(args[0] if args else kwargs.get("tabsize", 8))
        _charge("str.expandtabs()", len(text) + text.count("\t") * max(0, size))
    elif name == "join" and args:
        items = args[0]  # materialized by the caller
        _charge("str.join()", sum(_size(i) for i in items) + len(text) * max(0, len(items) - 1))
    elif name == "replace" and len(args) >= 2:
        _check_replace(text, args[0], args[1], _int(args[2]) if len(args) > 2 else -1)
    elif name in ("format", "format_map"):
        _check_brace_format(text, args, kwargs if name == "format" else dict(args[0]) if args else {})


def _check_replace(text: Any, old: Any, new: Any, count: int = -1) -> None:
    if not isinstance(text, str):
        return
    old, new = str(old), str(new)
    hits = (len(text) + 1) if not old else text.count(old)
    if count is not None and count >= 0:
        hits = min(hits, count)
    _charge("replace", len(text) + hits * max(0, len(new) - len(old)))


class _BoundedCodeGenerator(CodeGenerator):
    """``a ~ b`` compiles to a call the environment can check (Jinja compiles it to a plain ``str.join``)."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _IgnoreGenerationTags(jinja2.ext.Extension):
    """Hugging Face's ``{% generation %}`` tag, passed through (as llama-cpp-python and Transformers do)."""

    tags = {"generation"}  # noqa: RUF012 (Jinja's API)

    def parse(self, parser: Any) -> Any:
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with every size-multiplying operation checked first."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self) -> None:
        super().__init__(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[_IgnoreGenerationTags, jinja2.ext.loopcontrols],
        )
        self.globals["range"] = _bounded_range
        self.globals.pop("lipsum", None)
        filters = self.filters
        originals = {name: filters[name] for name in ("center", "indent", "format", "join", "replace", "batch",
                                                      "slice", "wordwrap")}  # fmt: skip
        filters["tojson"] = _tojson
        filters["sum"] = _bounded_sum

        def center(value: Any, width: Any = 80) -> Any:
            _charge("center", max(_int(width), len(str(value))))
            return originals["center"](value, width)

        def format_(value: Any, *args: Any, **kwargs: Any) -> Any:
            _check_percent_format(str(value), args)
            return originals["format"](value, *args, **kwargs)

        filters["center"] = center
        filters["indent"] = _wrap_indent(originals["indent"])
        filters["format"] = format_
        filters["join"] = _wrap_join(originals["join"])
        filters["replace"] = _wrap_replace(originals["replace"])
        filters["batch"] = _wrap_count("batch", originals["batch"])
        filters["slice"] = _wrap_count("slice", originals["slice"])
        filters["wordwrap"] = _wrap_wordwrap(originals["wordwrap"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name == "join" and args and not isinstance(args[0], str | list | tuple):
                args = (list(args[0]), *args[1:])  # a generator is measured, then joined (not consumed twice)
            _check_str_method(name, owner, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        """``str.format`` / ``format_map``: Jinja's sandbox wraps them when they are looked up; check first."""
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        text, name = value.__self__, value.__name__

        def bounded(*args: Any, **kwargs: Any) -> Any:
            mapping = kwargs if name == "format" else dict(args[0]) if args and isinstance(args[0], dict) else {}
            _check_brace_format(text, args if name == "format" else (), mapping)
            return wrapper(*args, **kwargs)

        return bounded

    def bounded_concat(self, values: tuple[Any, ...]) -> str:
        parts = [str(v) for v in values]
        _charge("'~' (concatenation)", sum(len(p) for p in parts))
        return "".join(parts)


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise TemplateTooBig(f"range() of {len(rng):,} items is refused (the limit is {MAX_RANGE:,}).")
    return rng


def _tojson(
    value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None, sort_keys: bool = False
) -> str:
    if indent is not None and _int(indent) > 64:
        raise TemplateTooBig(f"tojson(indent={indent}) is refused (the limit is 64).")
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    _charge("tojson", len(text))
    return text


def _bounded_sum(context_or_iterable: Any, *args: Any, **kwargs: Any) -> Any:
    iterable = context_or_iterable
    attribute = kwargs.get("attribute", args[0] if args else None)
    total = kwargs.get("start", args[1] if len(args) > 1 else 0)
    for item in iterable:
        value = item[attribute] if attribute is not None else item
        if isinstance(total, str | list | tuple):
            _check_binop("+", total, value)
        total = total + value
    return total


def _wrap_indent(original: Any) -> Any:
    def indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> Any:
        text = str(value)
        pad = _int(width) if not isinstance(width, str) else len(width)
        _charge("indent", len(text) + (text.count("\n") + 1) * pad)
        return original(value, width, first, blank)

    return indent


def _wrap_join(original: Any) -> Any:
    def join(context: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value)
        _charge("join", sum(len(str(i)) for i in items) + len(str(d)) * max(0, len(items) - 1))
        return original(context, items, d, attribute)

    join.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return join


def _wrap_replace(original: Any) -> Any:
    def replace(context: Any, value: Any, old: Any, new: Any, count: Any = None) -> Any:
        _check_replace(str(value), old, new, -1 if count is None else _int(count))
        return original(context, value, old, new, count)

    replace.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return replace


def _wrap_count(name: str, original: Any) -> Any:
    def bounded(value: Any, count: Any, fill_with: Any = None) -> Any:
        if _int(count) > MAX_RANGE:
            raise TemplateTooBig(f"{name}({count:,}) is refused (the limit is {MAX_RANGE:,}).")
        return original(value, count, fill_with)

    return bounded


def _wrap_wordwrap(original: Any) -> Any:
    def wordwrap(environment: Any, s: str, width: int = 79, *args: Any, **kwargs: Any) -> Any:
        _charge("wordwrap", 2 * len(str(s)))
        return original(environment, s, width, *args, **kwargs)

    wordwrap.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return wordwrap


def strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _raise_exception(message: str) -> None:
    raise ValueError(message)


def _compile_within(source: str, seconds: float) -> Any:
    """Compile ``source``, stopped after ``seconds``."""
    return stopped_after(
        lambda: BoundedEnvironment().from_string(source),
        seconds,
        lambda: TemplateTooBig(f"compiling it took longer than {seconds:.0f} s."),
        template_lines=False,
    )


class BoundedTemplate:
    """One compiled chat template, rendered with the variables Hugging Face templates expect."""

    def __init__(self, source: str, *, bos_token: str, eos_token: str, max_output: int = MAX_CHARS) -> None:
        self.bos_token, self.eos_token, self.max_output = bos_token, eos_token, max_output
        if len(source) > MAX_TEMPLATE_CHARS:
            raise TemplateTooBig(f"it is {len(source):,} characters long (the limit is {MAX_TEMPLATE_CHARS:,}).")
        tags = source.count("{{") + source.count("{%")
        if tags > MAX_TAGS:
            raise TemplateTooBig(f"it has {tags:,} tags (the limit is {MAX_TAGS:,}).")
        self._template = _compile_within(source, COMPILE_SECONDS)

    def render(
        self,
        messages: list[dict[str, Any]],
        add_generation_prompt: bool = True,
        tools: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """``tools``: OpenAI's function tools; ``extra``: more variables (``enable_thinking``, ``reasoning_effort``);
        the standard ones win."""
        tool_chars = len(json.dumps(tools)) if tools else 0
        reset_budget(sum(len(str(m.get("content") or "")) for m in messages) + tool_chars)
        pieces: list[str] = []
        size = 0
        stream = self._template.generate(
            **(extra or {}),
            messages=messages,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            raise_exception=_raise_exception,
            add_generation_prompt=add_generation_prompt,
            functions=None,
            function_call=None,
            tools=tools,
            tool_choice=None,
            strftime_now=strftime_now,
        )
        for piece in stream:
            size += len(piece)
            if size > self.max_output:
                raise TemplateTooBig(f"its output passed {self.max_output:,} characters.")
            pieces.append(piece)
        return "".join(pieces)
