"""What a document becomes before it is chunked: short pieces of text, each with where it was (page, lines, rows).

Readers (``readers.py``) produce ``Block``\\ s; the chunker packs them into passages whose location spans theirs;
a citation shows the location as people read it: "p. 12", "pp. 3–4", "lines 10–24", "rows 2–40", "¶ 7".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import HermesError


class DocumentError(HermesError):
    """A file that cannot be read as a document (encrypted, damaged, too large, no text, …): said for people."""


@dataclass(frozen=True)
class Limits:
    """What one file may cost to read; the worker process that reads it is ended past ``seconds``."""

    max_bytes: int = 64 << 20  # a file larger than this is refused before it is read
    max_pages: int = 5_000  # PDF pages
    max_chars: int = 20_000_000  # text extracted from one file
    max_unpacked: int = 128 << 20  # DOCX: the zip's members, unpacked, together
    seconds: float = 120.0  # one file's reading, in the worker
    memory: int = 2 << 30  # the worker's heap (RLIMIT_DATA, where the system has it)

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Limits:
        known = cls.__dataclass_fields__
        return cls(**{k: type(getattr(cls(), k))(v) for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Block:
    text: str
    page: int = 0  # 1-based; 0: the format has no pages
    line: int = 0  # first line (text, Markdown, code) or row (CSV), 1-based; 0: none
    end: int = 0  # last line or row
    para: int = 0  # paragraph number (DOCX, HTML)
    section: str = ""  # the heading it falls under (Markdown, HTML, DOCX)


@dataclass(frozen=True)
class Document:
    """A file read: its blocks, what kind of file it was, and facts worth saying (pages, encoding)."""

    kind: str  # "pdf", "docx", "html", "csv", "markdown", "code", "text"
    blocks: tuple[Block, ...]
    sha256: str
    size: int
    pages: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)  # "read as windows-1252", "12 pages had no text"

    @property
    def chars(self) -> int:
        return sum(len(block.text) for block in self.blocks)


def span(blocks: Iterable[Block], kind: str) -> dict[str, Any]:
    """The location of a passage made of ``blocks``: the first and last page, line or paragraph, the first section."""
    items = list(blocks)
    where: dict[str, Any] = {}
    pages = [b.page for b in items if b.page]
    if pages:
        where["page"], where["page_end"] = min(pages), max(pages)
    lines = [b.line for b in items if b.line] + [b.end for b in items if b.end]
    if lines:
        where["line"], where["line_end"] = min(lines), max(lines)
    paras = [b.para for b in items if b.para]
    if paras:
        where["para"], where["para_end"] = min(paras), max(paras)
    section = next((b.section for b in items if b.section), "")
    if section:
        where["section"] = section
    where["kind"] = kind
    return where


def location_label(where: Mapping[str, Any]) -> str:
    """A passage's location as people read it: "p. 12", "pp. 3–4", "lines 10–24", "rows 2–40", "¶ 7"."""
    if where.get("page"):
        first, last = int(where["page"]), int(where.get("page_end") or where["page"])
        return f"p. {first}" if first == last else f"pp. {first}–{last}"
    if where.get("line"):
        first, last = int(where["line"]), int(where.get("line_end") or where["line"])
        noun = "row" if where.get("kind") == "csv" else "line"
        return f"{noun} {first}" if first == last else f"{noun}s {first}–{last}"
    if where.get("para"):
        first, last = int(where["para"]), int(where.get("para_end") or where["para"])
        label = f"¶ {first}" if first == last else f"¶ {first}–{last}"
        return f"{where['section']}, {label}" if where.get("section") else label
    return str(where.get("section", ""))
