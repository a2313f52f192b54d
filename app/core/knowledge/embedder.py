"""What the knowledge index needs of an embedding model, and the token count the chunker uses without one.

``Embedder`` is a Protocol so that the index never imports an engine: ``engines/llama_embedder.LlamaEmbedder``
(llama-cpp-python in embedding mode) implements it, and so can an engine service's embedding slot. ``name``
identifies the model: it is stored with every vector, and vectors of another name are never compared with its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """The model's identity (file name and size, say): vectors of one name are compared only with each other."""
        ...

    @property
    def dimensions(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The longest passage it embeds whole (its context); the chunker stays below it."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text (unit length or not: the index normalises them)."""
        ...


def estimate_tokens(text: str) -> int:
    """Tokens without a tokenizer: words and punctuation, a third more for word pieces (errs on the long side)."""
    return (len(_WORDS.findall(text)) * 4 + 2) // 3
