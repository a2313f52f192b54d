"""The engine service's embedding slot as the knowledge index's ``Embedder`` (``app.core.knowledge.embedder``).

``SlotEmbedder`` wraps an ``EngineService`` whose embedding slot holds a model (the window's, or ``serve``'s): counting
tokens and embedding run on the slot's thread, so one model and one context serve the index, the API and the chat.
``LlamaEmbedder(path)`` is the same with a service of its own, for a face that needs nothing else (``knowledge``
commands, tests, the bench). The ``name`` stored with every vector is the file's name and size, so vectors from another
file (or another quantisation of the same model) are never compared with its own. ``find_embedding_model`` picks the
first embedding model in the library folders.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from app.core.engines.interface import Engine
from app.core.engines.llama_embed import is_embedding_model
from app.core.engines.service import EngineService
from app.core.errors import ModelFileError, NoModelLoaded
from app.core.library.gguf_file import read_gguf


class SlotEmbedder:
    """``embed``/``count_tokens`` on a service's embedding slot; implements the knowledge ``Embedder`` protocol."""

    def __init__(self, service: EngineService) -> None:
        loaded = service.embedding_loaded
        if loaded is None:
            raise NoModelLoaded("No embedding model is loaded.")
        self.service = service
        self._name = f"{loaded.name}:{loaded.info.file_size}"
        self._max_tokens = loaded.context_size
        length = loaded.info.metadata.get(f"{loaded.info.architecture}.embedding_length")
        self._dimensions = length if isinstance(length, int) and length > 0 else len(self.embed(["size"])[0])

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        return self.service.submit_embedding(lambda engine: engine.count_tokens(text)).result()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text; a text longer than the model reads is cut to fit (a long question)."""
        if not texts:
            return []
        limit = self._max_tokens
        items = list(texts)

        def work(engine: Engine) -> list[list[float]]:
            return list(engine.embed([_fit(engine, text, limit) for text in items]))

        return self.service.submit_embedding(work).result()


def _fit(engine: Engine, text: str, limit: int) -> str:
    text = text if text.strip() else "."  # an empty text has nothing to embed; a blank question matches nothing much
    count = engine.count_tokens(text)
    while count > limit and len(text) > 1:
        text = text[: max(1, len(text) * limit // count - 1)]
        count = engine.count_tokens(text)
    return text


class LlamaEmbedder(SlotEmbedder):
    """An embedding model in an engine service of its own (closed with ``close()`` or the ``with`` block)."""

    def __init__(self, path: Path) -> None:
        service = EngineService(name="embedder")
        try:
            service.load_embedding(path).result()
            super().__init__(service)
        except BaseException:
            service.close()
            raise
        self.path = path

    def close(self) -> None:
        self.service.close()

    def __enter__(self) -> LlamaEmbedder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def find_embedding_model(folders: Iterable[Path]) -> Path | None:
    """The first embedding model in the library folders (by name), or None."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.gguf")):
            try:
                if is_embedding_model(read_gguf(path)):
                    return path
            except ModelFileError:
                continue
    return None
