"""An embedding model run by llama-cpp-python in embedding mode: the knowledge index's ``Embedder``.

It owns its own ``Llama`` (``embedding=True``), apart from the chat model, and is used from one thread at a time
(the thread that indexes or searches). Its ``name`` is the file's name and size, so vectors from another file (or
another quantisation of the same model) are never compared with its own. ``find_embedding_model`` picks one from
the library: a GGUF whose architecture is an encoder (BERT and its kin) or that says it pools embeddings.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from app.core.engines.llama_adapter import import_llama_cpp
from app.core.errors import ModelFileError, ModelLoadError
from app.core.library.gguf_file import read_gguf

log = logging.getLogger(__name__)

ENCODER_ARCHITECTURES = frozenset({"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3",
                                   "neo-bert", "modern-bert", "t5encoder"})  # fmt: skip
MAX_CONTEXT = 512  # tokens of one passage or question (passages are ~200; a longer question is cut)
BATCH_TOKENS = 2048  # tokens per llama.cpp batch: many short passages go through in one decode


class LlamaEmbedder:
    """``embed(texts)`` with a GGUF embedding model; implements ``app.core.knowledge.embedder.Embedder``."""

    def __init__(self, path: Path, *, threads: int | None = None, context: int = 0) -> None:
        info = read_gguf(path)  # a damaged or foreign file is a ModelFileError before llama.cpp sees it
        llama_cpp = import_llama_cpp()
        trained = info.context_length or 512
        self._context = min(context or trained, MAX_CONTEXT)
        batch = max(BATCH_TOKENS, self._context)
        pooling = info.metadata.get(f"{info.architecture}.pooling_type")
        # a model that names no pooling (a chat model used for embeddings) is mean-pooled, not one vector per token
        extra = {} if pooling else {"pooling_type": llama_cpp.LLAMA_POOLING_TYPE_MEAN}
        try:
            self._llama: Any = llama_cpp.Llama(
                model_path=str(path), embedding=True, n_ctx=batch, n_batch=batch, n_ubatch=batch,
                n_threads=threads, verbose=False, **extra,
            )  # fmt: skip
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"llama.cpp could not load the embedding model {path.name}: {exc}") from exc
        self.path = path
        self._name = f"{path.name}:{path.stat().st_size}"
        self._dimensions = int(self._llama.n_embd())
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def max_tokens(self) -> int:
        return self._context

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._llama.tokenize(text.encode("utf-8", "replace"), add_bos=True, special=False))

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text (a text longer than the model's context is cut to it)."""
        if not texts:
            return []
        with self._lock:
            vectors = self._llama.embed([self._fit(text) for text in texts], normalize=True, truncate=True)
        return [list(vector) for vector in vectors]

    def _fit(self, text: str) -> str:
        tokens = self._llama.tokenize(text.encode("utf-8", "replace"), add_bos=True, special=False)
        if len(tokens) <= self._context:
            return text
        return self._llama.detokenize(tokens[1 : self._context - 1]).decode("utf-8", "replace")

    def close(self) -> None:
        llama, self._llama = self._llama, None
        if llama is not None:
            llama.close()

    def __enter__(self) -> LlamaEmbedder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def is_embedding_model(path: Path) -> bool:
    try:
        info = read_gguf(path)
    except ModelFileError:
        return False
    pooling = info.metadata.get(f"{info.architecture}.pooling_type")
    return info.architecture in ENCODER_ARCHITECTURES or (pooling is not None and not info.chat_template)


def find_embedding_model(folders: Iterable[Path]) -> Path | None:
    """The first embedding model in the library folders (by name), or None."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.gguf")):
            if is_embedding_model(path):
                return path
    return None
