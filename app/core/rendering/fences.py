"""Split Markdown at its fenced code blocks: prose is left to a Markdown renderer, code is shown as code.

Fences follow CommonMark: three or more backticks or tildes, indented at most three spaces; a block
closes at a fence of the same character at least as long, with nothing after it; an unclosed block
runs to the end of the text (a reply still streaming). The code of an indented fence loses that
indentation, as CommonMark says.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    text: str  # prose: the Markdown; code: the code itself (no fences)
    code: bool = False
    language: str = ""
    closed: bool = True  # code only: False while its closing fence has not arrived


@dataclass(frozen=True)
class Fence:
    indent: int
    marker: str  # "`" or "~"
    length: int
    info: str


def opening_fence(line: str) -> Fence | None:
    stripped = line.lstrip(" ")
    indent = len(line) - len(stripped)
    if indent > 3 or not stripped.startswith(("```", "~~~")):
        return None
    marker = stripped[0]
    length = len(stripped) - len(stripped.lstrip(marker))
    info = stripped[length:].strip()
    if marker == "`" and "`" in info:
        return None  # not a fence: an inline code span
    return Fence(indent, marker, length, info)


def closes(line: str, fence: Fence) -> bool:
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3:
        return False
    run = len(stripped) - len(stripped.lstrip(fence.marker))
    return run >= fence.length and not stripped[run:].strip()


def split_fences(text: str) -> list[Segment]:
    """Prose and code, in order; whitespace-only prose is left out."""
    segments: list[Segment] = []
    prose: list[str] = []
    code: list[str] = []
    fence: Fence | None = None
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if fence is None:
            fence = opening_fence(bare)
            if fence is None:
                prose.append(line)
                continue
            _add_prose(segments, prose)
            prose, code = [], []
        elif closes(bare, fence):
            segments.append(Segment(_code_text(code, fence), True, _language(fence), True))
            fence = None
        else:
            code.append(line)
    if fence is not None:
        segments.append(Segment(_code_text(code, fence), True, _language(fence), False))
    else:
        _add_prose(segments, prose)
    return segments


def _add_prose(segments: list[Segment], lines: list[str]) -> None:
    text = "".join(lines)
    if text.strip():
        segments.append(Segment(text))


def _language(fence: Fence) -> str:
    return fence.info.split(maxsplit=1)[0] if fence.info else ""


def _code_text(lines: list[str], fence: Fence) -> str:
    if fence.indent:
        lines = [_dedent(line, fence.indent) for line in lines]
    return "".join(lines).removesuffix("\n").removesuffix("\r")


def _dedent(line: str, count: int) -> str:
    stripped = line.lstrip(" ")
    return line[min(count, len(line) - len(stripped)) :]
