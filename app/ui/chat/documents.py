"""Documents in the composer and under the replies: a chip per attached file, the grounding off the GUI thread,
and the sources line under a reply.

An attached file (PDF, Word, text, Markdown, CSV, HTML) goes with the next message: ``DocumentTray`` shows a chip per
file (its name, a remove button). On send, ``GroundingTask`` runs ``knowledge.grounding.ground`` on a thread of its
own (the file is read in the reader's worker process; a long one is indexed and searched, with the embedding model
of the library when there is one, else by keyword), and reports its progress and its ``Grounding`` on the GUI thread.
``source_lines`` are what the bubble shows under a reply ("[1] report.pdf, p. 12"), the excerpt its tooltip.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSize, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from app.ui.theme import icon
from app.ui.widgets import tool_button

if TYPE_CHECKING:  # the knowledge package (numpy, the reader process) loads with the first attached document
    from app.core.chat.items import ChatItem
    from app.core.engines.service import EngineService
    from app.core.knowledge.base import Progress
    from app.core.knowledge.embedder import Embedder
    from app.core.knowledge.grounding import Grounding
    from app.core.media.images import CheckedImage

__all__ = ["DOCUMENT_SUFFIXES", "DocumentTray", "GroundingTask", "is_document", "library_embedder", "source_lines"]

DOCUMENT_SUFFIXES = frozenset({".pdf", ".docx", ".txt", ".md", ".markdown", ".csv", ".html", ".htm"})
DOCUMENT_FILTER = "*.pdf *.docx *.txt *.md *.markdown *.csv *.html *.htm"
MAX_DOCUMENTS = 10  # per message


def is_document(path: Path) -> bool:
    return path.suffix.lower() in DOCUMENT_SUFFIXES


def source_lines(item: ChatItem) -> list[tuple[str, str]]:
    """The lines under a message, each with its tooltip: a reply's sources, a question's attached documents."""
    if item.role == "assistant":
        return [
            (f"[{c.index}] {c.file}" + (f", {c.location}" if c.location else ""), c.excerpt) for c in item.citations
        ]
    return [(f"📄 {d.name}" + (f" · {d.pages} pages" if d.pages else ""), d.path) for d in item.documents]


def library_embedder(service: EngineService, folders: Sequence[Path]) -> Embedder | None:
    """The embedding slot's model, loading the library's first embedding model there if none is (off the GUI thread:
    it blocks while it loads); None when the library has none (keyword search and whole documents then)."""
    from app.core.engines.llama_embedder import SlotEmbedder, find_embedding_model

    if service.embedding_loaded is None:
        model = find_embedding_model(folders)
        if model is None:
            return None
        service.load_embedding(model).result()
    return SlotEmbedder(service)


def remove_button(name: str, remove: Callable[[], None]) -> QToolButton:
    """The small × on an attachment's chip (a document's or an image's), named for screen readers."""
    button = tool_button(icon=icon("x"), tooltip=f"Remove {name}", auto_raise=True)
    button.setAccessibleName(f"Remove {name}")
    button.setIconSize(QSize(12, 12))
    button.clicked.connect(remove)
    return button


class _Chip(QFrame):
    """One attached document: its name and a remove button."""

    def __init__(self, path: Path, remove: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("documentChip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setToolTip(str(path))
        self.label = QLabel(f"📄 {path.name}")
        self.label.setAccessibleName(f"Attached document {path.name}")
        self.remove_button = remove_button(path.name, remove)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.label)
        layout.addWidget(self.remove_button)


class DocumentTray(QWidget):
    """The documents waiting to go with the next message, a chip each, above the message box."""

    refused = Signal(str)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths: list[Path] = []
        self.chips: list[_Chip] = []
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 4)
        self._row.addStretch(1)
        self.hide()

    def add_files(self, paths: Iterable[Path]) -> int:
        """Attach each document (a file that is not one, or missing, says why). How many were attached."""
        added = 0
        for path in paths:
            if not is_document(path):
                self.refused.emit(f"{path.name} was not attached: not a document this app reads ({DOCUMENT_FILTER}).")
            elif not path.is_file():
                self.refused.emit(f"{path.name} was not attached: the file is not there.")
            elif len(self.paths) >= MAX_DOCUMENTS:
                self.refused.emit(f"{path.name} was not attached: a message takes up to {MAX_DOCUMENTS} documents.")
            elif path.resolve() in self.paths:
                added += 1  # the same file twice is attached once
            else:
                self._add(path.resolve())
                added += 1
        return added

    def _add(self, path: Path) -> None:
        self.paths.append(path)
        chip = _Chip(path, lambda: self.remove(path))
        self.chips.append(chip)
        self._row.insertWidget(len(self.chips) - 1, chip)
        chip.show()
        self.show()
        self.changed.emit()

    def remove(self, path: Path) -> None:
        if path in self.paths:
            index = self.paths.index(path)
            del self.paths[index]
            chip = self.chips.pop(index)
            chip.hide()
            self._row.removeWidget(chip)
            chip.deleteLater()
        self.setVisible(bool(self.paths))
        self.changed.emit()

    def take(self) -> list[Path]:
        paths = list(self.paths)
        for path in paths:
            self.remove(path)
        return paths

    def restore(self, paths: Iterable[Path]) -> None:
        for path in paths:
            if path not in self.paths:
                self._add(path)


class GroundingTask(QObject):
    """``ground()`` for one question on a thread of its own; ``progress`` and ``finished`` arrive on the GUI thread.

    ``embedder``: called on that thread (it may load the library's embedding model); None means keyword search and
    whole documents only. ``cancel()`` is safe from the GUI thread."""

    progress = Signal(str)
    finished = Signal(object)  # the Grounding
    failed = Signal(str)

    def __init__(
        self,
        question: str,
        attachments: list[Path],
        embedder: Callable[[], Embedder | None],
        parent: QObject | None = None,
        *,
        collections: Sequence[str] = (),
        knowledge_db: Path | None = None,
    ) -> None:
        from app.core.knowledge.base import CancelToken

        super().__init__(parent)
        self.question = question
        self.attachments = attachments
        self.collections = tuple(collections)  # the chat's knowledge collections (searched in knowledge_db)
        self.knowledge_db = knowledge_db
        self._embedder = embedder
        self.token = CancelToken()
        self.typed = ""  # the message as typed, and its images: given back if the turn does not start
        self.images: list[CheckedImage] = []
        self._thread = threading.Thread(target=self._run, name="grounding", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self.token.cancel()

    def _report(self, progress: Progress) -> None:
        name = Path(progress.path).name
        figures = f" {progress.done}/{progress.chunks} passages" if progress.chunks else ""
        self.progress.emit(f"Reading {name} ({progress.index}/{progress.total}): {progress.stage}{figures}…")

    def _run(self) -> None:
        try:
            names = ", ".join([path.name for path in self.attachments] + list(self.collections))
            self.progress.emit(f"Reading {names}…" if self.attachments else f"Searching {names}…")
            embedder = self._embedder()
            grounding = self._ground(embedder)
        except Exception as exc:  # whatever went wrong reaches the banner, not a dead thread
            self.failed.emit(f"The documents could not be read: {exc}")
            return
        self.finished.emit(grounding)

    def _ground(self, embedder: Embedder | None) -> Grounding:
        from app.core.knowledge.base import KnowledgeBase
        from app.core.knowledge.grounding import ground

        if not self.collections or self.knowledge_db is None:
            return ground(self.question, attachments=self.attachments, embedder=embedder, progress=self._report,
                          cancel=self.token)  # fmt: skip
        base = KnowledgeBase(self.knowledge_db, embedder)
        try:
            there = {info.name for info in base.collections()}
            found = [name for name in self.collections if name in there]
            grounding = ground(self.question, base=base, collections=found, attachments=self.attachments,
                               embedder=embedder, progress=self._report, cancel=self.token)  # fmt: skip
        finally:
            base.close()
        gone = [f"the collection {name} is not there any more" for name in self.collections if name not in there]
        return replace(grounding, notes=grounding.notes + tuple(gone))
