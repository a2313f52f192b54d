"""A reply's source opened (a click on "[1] report.pdf, p. 12" under the reply): the passage with its file and place.

A passage of a collection is read from the knowledge index by its ``chunk_id`` (off the GUI thread); one of an
attached file was never kept in an index, so its excerpt shows, with the file's path. "Open file" hands the file to
the system's viewer; a file no longer there says so instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from app.core.knowledge.search import Hit
from app.core.prompting.parts import CitationPart
from app.ui.theme import secondary_text

__all__ = ["PassageDialog", "passage_loader"]


def passage_loader(database: Path, chunk_id: int) -> Callable[[], Hit | None]:
    """The work that reads one passage (for ``Background.run``): None when it is gone from the index."""

    def load() -> Hit | None:
        from app.core.knowledge.base import KnowledgeBase

        if not chunk_id or not database.is_file():
            return None
        base = KnowledgeBase(database)
        try:
            return base.passage(chunk_id)
        finally:
            base.close()

    return load


class PassageDialog(QDialog):
    def __init__(self, citation: CitationPart, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.citation = citation
        self.setWindowTitle(f"Source {citation.label}")
        self.setAccessibleName("Source passage")
        self.resize(620, 420)
        self.heading = QLabel(f"<b>{_escape(citation.label)}</b>")
        where = [f"collection {citation.collection}" if citation.collection else "attached file"]
        if citation.path:
            where.append(citation.path)
        self.where = secondary_text(QLabel(" · ".join(where)))
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = QPlainTextEdit(citation.excerpt)
        self.text.setReadOnly(True)
        self.text.setAccessibleName("The passage")
        self.note = secondary_text(QLabel("Reading the passage…" if citation.chunk_id else ""))
        self.note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = QPushButton("Open file")
        self.open_button.setEnabled(bool(citation.path))
        self.open_button.clicked.connect(self.open_file)
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.heading, self.where, self.text, self.note):
            layout.addWidget(widget, 1 if widget is self.text else 0)
        layout.addWidget(buttons)
        if not citation.chunk_id:
            self.note.setText("The start of the passage, from a file attached to the question (not kept in an index).")

    def show_passage(self, hit: Hit | None) -> None:
        """The whole passage from the index (None: it was removed since; the excerpt kept with the reply stays)."""
        if hit is None:
            self.note.setText(
                "This passage is no longer in the collection (removed or re-indexed); its start is shown."
            )
            return
        self.text.setPlainText(hit.text)
        self.note.setText("")

    def open_file(self) -> bool:
        path = Path(self.citation.path)
        if not path.is_file():
            self.note.setText(f"{path} is no longer there.")
            return False
        opened = QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
        if not opened:
            self.note.setText(f"No application opened {path.name}.")
        return bool(opened)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
