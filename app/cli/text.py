"""What the command line prints from strangers (cards, the Hub, file names), made safe for a terminal.

A name holding ``ESC ] 0 ; … BEL`` retitles the terminal, ``ESC [ 2 J`` clears it, bidirectional overrides reorder
what is shown (issue 28, item 26). Control characters are shown escaped instead (``\\x1b``), so nothing a card or a
Hub sends is interpreted by the terminal.
"""

from __future__ import annotations

import functools
import re

from app.core import bounded_json

_CONTROL = r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
_CONTROL_KEEP_LINES = r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """(Compiled on first use: the window's start never prints to the terminal.)"""
    return re.compile(pattern)


def _escaped(found: re.Match[str]) -> str:
    code = ord(found[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object, *, lines: bool = False) -> str:
    """``value`` as text with its control characters escaped (``lines``: keep line breaks)."""
    return _compiled(_CONTROL_KEEP_LINES if lines else _CONTROL).sub(_escaped, str(value))


def message_text(words: list[str]) -> str:
    """A message typed on the command line: bytes that were not UTF-8 (Python keeps them as lone surrogates) become
    U+FFFD, so the message can be tokenized and saved; the rest is kept as typed."""
    return bounded_json.text(" ".join(words))
