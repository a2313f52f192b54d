"""Documents read in the worker process: every format with its locations, and the hostile files of issue 23.

Fixtures are made here (app/selftest/sample_documents.py): hand-written PDFs, DOCX zips, text in several encodings."""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path

import pytest

from app.core.knowledge.blocks import DocumentError, Limits, location_label, span
from app.core.knowledge.chunking import ChunkSize, chunk_blocks
from app.core.knowledge.embedder import estimate_tokens
from app.core.knowledge.worker import Cancelled, ReaderProcess
from app.selftest.sample_documents import deep_pdf_bytes, docx_bomb, docx_bytes, pdf_bytes, scanned_pdf_bytes


@pytest.fixture(scope="module")
def reader():
    with ReaderProcess() as process:
        yield process


def _labels(document) -> list[tuple[str, str]]:
    return [(block.text, location_label(span([block], document.kind))) for block in document.blocks]


def test_pdf_text_layer_with_pages(tmp_path: Path, reader: ReaderProcess) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf_bytes([["Quarterly figures", "Sales rose."], ["The code word is PLOVER."]]))
    document = reader.read(path)
    assert (document.kind, document.pages) == ("pdf", 2)
    assert _labels(document) == [("Quarterly figures\nSales rose.", "p. 1"), ("The code word is PLOVER.", "p. 2")]


def test_docx_paragraphs_headings_pages_and_tables(tmp_path: Path, reader: ReaderProcess) -> None:
    path = tmp_path / "memo.docx"
    paragraphs = [("Heading1", "Budget"), ("", "The budget is 12 crowns."), ("PAGE", "Signed on page two.")]
    path.write_bytes(docx_bytes(paragraphs, table=[["Item", "Cost"], ["Ink", "3"]]))
    document = reader.read(path)
    assert document.kind == "docx"
    blocks = {block.text: block for block in document.blocks}
    assert blocks["The budget is 12 crowns."].section == "Budget"
    assert blocks["The budget is 12 crowns."].page == 1
    assert blocks["Signed on page two."].page == 2  # Word's lastRenderedPageBreak
    assert blocks["Ink | 3"].para == 5


def test_text_markdown_code_csv_html_locations(tmp_path: Path, reader: ReaderProcess) -> None:
    (tmp_path / "notes.md").write_text("# Garden\n\nTomatoes need sun.\nWater daily.\n\n## Pests\n\nSlugs at night.\n")
    (tmp_path / "tool.py").write_text("import os\n\n\ndef main():\n    return os.getcwd()\n")
    (tmp_path / "people.csv").write_text("name,city\nAda,Turin\nBo,Oslo\n")
    (tmp_path / "page.html").write_text(
        "<html><head><style>p{}</style><script>var x=1</script></head><body><h2>Rules</h2>"
        "<p>No running &amp; no diving.</p><p>Swim with a friend.</p></body></html>"
    )
    markdown = reader.read(tmp_path / "notes.md")
    assert ("Tomatoes need sun.\nWater daily.", "lines 3–4") in _labels(markdown)
    assert [b.section for b in markdown.blocks if b.text == "Slugs at night."] == ["Pests"]
    code = reader.read(tmp_path / "tool.py")
    assert code.kind == "code" and ("def main():\n    return os.getcwd()", "lines 4–5") in _labels(code)
    table = reader.read(tmp_path / "people.csv")
    assert _labels(table) == [("name: Ada; city: Turin", "row 2"), ("name: Bo; city: Oslo", "row 3")]
    html = reader.read(tmp_path / "page.html")
    assert [b.text for b in html.blocks] == ["Rules", "No running & no diving.", "Swim with a friend."]
    assert location_label(span(html.blocks[1:2], "html")) == "Rules, ¶ 2"


def test_encodings(tmp_path: Path, reader: ReaderProcess) -> None:
    (tmp_path / "latin.txt").write_bytes("Le café était très crème, à la française.".encode("cp1252"))
    (tmp_path / "utf16.txt").write_bytes("Grüße aus Köln".encode("utf-16"))
    latin = reader.read(tmp_path / "latin.txt")
    assert latin.blocks[0].text == "Le café était très crème, à la française."
    assert latin.notes == ("read as cp1252",)
    assert reader.read(tmp_path / "utf16.txt").blocks[0].text == "Grüße aus Köln"


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("locked.pdf", lambda p: p.write_bytes(pdf_bytes([["secret"]], encrypt=True)), "is encrypted"),
        ("huge.pdf", lambda p: p.write_bytes(pdf_bytes([["x"]], count=1_000_000)), "has 1,000,000 pages; the limit"),
        ("scan.pdf", lambda p: p.write_bytes(scanned_pdf_bytes()), "has no text layer (a scanned PDF?)"),
        ("noise.pdf", lambda p: p.write_bytes(os.urandom(20_000)), "is not a readable PDF"),
        ("bomb.docx", lambda p: docx_bomb(p, unpacked_mb=160), "a zip bomb?"),
        ("fake.docx", lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"), "is not a Word document"),
        ("empty.txt", lambda p: p.write_bytes(b""), "is empty"),
        ("blank.md", lambda p: p.write_bytes(b"\n\n   \n"), "is empty"),
        ("binary.txt", lambda p: p.write_bytes(os.urandom(4096) + b"\0"), "is not text"),
        ("big.txt", lambda p: _sparse(p, 200 << 20), "larger than 67 MB, the limit"),
        ("odd.txt", lambda p: p.write_bytes(bytes(range(0x80, 0x100)) * 40), "text encoding cannot be told"),
    ],
)
def test_hostile_files_are_refused_with_a_reason(tmp_path: Path, reader: ReaderProcess, name, make, message) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(DocumentError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        reader.read(path)


def test_deep_pdf_object_graph_costs_only_the_worker(tmp_path: Path, reader: ReaderProcess) -> None:
    path = tmp_path / "deep.pdf"
    path.write_bytes(deep_pdf_bytes(depth=300_000))
    document = reader.read(path)  # PDFium stops at its own nesting limit; the page's text is still there
    assert [block.text for block in document.blocks] == ["Deep but readable"]


def test_a_file_that_takes_too_long_is_stopped_and_the_next_one_is_read(tmp_path: Path) -> None:
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(pdf_bytes([[f"page {n} line {i}" for i in range(40)] for n in range(1500)]))
    quick = tmp_path / "quick.txt"
    quick.write_text("still fine")
    with ReaderProcess(Limits(seconds=0.05)) as process:
        with pytest.raises(DocumentError, match=r"took longer than 0.05 s, the limit; it was stopped"):
            process.read(slow)
        process.limits = Limits()
        assert process.read(quick).blocks[0].text == "still fine"


def test_a_worker_killed_mid_read_is_a_message_and_a_fresh_worker_follows(tmp_path: Path) -> None:
    path = tmp_path / "many.pdf"
    path.write_bytes(pdf_bytes([[f"page {n}"] * 30 for n in range(1500)]))
    (tmp_path / "a.txt").write_text("warm")
    with ReaderProcess() as process:
        process.read(tmp_path / "a.txt")  # the worker is up
        worker = process._process
        assert worker is not None
        threading.Timer(0.05, lambda: os.kill(worker.pid, 9)).start()
        with pytest.raises(DocumentError, match=r"the reader ended while reading it \(signal 9"):
            process.read(path)
        assert process.read(tmp_path / "a.txt").blocks[0].text == "warm"


def test_cancel_stops_the_read_at_once(tmp_path: Path) -> None:
    path = tmp_path / "many.pdf"
    path.write_bytes(pdf_bytes([[f"page {n}"] * 30 for n in range(1500)]))
    with ReaderProcess() as process:
        threading.Timer(0.1, process.cancel).start()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            process.read(path)
        assert time.monotonic() - started < 60  # a deadlock guard, not a speed figure
        with pytest.raises(Cancelled):
            process.read(path)


def test_a_missing_file_says_so(tmp_path: Path, reader: ReaderProcess) -> None:
    with pytest.raises(DocumentError, match="is not there any more"):
        reader.read(tmp_path / "gone.txt")


def test_chunks_are_bounded_overlap_and_keep_their_locations() -> None:
    from app.core.knowledge.blocks import Block

    blocks = [Block(f"Sentence {n} tells of the harbour and its {n} boats.", page=1 + n // 10) for n in range(40)]
    chunks = chunk_blocks(blocks, "pdf", estimate_tokens, ChunkSize(max_tokens=60, overlap=15))
    assert len(chunks) > 4
    assert all(chunk.tokens <= 60 for chunk in chunks)
    assert all(estimate_tokens(chunk.text) <= 60 for chunk in chunks)
    first_pages = [chunk.location["page"] for chunk in chunks]
    assert first_pages == sorted(first_pages) and first_pages[-1] == 4
    assert any(chunk.location["page"] != chunk.location["page_end"] for chunk in chunks)  # "pp. 1–2"
    for before, after in itertools.pairwise(chunks):  # the overlap: the next starts with the last lines
        assert after.text.split("\n")[0] in before.text
    long = chunk_blocks([Block("word " * 500, line=7, end=7)], "text", estimate_tokens, ChunkSize(60, 10))
    assert len(long) > 5 and all(c.tokens <= 60 and c.location["line"] == 7 for c in long)


def _sparse(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        handle.truncate(size)
