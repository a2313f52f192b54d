"""Tool calls read back from a reply's text, in the format of the template's family (``tool_prompt.ToolFamily``).

- Hermes / Qwen: ``<tool_call>{"name": …, "arguments": {…}}</tool_call>``, one block per call (an unclosed last
  block, cut by a stop token, counts);
- Llama 3.x: the whole reply is ``{"name": …, "parameters": {…}}`` (or ``"arguments"``), optionally after
  ``<|python_tag|>``, several separated by ``;``;
- Mistral: ``[TOOL_CALLS][{"name": …, "arguments": {…}}, …]``, or the newer ``[TOOL_CALLS]name[ARGS]{…}``;
- gpt-oss harmony: a message with a recipient, ``<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>
  {…}<|call|>`` (or ``<|start|>assistant to=functions.NAME<|channel|>commentary json<|message|>…``); the
  ``analysis`` channel is reasoning, ``final`` and ``commentary`` the answer. Text without headers (the reasoning
  splitter already took them off) is answer text.

Malformed JSON is never an exception: the text stays in the reply's content and ``problems`` says what was wrong.
``CallGate`` does the same for a stream: text that cannot be the start of a call goes out at once, the rest waits.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from app.core.prompting.tool_prompt import ToolFamily
from app.core.tools.specs import ToolCall, arguments_text

_HERMES_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_MISTRAL_NAMED = re.compile(r"([A-Za-z0-9_.-]{1,64})\[ARGS\]")
HERMES_OPEN, MISTRAL_OPEN, PYTHON_TAG = "<tool_call>", "[TOOL_CALLS]", "<|python_tag|>"
HARMONY_OPENS = ("<|start|>", "<|channel|>")  # where a harmony message (a call, in a split reply) begins
_HARMONY_HEADER = re.compile(
    r"(?:<\|start\|>[^<]{0,200})?(?:<\|channel\|>[^<]{0,200})?(?:<\|constrain\|>[^<]{0,50})?<\|message\|>"
)
_HARMONY_ENDS = re.compile(r"<\|(?:end|return|call)\|>")
_HARMONY_CHANNEL = re.compile(r"<\|channel\|>\s*(\w+)")
_HARMONY_RECIPIENT = re.compile(r"\bto=([^\s<]+)")
_HARMONY_LEFTOVER = re.compile(r"<\|start\|>\s*assistant\s*$|<\|(?:start|end|return|call)\|>")
_decoder = json.JSONDecoder()


@dataclass
class ParsedReply:
    content: str
    calls: list[ToolCall] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    reasoning: str = ""  # a harmony reply's analysis channel, where the text still had its headers


def parse_calls(text: str, family: ToolFamily) -> ParsedReply:
    """The calls in ``text`` and what is left of it as content."""
    if family is ToolFamily.MISTRAL:
        return _mistral(text)
    if family is ToolFamily.LLAMA3:
        return _llama3(text)
    if family is ToolFamily.HARMONY:
        return _harmony(text)
    return _hermes(text)


def _call(value: Any, arguments_key: str = "arguments") -> ToolCall | str:
    """A call from a decoded JSON value, or why it is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return 'a tool call must be a JSON object with a "name"'
    arguments = value.get(arguments_key, value.get("arguments", value.get("parameters", {})))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return f"the arguments of {value['name']!r} are not valid JSON"
    if not isinstance(arguments, dict):
        return f"the arguments of {value['name']!r} must be a JSON object"
    return ToolCall(value["name"], arguments_text(arguments))


def _json(text: str) -> tuple[Any, int] | str:
    try:
        return _decoder.raw_decode(text)
    except ValueError as exc:
        return f"the call is not valid JSON ({exc})"


def _hermes(text: str) -> ParsedReply:
    reply = ParsedReply("")
    kept: list[str] = []
    last = 0
    for match in _HERMES_BLOCK.finditer(text):
        kept.append(text[last : match.start()])
        last = match.end()
        decoded = _json(match.group(1))
        call = decoded if isinstance(decoded, str) else _call(decoded[0])
        if isinstance(call, ToolCall):
            reply.calls.append(call)
        else:
            reply.problems.append(call)
            kept.append(match.group(0))
    kept.append(text[last:])
    reply.content = "".join(kept).strip()
    return reply


def _llama3(text: str) -> ParsedReply:
    body = text.strip()
    if body.startswith(PYTHON_TAG):
        body = body[len(PYTHON_TAG) :].lstrip()
    if not body.startswith("{"):
        return ParsedReply(text)
    calls: list[ToolCall] = []
    position = 0
    while position < len(body):
        decoded = _json(body[position:])
        if isinstance(decoded, str):
            return ParsedReply(text, [], [decoded] if '"name"' in body else [])
        call = _call(decoded[0], "parameters")
        if isinstance(call, str):  # plain JSON the user asked for, not a call
            return ParsedReply(text, [], [call] if calls else [])
        calls.append(call)
        position += decoded[1]
        rest = body[position:].lstrip().lstrip(";").lstrip()
        position = len(body) - len(rest)
    return ParsedReply("", calls)


def _mistral(text: str) -> ParsedReply:
    start = text.find(MISTRAL_OPEN)
    if start < 0:
        return ParsedReply(text.strip())
    content, body = text[:start].strip(), text[start + len(MISTRAL_OPEN) :].strip()
    reply = ParsedReply(content)
    named = _MISTRAL_NAMED.match(body)
    if named:  # [TOOL_CALLS]name[ARGS]{…}[TOOL_CALLS]name[ARGS]{…}
        for piece in body.split(MISTRAL_OPEN):
            match = _MISTRAL_NAMED.match(piece.strip())
            decoded = _json(piece.strip()[match.end() :]) if match else "a call must be name[ARGS]{…}"
            call = decoded if isinstance(decoded, str) else _call({"name": match.group(1) if match else "",
                                                                   "arguments": decoded[0]})  # fmt: skip
            _keep(reply, call, piece)
        return reply
    decoded = _json(body)
    if isinstance(decoded, str):
        reply.problems.append(decoded)
        reply.content = text.strip()
        return reply
    values = decoded[0] if isinstance(decoded[0], list) else [decoded[0]]
    for value in values:
        _keep(reply, _call(value), json.dumps(value))
    return reply


def _harmony(text: str) -> ParsedReply:
    reply = ParsedReply("")
    content: list[str] = []
    reasoning: list[str] = []
    position = 0
    while (header := _HARMONY_HEADER.search(text, position)) is not None:
        content.append(text[position : header.start()])  # answer text whose header was already taken off
        end = _HARMONY_ENDS.search(text, header.end())
        body = text[header.end() : end.start() if end else len(text)]
        position = end.end() if end else len(text)
        recipient = _HARMONY_RECIPIENT.search(header.group(0))
        channel = _HARMONY_CHANNEL.search(header.group(0))
        if recipient is not None and recipient.group(1) != "assistant":
            name = recipient.group(1).removeprefix("functions.")
            decoded = _json(body.strip()) if body.strip() else ({}, 0)
            call = decoded if isinstance(decoded, str) else _call({"name": name, "arguments": decoded[0]})
            if isinstance(call, ToolCall):
                reply.calls.append(call)
            else:  # kept as it was written, and said
                reply.problems.append(call)
                content.append(text[header.start() : position])
        elif channel is not None and channel.group(1) == "analysis":
            reasoning.append(body)
        else:
            content.append(body)
    content.append(text[position:])
    reply.content = "".join(content).strip() if reply.problems else _HARMONY_LEFTOVER.sub("", "".join(content)).strip()
    reply.reasoning = "\n".join(part.strip() for part in reasoning if part.strip())
    return reply


def _keep(reply: ParsedReply, call: ToolCall | str, source: str) -> None:
    if isinstance(call, ToolCall):
        reply.calls.append(call)
    else:
        reply.problems.append(call)
        reply.content = f"{reply.content}\n{source}".strip()


class CallGate:
    """Streamed text split into what may go out now and what might be a call (held to the end)."""

    def __init__(self, family: ToolFamily) -> None:
        self.family = family
        self.held = ""
        opens = {ToolFamily.MISTRAL: (MISTRAL_OPEN,), ToolFamily.HARMONY: HARMONY_OPENS}
        self._opens = opens.get(family, (HERMES_OPEN,))
        self._holding = False
        self._started = False

    def feed(self, piece: str) -> str:
        """The part of what has come so far that can be shown now."""
        self.held += piece
        if self._holding:
            return ""
        if not self._started:
            stripped = self.held.lstrip()
            if not stripped:
                return ""
            if self.family is ToolFamily.LLAMA3:
                if len(stripped) < len(PYTHON_TAG) and PYTHON_TAG.startswith(stripped):
                    return ""  # perhaps the tag: wait for more
                if stripped[0] == "{" or stripped.startswith(PYTHON_TAG):
                    self._started = self._holding = True  # a Llama 3 call is the whole reply
                    return ""
            self._started = True
        at = min((found for marker in self._opens if (found := self.held.find(marker)) >= 0), default=-1)
        if at >= 0:
            out, self.held, self._holding = self.held[:at], self.held[at:], True
            return out
        keep = max(_partial_suffix(self.held, marker) for marker in self._opens)
        out, self.held = self.held[: len(self.held) - keep], self.held[len(self.held) - keep :]
        return out

    def finish(self) -> ParsedReply:
        """The held text parsed: its calls, and its content (still to be shown)."""
        return parse_calls(self.held, self.family)


def _partial_suffix(text: str, marker: str) -> int:
    """The length of the longest end of ``text`` that begins ``marker``."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0
