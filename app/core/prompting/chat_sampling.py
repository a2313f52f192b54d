"""A chat's own sampling: what the side panel's fields say, read and checked, and kept with the chat.

Every face reads the same words: stop strings one per line (``\\n`` and ``\\t`` written as escapes, ``\\\\`` for a
backslash), a JSON schema for structured output (parsed with ``bounded_json``'s size and depth limits, then
checked by ``schema_bounds`` before any grammar is built from it), and the chat's settings as one JSON document
(``ChatSampling.to_json``/``from_json``: the history keeps it beside the chat; what is missing or wrong in it
falls back to the preset's value, so an old or damaged record never stops a chat from opening).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from app.core import bounded_json
from app.core.errors import HermesError
from app.core.prompting.types import Sampling

MAX_STOPS = 16  # stop strings per chat (OpenAI allows 4; llama.cpp checks each after every token)
MAX_STOP_CHARS = 200
MAX_SCHEMA_BYTES = 256 << 10
MAX_COLLECTIONS = 16  # knowledge collections one chat (or persona) answers from
MAX_NAME_CHARS = 200
SEED_MAX = 2**31 - 1
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}
_NUMBERS = {  # field: (type, minimum, maximum), as the side panel's fields allow
    "temperature": (float, 0.0, 5.0),
    "top_p": (float, 0.0, 1.0),
    "top_k": (int, 0, 1000),
    "min_p": (float, 0.0, 1.0),
    "repeat_penalty": (float, 0.0, 5.0),
    "max_tokens": (int, 1, 1 << 20),
}


class SamplingInputError(HermesError):
    """A sampling field that cannot be used as it is (the message says which and why)."""


def parse_stop(text: str) -> tuple[str, ...]:
    """Stop strings, one per line; ``\\n``, ``\\t`` and ``\\\\`` are escapes. Empty lines are skipped."""
    stops: list[str] = []
    for line in text.splitlines():
        if not line:
            continue
        stop = _unescape(line)
        if len(stop) > MAX_STOP_CHARS:
            raise SamplingInputError(f"A stop string is {len(stop):,} characters long; the limit is {MAX_STOP_CHARS}.")
        if stop not in stops:
            stops.append(stop)
    if len(stops) > MAX_STOPS:
        raise SamplingInputError(f"{len(stops)} stop strings; the limit is {MAX_STOPS}.")
    return tuple(stops)


def format_stop(stops: tuple[str, ...]) -> str:
    """The field's text for ``stops`` (``parse_stop`` reads it back unchanged)."""
    return "\n".join(stop.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t") for stop in stops)


def parse_schema(text: str) -> dict[str, Any] | None:
    """The JSON schema in ``text`` (None when empty), within the size, depth and schema bounds."""
    if not text.strip():
        return None
    try:
        schema = bounded_json.loads(text, max_bytes=MAX_SCHEMA_BYTES, what="The JSON schema")
    except json.JSONDecodeError as exc:
        raise SamplingInputError(f"The JSON schema is not valid JSON: {exc.msg} (line {exc.lineno}).") from None
    from app.core.prompting import schema_bounds  # (with its GBNF bounds: off the start path, as presets load)

    schema_bounds.check(schema, "JSON schema")  # GrammarRefused names the limit
    assert isinstance(schema, dict)
    return schema


@dataclass(frozen=True)
class ChatSampling:
    """One chat's sampling and its structured output (a JSON schema's text; empty: free text)."""

    sampling: Sampling = field(default_factory=Sampling)
    schema: str = ""
    knowledge: tuple[str, ...] = ()  # the knowledge collections the chat answers from (the persona's by default)

    def to_json(self) -> str:
        values = asdict(self.sampling)
        values["stop"] = list(self.sampling.stop)
        document = {"sampling": values, "schema": self.schema, "knowledge": list(self.knowledge)}
        return json.dumps(document, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, defaults: Sampling, knowledge: tuple[str, ...] = ()) -> ChatSampling:
        """A kept record over ``defaults`` (the preset's sampling and ``knowledge``): each value that is missing or
        wrong is the default."""
        if not text.strip():
            return cls(defaults, knowledge=knowledge)
        try:
            document = bounded_json.loads(text, max_bytes=MAX_SCHEMA_BYTES * 2, what="The chat's settings")
        except (json.JSONDecodeError, HermesError):
            return cls(defaults, knowledge=knowledge)
        if not isinstance(document, dict):
            return cls(defaults, knowledge=knowledge)
        values = document.get("sampling")
        values = values if isinstance(values, dict) else {}
        known = {item.name for item in fields(Sampling)}
        kept: dict[str, Any] = {}
        for name, value in values.items():
            if name in _NUMBERS and _number_ok(name, value):
                kept[name] = _NUMBERS[name][0](value)
            elif name == "seed" and (value is None or (_is_int(value) and 0 <= value <= SEED_MAX)):
                kept[name] = value
            elif name == "stop" and isinstance(value, list) and all(isinstance(stop, str) for stop in value):
                kept[name] = tuple(value[:MAX_STOPS])
            elif name in known and name not in _NUMBERS and name not in ("seed", "stop") and _is_number(value):
                kept[name] = float(value)  # presence and frequency penalties
        schema = document.get("schema")
        kept_knowledge = knowledge_names(document.get("knowledge"), knowledge)
        return cls(replace(defaults, **kept), schema if isinstance(schema, str) else "", kept_knowledge)


def knowledge_names(value: Any, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Collections' names as kept (a list of up to 16 names); anything else is ``default``."""
    if not isinstance(value, list) or len(value) > MAX_COLLECTIONS:
        return default
    if not all(isinstance(name, str) and name.strip() and len(name) <= MAX_NAME_CHARS for name in value):
        return default
    return tuple(dict.fromkeys(name.strip() for name in value))


def _unescape(line: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\" and index + 1 < len(line) and line[index + 1] in _ESCAPES:
            out.append(_ESCAPES[line[index + 1]])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number_ok(name: str, value: Any) -> bool:
    kind, low, high = _NUMBERS[name]
    if not _is_number(value) or (kind is int and not _is_int(value)):
        return False
    return bool(low <= value <= high)
