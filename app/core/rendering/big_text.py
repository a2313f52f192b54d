"""Big or hostile text, shown without blocking: cheap checks that decide what a face lays out, and in what pieces.

Qt lays text out on the GUI thread, and some text costs it far more than its length (measured with Qt 6.12 on
2 cores): a 500,000-character line without a space took 9.7 s (the word-wrapper looks for a break that never
comes, again for every line), 200,000 characters of ``*a`` 20.8 s in the Markdown reader (its emphasis matching
is quadratic in the delimiters of one paragraph: 1,000 ``*`` cost 2 ms, 2,000 cost 17 ms, 4,000 cost 68 ms).
A model, an imported chat, a tool result or a document can bring such text. So:

- ``needs_plan`` says, from ``len`` and C-speed string counts only, whether a text may be laid out as it is
  (nearly every message) or must go through ``plan``;
- ``plan`` cuts what is shown at once (each line at ``LINE_CAP`` characters, the message at ``SHOWN_CAP``) unless
  the user asked for all of it, and cuts what is shown into ``Block``s of at most ``PIECE_CHARS`` (at blank lines,
  else at line ends, else anywhere): each block is laid out in a few milliseconds, so a face lays out a long
  message a few blocks per turn of its event loop;
- a block is Markdown only where Markdown is cheap (few delimiters, no long unbroken run); else plain text, wrapped
  anywhere when it holds a long run without spaces.

The message itself is never changed: Copy, exports and the history have the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from app.core.rendering.fences import split_fences

LINE_CAP = 1_000  # characters of one line shown before "Show all"
SHOWN_CAP = 40_000  # characters of one message shown before "Show all"
STREAMING_CAP = 4_000  # characters shown of a streaming reply's open tail that is too costly to lay out each frame
PIECE_CHARS = 4_000  # at most this much in one block (a few ms of layout)
CODE_CAP = 32_000  # a fenced block up to this size stays a code block (Copy, colours; unwrapped, so cheap)
WHOLE_CAP = 16_000  # below this (and cheap), a message is laid out whole, as ever (~20 ms at most)
MARKUP_CAP = 1_200  # Markdown delimiters in one paragraph above which it is shown as plain text
RUN_CAP = 300  # a run of this many characters without white space is wrapped anywhere, as plain text
# The delimiters whose matching in Qt's Markdown reader grows with their square (measured; `_`, `[` and `&` do not).
HEAVY = ("*", "`", "~", "<", "\\")
_LONG_RUN = re.compile(rf"\S{{{RUN_CAP}}}")

Kind = Literal["markdown", "plain", "code"]


@dataclass(frozen=True)
class Block:
    text: str
    kind: Kind
    language: str = ""  # code only
    closed: bool = True  # code only: its closing fence has arrived
    anywhere: bool = False  # plain only: wrap anywhere (a long run without spaces)


@dataclass(frozen=True)
class Plan:
    """The blocks come one at a time (made as they are laid out: "Show all" of 5 MB costs its first blocks)."""

    blocks: Iterator[Block] = field(default_factory=lambda: iter(()))
    hidden: int = 0  # characters of the message not shown (0: all of it is shown)
    shown: int = 0  # characters the blocks hold (for an estimate of their height before they are laid out)


def cut_mark(count: int) -> str:
    return f" … [{count:,} more characters]"


def longest_line(text: str) -> int:
    return max(map(len, text.split("\n"))) if len(text) > LINE_CAP else len(text)


def heavy_markup(text: str) -> bool:
    """Whether some paragraph holds more than ``MARKUP_CAP`` delimiters (counted, never parsed)."""
    if sum(text.count(mark) for mark in HEAVY) <= MARKUP_CAP:
        return False
    return any(sum(part.count(mark) for mark in HEAVY) > MARKUP_CAP for part in text.split("\n\n"))


def has_long_run(text: str) -> bool:
    return len(text) >= RUN_CAP and _LONG_RUN.search(text) is not None


def needs_plan(text: str, *, markdown: bool, cap: int = SHOWN_CAP) -> bool:
    """Whether ``text`` is too costly to lay out at once as it is (a few C-speed passes; no parsing)."""
    if len(text) > min(cap, WHOLE_CAP) or (len(text) > LINE_CAP and longest_line(text) > LINE_CAP):
        return True
    return markdown and (heavy_markup(text) or has_long_run(text))


def cut(text: str, *, cap: int = SHOWN_CAP) -> tuple[str, int]:
    """The text with each line cut at ``LINE_CAP`` and the whole at ``cap`` (marks say how much is left out),
    and how many characters are not shown. Only the first ``cap`` characters' lines are looked at."""
    if len(text) <= cap and longest_line(text) <= LINE_CAP:
        return text, 0  # nothing to cut: the text as it is
    lines: list[str] = []
    shown = hidden = 0
    position = 0
    while position < len(text) and shown < cap:
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        if end - position > LINE_CAP:  # (never copied whole: a line can be 5 MB)
            hidden += end - position - LINE_CAP
            lines.append(text[position : position + LINE_CAP] + cut_mark(end - position - LINE_CAP))
        else:
            lines.append(text[position:end])
        shown += min(end - position, LINE_CAP) + 1
        position = end + 1
    if position < len(text):
        hidden += len(text) - position
        lines.append(cut_mark(len(text) - position).strip())
    elif text.endswith("\n"):
        lines.append("")  # the last line's end is kept
    return "\n".join(lines), hidden


def plan(text: str, *, markdown: bool, show_all: bool = False, cap: int = SHOWN_CAP) -> Plan:
    """What to lay out for ``text``: all of it when ``show_all``, else cut (see ``cut``), in cheap blocks."""
    shown, hidden = (text, 0) if show_all else cut(text, cap=cap)
    return Plan(_blocks(shown, markdown=markdown, cut_lines=hidden > 0), hidden, len(shown))


def _blocks(shown: str, *, markdown: bool, cut_lines: bool) -> Iterator[Block]:
    if not markdown:
        yield from _plain_blocks(shown)
        return
    for segment in split_fences(shown):
        if not segment.code:
            yield from _prose_blocks(segment.text)
        elif len(segment.text) <= CODE_CAP and longest_line(segment.text) <= LINE_CAP and not cut_lines:
            yield Block(segment.text, "code", segment.language, segment.closed)
        else:  # a huge or cut block is shown as plain text (its Copy would not give the code)
            yield from _plain_blocks(segment.text)


def pieces(text: str, size: int = PIECE_CHARS) -> Iterator[str]:
    """``text`` in pieces of at most ``size`` characters, cut at a blank line, else a line end, else anywhere."""
    start = 0
    while len(text) - start > size:
        window_end = start + size
        end = text.rfind("\n\n", start, window_end)
        if end <= start:
            end = text.rfind("\n", start, window_end)
        end = window_end if end <= start else end + 1
        yield text[start:end]
        start = end
    if start < len(text):
        yield text[start:]


def _prose_blocks(text: str) -> Iterator[Block]:
    for piece in pieces(text):
        body = piece.strip("\n")
        if not body.strip():
            continue
        if heavy_markup(body) or has_long_run(body) or longest_line(body) > LINE_CAP + 64:
            yield from _plain_blocks(body)
        else:
            yield Block(body, "markdown")


def _plain_blocks(text: str) -> Iterator[Block]:
    for piece in pieces(text):
        yield Block(piece, "plain", anywhere=has_long_run(piece))
