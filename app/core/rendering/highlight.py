"""Syntax colours for code, from Pygments; pure Python (the UI turns the runs into text formats).

Pygments is imported on first use (it is not on the start-up path). A block is lexed once, when
it is complete. An unknown language, or a block too large to be worth it, comes back as one plain
run: the text is always shown, colours are a bonus.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pygments.lexer import Lexer
    from pygments.token import _TokenType

LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"
MAX_CHARS = 200_000  # larger blocks are shown plain


@dataclass(frozen=True)
class Colour:
    """How a run of code looks; ``color`` is ``#rrggbb`` or empty for the text colour."""

    color: str = ""
    bold: bool = False
    italic: bool = False


PLAIN = Colour()


@dataclass(frozen=True)
class Run:
    text: str
    colour: Colour


def highlight(code: str, language: str, *, dark: bool) -> list[Run]:
    """The code as coloured runs whose texts add up to exactly ``code``."""
    lexer = _lexer(language.lower())
    if lexer is None or not code or len(code) > MAX_CHARS:
        return [Run(code, PLAIN)] if code else []
    style = DARK_STYLE if dark else LIGHT_STYLE
    runs: list[Run] = []
    for token, value in lexer.get_tokens(code):
        if not value:
            continue
        colour = _colour(style, token)
        if runs and (runs[-1].colour == colour or value.isspace()):  # white space shows no colour
            runs[-1] = Run(runs[-1].text + value, runs[-1].colour)
        else:
            runs.append(Run(value, colour))
    if "".join(run.text for run in runs) != code:  # a lexer that rewrote the text: show it as it is
        return [Run(code, PLAIN)]
    return runs


def warm_up() -> None:
    """Import Pygments and its Python lexer ahead of the first code block (about 0.1 s, once)."""
    highlight("def f():\n    return 'x'", "python", dark=False)
    highlight("x", "python", dark=True)


def known_language(language: str) -> bool:
    return _lexer(language.lower()) is not None


@lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer | None:
    if not language:
        return None
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)  # knows py, sh, c++, js…
    except ClassNotFound:
        return None


@lru_cache(maxsize=1024)
def _colour(style_name: str, token: _TokenType) -> Colour:
    from pygments.styles import get_style_by_name

    style = get_style_by_name(style_name)
    while True:
        try:
            spec = style.style_for_token(token)
            break
        except KeyError:  # a token the style does not know takes its parent's look
            if token.parent is None:
                return PLAIN
            token = token.parent
    color = spec.get("color") or ""
    return Colour(f"#{color}" if color else "", bool(spec.get("bold")), bool(spec.get("italic")))
