"""Markdown layout of one message as one or more QTextDocuments.

A finished message is one document. A message that is still streaming is split at blank lines
outside code fences: every finished chunk is parsed and laid out once and never touched again,
and only the open tail is re-parsed when text arrives. Appending text therefore costs the size
of the tail, not of the message; when the reply finishes it is laid out once more as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtGui import QFont, QPalette, QTextCursor, QTextDocument, QTextFormat

MARKDOWN = QTextDocument.MarkdownFeature.MarkdownDialectGitHub
CHUNK_GAP = 8  # pixels between the chunks of a streaming message (a paragraph's spacing)


def _is_fence(line: str) -> bool:
    stripped = line.lstrip(" ")
    return len(line) - len(stripped) <= 3 and stripped.startswith(("```", "~~~"))


@dataclass
class MessageDocuments:
    """The documents of one message at one width; ``update`` feeds it the message's text."""

    width: int
    font: QFont
    palette: QPalette
    markdown: bool = True
    documents: list[QTextDocument] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # top of each document
    height: int = 0
    ideal_width: int = 0
    _frozen_chars: int = 0  # text already laid out in finished chunks
    _frozen_height: int = 0
    _scan_pos: int = 0  # where the search for the next blank line resumes
    _in_fence: bool = False
    _streaming: bool = False
    _text_len: int = 0

    def update(self, text: str, *, streaming: bool, suffix: str = "") -> None:
        if not (self.markdown and streaming):
            self._whole(text + suffix)
            return
        if not self._streaming or len(text) < self._text_len:
            self._reset()
        self._streaming, self._text_len = True, len(text)
        safe = self._advance(text)
        if safe > self._frozen_chars:
            chunk = text[self._frozen_chars : safe]
            if self.documents:  # the old tail becomes a finished chunk
                self.documents.pop()
                self.offsets.pop()
            if chunk.strip():
                document = self._document(chunk)
                self._add(document)
                self._frozen_height = self.height
            self._frozen_chars = safe
        elif self.documents:
            self.documents.pop()
            self.offsets.pop()
            self.height = self._frozen_height
        self._add(self._document(text[self._frozen_chars :] + suffix))

    def _whole(self, text: str) -> None:
        self._reset()
        document = self._document(text)
        self._add(document)
        self.ideal_width = int(document.idealWidth()) + 1

    def _reset(self) -> None:
        self.documents, self.offsets = [], []
        self.height = self._frozen_height = self._frozen_chars = self._scan_pos = self._text_len = 0
        self._in_fence = self._streaming = False

    def _advance(self, text: str) -> int:
        """Scan the new complete lines; return the end of the last blank line outside a code fence."""
        safe = self._frozen_chars
        position = self._scan_pos
        while (end := text.find("\n", position)) >= 0:
            line = text[position:end]
            if _is_fence(line):
                self._in_fence = not self._in_fence
            elif not self._in_fence and not line.strip() and position > self._frozen_chars:
                safe = end + 1
            position = end + 1
        self._scan_pos = position
        return safe

    def _add(self, document: QTextDocument) -> None:
        top = self.height + (CHUNK_GAP if self.documents else 0)
        self.documents.append(document)
        self.offsets.append(top)
        self.height = top + int(document.size().height())

    def _document(self, text: str) -> QTextDocument:
        document = QTextDocument()
        document.setDefaultFont(self.font)
        document.setDocumentMargin(0)
        if self.markdown:
            document.setMarkdown(text, MARKDOWN)
            if "```" in text or "~~~" in text or "    " in text:
                _shade_code_blocks(document, self.palette)
        else:
            document.setPlainText(text)
        document.setTextWidth(self.width)
        return document


def _shade_code_blocks(document: QTextDocument, palette: QPalette) -> None:
    shade = palette.color(QPalette.ColorRole.AlternateBase)
    block = document.begin()
    while block.isValid():
        block_format = block.blockFormat()
        if block_format.hasProperty(QTextFormat.Property.BlockCodeFence) or block_format.nonBreakableLines():
            block_format.setBackground(shade)
            QTextCursor(block).setBlockFormat(block_format)
        block = block.next()
