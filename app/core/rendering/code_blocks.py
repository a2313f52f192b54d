"""Fenced code blocks in a Markdown reply (for "copy code block")."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(
    r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^ {0,3}(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class CodeBlock:
    language: str
    code: str


def code_blocks(markdown: str) -> list[CodeBlock]:
    """Every closed fenced code block, in order."""
    return [
        CodeBlock(match.group("info").strip().split(" ")[0], match.group("body").rstrip("\n"))
        for match in _FENCE.finditer(markdown)
    ]
