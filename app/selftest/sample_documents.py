"""Documents written by hand for the self-test's ``documents`` step and the tests: PDFs (text layer, encrypted, a
million pages, deeply nested, scanned) and DOCX files written with zipfile (paragraphs, headings, page breaks, a zip
bomb). No fixture file is checked in, and nothing here needs a library the app does not ship."""

from __future__ import annotations

import zipfile
from pathlib import Path


def _pdf(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """A PDF from numbered objects (1-based, object 1 the catalog), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer_extra, xref)
    return bytes(out)


def _escape(text: str) -> bytes:
    return text.encode("latin-1").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def pdf_bytes(pages: list[list[str]], *, encrypt: bool = False, count: int | None = None) -> bytes:
    """A PDF whose page ``i`` shows the lines ``pages[i]`` (Helvetica text: a real text layer).

    ``encrypt``: a standard security handler whose user password is not empty (a reader needs the password);
    ``count``: the page tree claims this many pages."""
    n = len(pages)
    font = 3 + 2 * n
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(n))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count or n)]
    for i, lines in enumerate(pages):
        stream = b"BT /F1 11 Tf 72 720 Td 14 TL " + b" ".join(b"(%s) Tj T*" % _escape(line) for line in lines) + b" ET"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (font, 4 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    extra = b""
    if encrypt:
        objects.append(b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -4 >>" % (b"ab" * 32, b"cd" * 32))
        extra = b"/Encrypt %d 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] " % len(
            objects
        )
    return _pdf(objects, extra)


def scanned_pdf_bytes(pages: int = 2) -> bytes:
    """Pages with only drawing on them (as a scan's image would be): no text layer."""
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages)]
    for i in range(pages):
        stream = b"0.5 g 72 72 468 648 re f"
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>" % (4 + 2 * i))
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    return _pdf(objects)


def deep_pdf_bytes(depth: int = 200_000) -> bytes:
    """A one-page PDF whose page carries an array nested ``depth`` deep (a parser's recursion)."""
    nested = b"[" * depth + b"]" * depth
    stream = b"BT /F1 11 Tf 72 720 Td (Deep but readable) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R /Deep " + nested + b" >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return _pdf(objects)


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/></Relationships>'
)
_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx_bytes(paragraphs: list[tuple[str, str]], table: list[list[str]] | None = None) -> bytes:
    """A Word document: ``(style, text)`` paragraphs (style "Heading1", "" for body text, "PAGE" a page break
    before the text, as Word records it on save), then an optional table."""
    body = []
    for style, text in paragraphs:
        props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style and style != "PAGE" else ""
        page = "<w:r><w:lastRenderedPageBreak/></w:r>" if style == "PAGE" else ""
        body.append(f'<w:p>{props}{page}<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>')
    if table:
        rows = "".join(
            "<w:tr>" + "".join(f"<w:tc><w:p><w:r><w:t>{cell}</w:t></w:r></w:p></w:tc>" for cell in row) + "</w:tr>"
            for row in table
        )
        body.append(f"<w:tbl>{rows}</w:tbl>")
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    document = f"{head}<w:document {_W}><w:body>{''.join(body)}</w:body></w:document>"
    return _zip({"[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _RELS, "word/document.xml": document})


def docx_bomb(path: Path, unpacked_mb: int = 1024) -> None:
    """A DOCX whose one extra member unpacks to ``unpacked_mb`` MB of zeros (a few MB on disk)."""
    path.write_bytes(docx_bytes([("", "tiny")]))
    with (
        zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("word/media/bomb.bin", "w", force_zip64=True) as member,
    ):
        block = b"\0" * (1 << 20)
        for _ in range(unpacked_mb):
            member.write(block)


def _zip(members: dict[str, str]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()
