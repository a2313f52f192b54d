"""JSON from a user or a client, parsed with a size and a depth limit that hold before anything is built.

Python's ``json`` module recurses once per nested array or object, so 100,000 ``[`` end in a
``RecursionError`` (or, in C code, a crash). ``loads`` measures the nesting first, in linear time and
without building anything (strings are blanked, then matched bracket pairs are removed, innermost first, at
most ``max_depth`` times), and only a document within both limits reaches ``json.loads``. ``NaN`` and
``Infinity`` are refused: they are not JSON, and no file or request of ours needs them.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from app.core.errors import HermesError

MAX_DEPTH = 64  # our deepest real documents (a chat export, a card, a JSON schema) nest under 20 levels
MAX_FILE_BYTES = 64 << 20  # a chat export with every branch; presets, cards and settings are far smaller

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_PAIR = re.compile(rb"\[\]|\{\}")
_SURROGATE = re.compile(rb"\\u[dD][89abcdefABCDEF]|\xed[\xa0-\xbf]")  # escaped, or encoded with surrogatepass


class JsonLimitError(HermesError, ValueError):
    """A JSON document over a limit (its size or its nesting); the message names the limit."""


def loads(data: bytes | str, *, max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH, what: str = "JSON") -> Any:
    """``json.loads`` for a document from outside; raises ``JsonLimitError`` or ``json.JSONDecodeError``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise JsonLimitError(f"{what} is {len(raw):,} bytes, above the limit of {max_bytes:,} bytes.")
    depth = nesting_over(raw, max_depth)
    if depth:
        raise JsonLimitError(f"{what} nests deeper than the limit of {max_depth} levels.")
    value = json.loads(raw, parse_constant=_no_constant)
    return _without_lone_surrogates(value) if _SURROGATE.search(raw) else value


def text(value: str) -> str:
    """``value`` with each lone surrogate (which no file can hold as UTF-8) replaced by U+FFFD."""
    return _lone().sub("\ufffd", value)


@functools.cache
def _lone() -> re.Pattern[str]:
    """A surrogate alone (after json.loads, a pair is one character): compiled on first use, off the start path."""
    return re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    """Every string in a loaded document made writable as UTF-8 (its depth is already bounded)."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {text(key): _without_lone_surrogates(item) for key, item in value.items()}
    return value


def load_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH, what: str = "") -> Any:
    """A JSON file read with the same limits; at most ``max_bytes + 1`` bytes are read."""
    name = what or path.name
    with path.open("rb") as file:
        raw = file.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise JsonLimitError(f"{name} is larger than the limit of {max_bytes:,} bytes.")
    return loads(raw, max_bytes=max_bytes, max_depth=max_depth, what=name)


def nesting_over(raw: bytes, max_depth: int) -> bool:
    """Whether arrays and objects in ``raw`` nest deeper than ``max_depth`` (linear, builds nothing)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    for _ in range(max_depth):
        if not brackets:
            return False
        shorter = _PAIR.sub(b"", brackets)  # one level: the pairs present now, not those it uncovers
        if len(shorter) == len(brackets):
            return False  # unbalanced: json.loads says where
        brackets = shorter
    return _PAIR.search(brackets) is not None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
