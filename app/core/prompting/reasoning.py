"""Reasoning and answer, split as a reply streams: ``<think>…</think>`` and gpt-oss's harmony channels.

``ReasoningSplitter.feed(piece)`` returns the pieces to pass on: ``Thought`` pieces (reasoning) and plain ``str``
pieces (the answer). It keeps back only what could still be the start of a tag (``</thi`` at a piece's end), so
text is never delayed by more than a tag's length, and ``close()`` returns whatever was kept back. Nothing is
lost or repeated: every character of the reply comes out once, as reasoning or as answer, except the tags.

The formats (``RenderedPrompt.reasoning`` says which, read from the rendered prompt, never the model's name):

- ``THINK_TAGS`` (any model): a reply that opens with ``<think>`` thinks until ``</think>``; a reply that
  opens with neither is the answer, passed through untouched. Another ``<think>`` block right after the
  first (some models repeat them) is reasoning too; tags inside the answer are the answer's text.
- ``THINK_OPEN``: the prompt already ends in ``<think>`` (DeepSeek-R1's template, Qwen 3 thinking): the reply
  starts as reasoning.
- ``HARMONY`` (gpt-oss): ``<|channel|>analysis<|message|>…<|end|>`` is reasoning, ``final`` (and
  ``commentary``) the answer; headers and end markers are dropped. A reply without channels is read as
  ``THINK_TAGS``. A message with a recipient (``to=functions.NAME``: a tool call) is passed on whole, header,
  arguments and ``<|call|>``, as answer text: the tool layer reads the call from it (``tools.parsing``).

A thought never closed (a reply cut off while thinking) comes out as reasoning with an empty answer.
Pieces that already are ``Thought`` (a remote engine's ``reasoning_content``) pass through as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from app.core.prompting.parts import Thought

THINK_TAGS = "think"
THINK_OPEN = "think-open"
HARMONY = "harmony"
OPEN, CLOSE = "<think>", "</think>"
_HARMONY_ENDS = ("<|end|>", "<|return|>", "<|call|>")
_HARMONY_MESSAGE = "<|message|>"
_CHANNEL = re.compile(r"<\|channel\|>\s*([A-Za-z_]+)")
_RECIPIENT = re.compile(r"\bto=(?!assistant\b)\S")  # a message to a tool (to=functions.NAME), not to the user
_MAX_HEADER = 256  # a harmony header longer than this is not one: the text is passed on as it is

_START, _THINK, _AFTER, _ANSWER, _HEADER, _BODY = range(6)


def reasoning_format(prompt_text: str) -> str:
    """Which split a reply to this rendered prompt needs."""
    tail = prompt_text.rstrip()
    if tail.endswith(OPEN):
        return THINK_OPEN
    harmony = "<|channel|>" in prompt_text or "Valid channels:" in prompt_text  # gpt-oss's system message says so
    if tail.endswith("<|start|>assistant") and harmony:
        return HARMONY
    return THINK_TAGS


def _held(text: str, markers: tuple[str, ...]) -> int:
    """How many characters at the end of ``text`` could be the start of one of ``markers``."""
    start = text.find("<", max(0, len(text) - max(map(len, markers)) + 1))
    while start != -1:
        tail = text[start:]
        if any(marker.startswith(tail) for marker in markers):
            return len(tail)
        start = text.find("<", start + 1)
    return 0


class ReasoningSplitter:
    """One reply's split, fed piece by piece (Qt-free, no I/O)."""

    def __init__(self, fmt: str = THINK_TAGS) -> None:
        self.format = fmt
        self._state = {THINK_OPEN: _THINK, HARMONY: _HEADER}.get(fmt, _START)
        self._buffer = ""
        self._channel_is_reasoning = False
        self._call = False  # the current harmony message is a tool call: passed on whole
        self.reasoning_chars = 0

    @property
    def thinking(self) -> bool:
        return self._state == _THINK or (self._state == _BODY and self._channel_is_reasoning)

    def feed(self, piece: str) -> list[str]:
        if self._state == _ANSWER and not self._buffer and not isinstance(piece, Thought):
            return [piece] if piece else []  # the answer's fast path: most pieces of most replies
        if isinstance(piece, Thought):
            self.reasoning_chars += len(piece)
            return [piece] if piece else []
        out: list[str] = []
        self._buffer += piece
        self._run(out, final=False)
        return out

    def close(self) -> list[str]:
        out: list[str] = []
        self._run(out, final=True)
        text, self._buffer = self._buffer, ""
        if text:
            if self._state == _HEADER:
                if "<|channel|>" not in text:
                    out.append(text)
            elif self.thinking:
                self._thought(out, text)
            elif self._state != _AFTER or text.strip():
                out.append(text.lstrip() if self._state == _AFTER else text)
        return out

    def _thought(self, out: list[str], text: str) -> None:
        if text:
            self.reasoning_chars += len(text)
            out.append(Thought(text))

    def _run(self, out: list[str], final: bool) -> None:
        while self._buffer and self._step(out, final):
            pass

    def _step(self, out: list[str], final: bool) -> bool:
        """One move of the state machine; False: wait for more text."""
        buffer, state = self._buffer, self._state
        if state == _ANSWER:
            out.append(buffer)
            self._buffer = ""
            return False
        if state in (_START, _AFTER):
            text = buffer.lstrip()
            for tag, next_state in ((OPEN, _THINK), (CLOSE, _AFTER)):
                if text.startswith(tag):
                    self._state, self._buffer = next_state, text[len(tag) :]
                    return True
            if not text or (not final and (OPEN.startswith(text) or CLOSE.startswith(text))):
                return False
            self._state = _ANSWER
            self._buffer = text if state == _AFTER else buffer
            return True
        if state == _THINK:
            end = buffer.find(CLOSE)
            if end != -1:
                self._thought(out, buffer[:end])
                self._state, self._buffer = _AFTER, buffer[end + len(CLOSE) :]
                return True
            keep = 0 if final else _held(buffer, (CLOSE,))
            self._thought(out, buffer[: len(buffer) - keep])
            self._buffer = buffer[len(buffer) - keep :]
            return False
        if state == _HEADER:
            return self._header(out, final)
        return self._body(out, final)

    def _header(self, out: list[str], final: bool) -> bool:
        buffer = self._buffer
        found = buffer.find(_HARMONY_MESSAGE)
        if found != -1:
            header = buffer[:found]
            channel = _CHANNEL.search(header)
            self._call = _RECIPIENT.search(header) is not None
            self._channel_is_reasoning = not self._call and channel is not None and channel.group(1) == "analysis"
            if self._call:
                out.append(header.lstrip() + _HARMONY_MESSAGE)
            self._state, self._buffer = _BODY, buffer[found + len(_HARMONY_MESSAGE) :]
            return True
        text = buffer.lstrip()
        if (text.startswith("<|") or "<|".startswith(text)) and (len(buffer) <= _MAX_HEADER or final):
            return False
        self._state = _START  # no channels: a plain reply (or <think> tags)
        return True

    def _body(self, out: list[str], final: bool) -> bool:
        buffer = self._buffer
        ends = [(at, marker) for marker in _HARMONY_ENDS if (at := buffer.find(marker)) != -1]
        if ends:
            at, marker = min(ends)
            self._emit_body(out, buffer[:at] + (marker if self._call else ""))
            self._state, self._buffer = _HEADER, buffer[at + len(marker) :]
            return True
        keep = 0 if final else _held(buffer, _HARMONY_ENDS)
        self._emit_body(out, buffer[: len(buffer) - keep])
        self._buffer = buffer[len(buffer) - keep :]
        return False

    def _emit_body(self, out: list[str], text: str) -> None:
        if self._channel_is_reasoning:
            self._thought(out, text)
        elif text:
            out.append(text)


def split_reasoning(pieces: Iterable[str], fmt: str = THINK_TAGS) -> Iterator[str]:
    """``pieces`` as reasoning (``Thought``) and answer (``str``) pieces."""
    splitter = ReasoningSplitter(fmt)
    for piece in pieces:
        yield from splitter.feed(piece)
    yield from splitter.close()
