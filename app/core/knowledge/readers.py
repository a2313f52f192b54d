"""Files into blocks of text with their locations: text, Markdown, code, CSV, HTML, PDF (its text layer), DOCX.

These run in the worker process (``worker.py``), never in the window's: a hostile file can only cost the worker its
time and memory, which the parent bounds. Every refusal is a ``DocumentError`` whose message names the file's problem.

Libraries: PDFs through pypdfium2 (PDFium, the PDF engine of Chromium, fuzzed for years: it copes with damaged files
and deep object graphs in C, reads the text layer page by page, fast; Apache-2.0/BSD), DOCX through python-docx (MIT;
the zip is checked for bombs first), HTML through the standard library's parser, encodings by charset-normalizer.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from app.core.files import open_regular
from app.core.knowledge.blocks import Block, Document, DocumentError, Limits

CODE_SUFFIXES = frozenset(
    [
        ".py",
        ".pyi",
        ".js",
        ".mjs",
        ".ts",
        ".tsx",
        ".jsx",
        ".java",
        ".kt",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".hpp",
        ".cs",
        ".go",
        ".rs",
        ".rb",
        ".php",
        ".swift",
        ".m",
        ".scala",
        ".sh",
        ".bash",
        ".zsh",
        ".ps1",
        ".sql",
        ".r",
        ".lua",
        ".pl",
        ".hs",
        ".ml",
        ".ex",
        ".exs",
        ".clj",
        ".dart",
        ".vue",
        ".svelte",
        ".css",
        ".scss",
        ".json",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".xml",
        ".tex",
        ".gradle",
        ".cmake",
        ".proto",
    ]
)
TEXT_SUFFIXES = frozenset([".txt", ".text", ".log", ".rst", ".org", ".adoc", ".asciidoc"])
MARKDOWN_SUFFIXES = frozenset([".md", ".markdown", ".mdx"])
HTML_SUFFIXES = frozenset([".html", ".htm", ".xhtml"])
SUFFIXES = CODE_SUFFIXES | TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | {".csv", ".tsv", ".pdf", ".docx"}
NOT_A_DOCUMENT = "not a document type that is read (text, Markdown, code, CSV, HTML, PDF, DOCX)"
_LONG_BLOCK = 1_500  # characters: a longer paragraph is split into its lines
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")


def supported(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".pdf", ".docx"):
        return suffix[1:]
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    return "code" if suffix in CODE_SUFFIXES else "text"


def read_document(path: Path, limits: Limits) -> Document:
    """``path`` read and split into blocks; ``DocumentError`` with the reason when it cannot be."""
    if not supported(path):
        raise DocumentError(f"{path.name}: {NOT_A_DOCUMENT}")
    data = _read_bytes(path, limits)
    if not data.strip():
        raise DocumentError(f"{path.name} is empty.")
    kind = kind_of(path)
    notes: list[str] = []
    pages = 0
    if kind == "pdf":
        blocks, pages, notes = _pdf(path.name, data, limits)
    elif kind == "docx":
        blocks = _docx(path.name, data, limits)
    else:
        text, encoding = decode_text(path.name, data)
        if encoding not in ("utf-8", "ascii"):
            notes.append(f"read as {encoding}")
        if kind == "csv":
            blocks = _csv(text, "\t" if path.suffix.lower() == ".tsv" else ",")
        elif kind == "html":
            blocks = _html(text)
        else:
            blocks = _lines(text, markdown=kind == "markdown")
    blocks = [block for block in blocks if block.text.strip()]
    if not blocks:
        raise DocumentError(f"{path.name} holds no text.")
    if sum(len(block.text) for block in blocks) > limits.max_chars:
        raise DocumentError(f"{path.name} holds more than {limits.max_chars:,} characters of text, the limit.")
    return Document(kind, tuple(blocks), hashlib.sha256(data).hexdigest(), len(data), pages, tuple(notes))


def _read_bytes(path: Path, limits: Limits) -> bytes:
    try:
        with open_regular(path) as handle:
            data = handle.read(int(limits.max_bytes) + 1)
    except FileNotFoundError:
        raise DocumentError(f"{path.name} is not there any more (deleted or moved).") from None
    except OSError as exc:
        raise DocumentError(f"{path.name} cannot be read: {exc.strerror or exc}.") from None
    if len(data) > limits.max_bytes:
        raise DocumentError(
            f"{path.name} is larger than {limits.max_bytes / 1e6:,.0f} MB, the limit for one document; split it."
        )
    return data


def decode_text(name: str, data: bytes) -> tuple[str, str]:
    """Text and the encoding it was in: a BOM, UTF-8, else charset-normalizer's guess; a refusal when none fits."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                break
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:65_536]:
        raise DocumentError(f"{name} is not text (it holds binary data).")
    from charset_normalizer import from_bytes

    results = from_bytes(data[: 1 << 20])
    best = results.best()
    if best is not None:  # Western European text is far more common than the Baltic or Cyrillic code pages that tie
        western = [r for r in results if r.encoding in ("cp1252", "latin_1") and r.chaos <= best.chaos + 0.05]
        best = western[0] if western else best
    if best is None or best.chaos > 0.3:
        raise DocumentError(
            f"{name} is not UTF-8 and its text encoding cannot be told; save it as UTF-8 and add it again."
        )
    try:
        return data.decode(best.encoding), best.encoding
    except (UnicodeDecodeError, LookupError):
        raise DocumentError(f"{name} is not UTF-8 and its text encoding cannot be told; save it as UTF-8.") from None


def _lines(text: str, markdown: bool) -> list[Block]:
    """Paragraphs (runs of lines between blank lines) with their line numbers; a long one line by line."""
    blocks: list[Block] = []
    section = ""
    run: list[tuple[int, str]] = []

    def flush() -> None:
        if not run:
            return
        joined = "\n".join(line for _n, line in run)
        if len(joined) <= _LONG_BLOCK:
            blocks.append(Block(joined, line=run[0][0], end=run[-1][0], section=section))
        else:
            blocks.extend(Block(line, line=n, end=n, section=section) for n, line in run if line.strip())
        run.clear()

    for number, line in enumerate(text.splitlines(), 1):
        heading = _MD_HEADING.match(line) if markdown else None
        if heading:
            flush()
            section = heading.group(2)[:120]
        if not line.strip():
            flush()
            continue
        run.append((number, line))
    flush()
    return blocks


def _csv(text: str, delimiter: str) -> list[Block]:
    """One block per row, "column: value" for each cell (a passage then reads well out of its table)."""
    csv.field_size_limit(1 << 20)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader, [])
        blocks = []
        for row in reader:
            cells = [f"{name.strip() or f'column {i + 1}'}: {value.strip()}" for i, (name, value) in
                     enumerate(zip(header, row, strict=False)) if value.strip()]  # fmt: skip
            if cells:
                blocks.append(Block("; ".join(cells), line=reader.line_num, end=reader.line_num))
    except csv.Error as exc:
        raise DocumentError(f"The CSV cannot be read: {exc}.") from None
    return blocks or [Block(" ".join(header), line=1, end=1)]


class _HTMLText(HTMLParser):
    BLOCKS = frozenset(
        [
            "p",
            "div",
            "li",
            "td",
            "th",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "pre",
            "blockquote",
            "section",
            "article",
            "br",
            "dt",
            "dd",
            "caption",
        ]
    )
    SKIP = frozenset(["script", "style", "noscript", "template", "svg", "head"])

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.text: list[str] = []
        self.section = ""
        self.skipping = 0
        self.heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.flush()
            self.heading = tag in ("h1", "h2", "h3", "h4", "h5", "h6")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.text.append(data)

    def flush(self) -> None:
        text = " ".join("".join(self.text).split())
        self.text.clear()
        if text:
            if self.heading:
                self.section = text[:120]
            self.blocks.append(Block(text, para=len(self.blocks) + 1, section=self.section))
        self.heading = False


def _html(text: str) -> list[Block]:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    parser.flush()
    return parser.blocks


def _paragraphs(text: str) -> Iterator[str]:
    for piece in re.split(r"\n\s*\n", text):
        if len(piece) <= _LONG_BLOCK:
            yield piece
        else:
            yield from (line for line in piece.splitlines() if line.strip())


def _pdf(name: str, data: bytes, limits: Limits) -> tuple[list[Block], int, list[str]]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = str(exc).lower()
        if "password" in reason:
            raise DocumentError(
                f"{name} is encrypted (password-protected); remove the password and add it again."
            ) from None
        raise DocumentError(f"{name} is not a readable PDF ({exc}).") from None
    try:
        pages = len(pdf)
        if pages > limits.max_pages:
            raise DocumentError(f"{name} has {pages:,} pages; the limit is {limits.max_pages:,}.")
        blocks: list[Block] = []
        empty = 0
        for number in range(pages):
            page = pdf[number]
            textpage = page.get_textpage()
            text = textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n")
            textpage.close()
            page.close()
            if not text.strip():
                empty += 1
            blocks.extend(Block(piece.strip(), page=number + 1) for piece in _paragraphs(text) if piece.strip())
    finally:
        pdf.close()
    if not blocks:
        raise DocumentError(f"{name} has no text layer (a scanned PDF?): run OCR on it first, then add it again.")
    notes = [f"{empty} of {pages} pages had no text (scanned?)"] if empty else []
    return blocks, pages, notes


def _docx(name: str, data: bytes, limits: Limits) -> list[Block]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DocumentError(f"{name} is not a Word document (DOCX is a zip file; this is not one).") from None
    unpacked = sum(member.file_size for member in members)
    if len(members) > 10_000 or unpacked > limits.max_unpacked:
        raise DocumentError(
            f"{name} unpacks to {unpacked / 1e6:,.0f} MB in {len(members):,} parts: more than the "
            f"{limits.max_unpacked / 1e6:,.0f} MB accepted (a zip bomb?)."
        )
    if "word/document.xml" not in archive.namelist():
        raise DocumentError(f"{name} is a zip file but not a Word document (no word/document.xml).")
    import docx
    from docx.document import Document as DocxDocument

    try:
        document: DocxDocument = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises lxml's, zipfile's and its own errors alike
        raise DocumentError(f"{name} is a damaged Word document ({type(exc).__name__}: {str(exc)[:200]}).") from None
    return _docx_blocks(document)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_blocks(document: Any) -> list[Block]:
    """Paragraphs and table rows in order, each with its paragraph number, heading and (where Word recorded page
    breaks when it saved: ``lastRenderedPageBreak``) its page."""
    blocks: list[Block] = []
    section, page, para = "", 1, 0
    has_pages = document.element.body.find(f".//{_W}lastRenderedPageBreak") is not None
    for child in document.element.body.iterchildren():
        if child.tag == f"{_W}p":
            breaks = len(child.findall(f".//{_W}lastRenderedPageBreak"))
            breaks += sum(1 for br in child.iter(f"{_W}br") if br.get(f"{_W}type") == "page")
            text = "".join(node.text or "" for node in child.iter(f"{_W}t"))
            style = child.find(f"{_W}pPr/{_W}pStyle")
            style_name = style.get(f"{_W}val", "") if style is not None else ""
            para += 1
            if text.strip() and style_name.lower().startswith(("heading", "title")):
                section = text.strip()[:120]
            page += breaks if para > 1 or not breaks else 0
            if text.strip():
                blocks.append(Block(text, page=page if has_pages else 0, para=para, section=section))
        elif child.tag == f"{_W}tbl":
            for row in child.iter(f"{_W}tr"):
                cells = [" ".join("".join(t.text or "" for t in cell.iter(f"{_W}t")).split())
                         for cell in row.iter(f"{_W}tc")]  # fmt: skip
                para += 1
                if any(cells):
                    blocks.append(Block(" | ".join(cells), page=page if has_pages else 0, para=para, section=section))
    return blocks
