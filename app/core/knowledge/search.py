"""Searching a knowledge index: BM25 over the passages' words (FTS5), nearest vectors, and both merged by
reciprocal-rank fusion (each list's rank r adds 1 / (60 + r): GPT4All's LocalDocs design, no scores to calibrate).

Vectors are compared with ``sqlite-vec`` (``vec_distance_cosine`` in SQLite) where this Python's SQLite accepts
extensions; where it refuses ``load_extension`` (some Python builds are compiled without it) the same float32 blobs
are compared with numpy, from a matrix kept in memory per collection and model until the collection changes. Only
vectors of the query's model are compared; with no model, search is by keywords alone.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.knowledge.blocks import location_label
from app.core.knowledge.index import KnowledgeIndex

log = logging.getLogger(__name__)

RRF_K = 60
CANDIDATES = 50  # from each list, before fusion
OVERFETCH = 4  # keyword candidates ranked before the collection filter: CANDIDATES × this
RANKED_SQL = "SELECT rowid FROM chunk_text WHERE chunk_text MATCH ? ORDER BY rank LIMIT ?"
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "did",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    text: str
    location: dict[str, Any]
    file: str  # the file's name
    path: str
    collection: str
    score: float
    keyword_rank: int = 0  # 1-based rank in each list (0: not in it)
    vector_rank: int = 0

    @property
    def where(self) -> str:
        """ "report.pdf, p. 12" """
        label = location_label(self.location)
        return f"{self.file}, {label}" if label else self.file


def to_blob(vector: Sequence[float]) -> bytes:
    """A vector as stored: float32, unit length (so a dot product is the cosine)."""
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return (array / norm if norm > 0 else array).astype("<f4").tobytes()


def query_words(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1] or _WORD.findall(text.lower())
    return list(dict.fromkeys(words))


def snippet(text: str, query: str, width: int = 240) -> str:
    """The part of a passage around the first of the question's rarer words it holds (its start when none)."""
    flat = " ".join(text.split())
    lower = flat.lower()
    words = sorted({w for w in query_words(query) if len(w) > 3}, key=len, reverse=True)
    found = [at for at in (lower.find(w) for w in words) if at >= 0]
    start = max(0, min(found) - width // 3) if found else 0
    if start:
        start = flat.find(" ", start) + 1 or start
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")


def fts_query(words: Sequence[str]) -> str:
    """Words as an FTS5 query: each quoted (no syntax reaches FTS5), any of them may match."""
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)


@dataclass
class _Matrix:
    key: tuple[Any, ...]
    ids: np.ndarray[Any, Any]
    vectors: np.ndarray[Any, Any]


@dataclass
class Searcher:
    """Search over one ``KnowledgeIndex`` (its connection's thread)."""

    index: KnowledgeIndex
    _sqlite_vec: bool | None = None
    _matrix: _Matrix | None = field(default=None, repr=False)
    rank_in_fts: bool = True  # False: BM25 over the joined rows, as before (bench/documents.py's baseline)

    @property
    def vector_engine(self) -> str:
        return "sqlite-vec" if self._load_sqlite_vec() else "numpy (this SQLite refuses extensions)"

    def search(
        self,
        collection_ids: Sequence[int],
        query: str,
        query_vector: Sequence[float] | None,
        model: str,
        *,
        top: int = 5,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """The ``top`` passages for ``query``: ``mode`` "hybrid" (RRF of both lists), "keyword" or "vector"."""
        if not collection_ids:
            return []
        informative = self._informative(query_words(query))  # once per search: the keywords and the filter
        keyword = self.keyword(collection_ids, query, words=informative) if mode in ("hybrid", "keyword") else []
        vector: list[int] = []
        if mode in ("hybrid", "vector") and query_vector is not None and model:
            vector = self.nearest(collection_ids, query_vector, model)
        if vector and keyword:
            keyword = self._covering(keyword, informative, 2)
        scores: dict[int, float] = {}
        for ranked in (keyword, vector):
            for rank, chunk_id in enumerate(ranked, 1):
                scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
        best = sorted(scores, key=lambda chunk_id: -scores[chunk_id])[:top]
        ranks = ({c: r for r, c in enumerate(keyword, 1)}, {c: r for r, c in enumerate(vector, 1)})
        return self._hits(best, scores, ranks)

    def keyword(
        self, collection_ids: Sequence[int], query: str, limit: int = CANDIDATES, words: Sequence[str] | None = None
    ) -> list[int]:
        marks = ",".join("?" * len(collection_ids))
        match = fts_query(self._informative(query_words(query)) if words is None else words)
        if not match:
            return []
        if self.index.has_fts:
            ranked = self._ranked(match, collection_ids, limit) if self.rank_in_fts else None
            if ranked is not None:
                return ranked
            rows = self.index.db.execute(
                f"SELECT c.id FROM chunk_text JOIN chunks c ON c.id = chunk_text.rowid "
                f"JOIN files f ON f.id = c.file_id WHERE chunk_text MATCH ? AND f.collection_id IN ({marks}) "
                "ORDER BY bm25(chunk_text) LIMIT ?",
                (match, *collection_ids, limit),
            )
            return [row[0] for row in rows]
        words = query_words(query)[:8]
        like = " + ".join("(c.text LIKE ?)" for _ in words)
        rows = self.index.db.execute(
            f"SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.collection_id IN ({marks}) "
            f"AND ({like}) > 0 ORDER BY ({like}) DESC LIMIT ?",
            (*collection_ids, *[f"%{w}%" for w in words], *[f"%{w}%" for w in words], limit),
        )
        return [row[0] for row in rows]

    def _ranked(self, match: str, collection_ids: Sequence[int], limit: int) -> list[int] | None:
        """BM25's best passages from FTS5's own ``ORDER BY rank LIMIT`` (no join inside the ranking: half the CPU
        of ranking the joined rows, measured in bench/documents.py), then those of the collections asked; None
        when other collections' passages filled the over-fetch so that the asked ones may be missing (the caller
        then ranks the joined rows)."""
        fetch = limit * OVERFETCH
        found = [row[0] for row in self.index.db.execute(RANKED_SQL, (match, fetch))]
        marks = ",".join("?" * len(collection_ids))
        if len(found) == 0:
            return []
        if self._all_collections(collection_ids):
            return found[:limit]
        inside = {
            row[0]
            for row in self.index.db.execute(
                f"SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN "
                f"({','.join('?' * len(found))}) AND f.collection_id IN ({marks})",
                (*found, *collection_ids),
            )
        }
        kept = [chunk_id for chunk_id in found if chunk_id in inside][:limit]
        return kept if len(kept) == limit or len(found) < fetch else None

    def _all_collections(self, collection_ids: Sequence[int]) -> bool:
        """The search covers every collection there is (the common case: then no passage needs filtering)."""
        return bool(self.index.db.execute("SELECT count(*) FROM collections").fetchone()[0] <= len(set(collection_ids)))

    def _informative(self, words: list[str]) -> list[str]:
        """The words that tell passages apart: one found in more than half of them (the island of a book about an
        island) ranks nothing, only adds noise to the fusion; all words when every one is that common."""
        if not self.index.has_fts or len(words) < 2:
            return words
        total = self.index.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        if total < 4:
            return words
        marks = ",".join("?" * len(words))
        counts = dict(self.index.db.execute(f"SELECT term, doc FROM chunk_terms WHERE term IN ({marks})", words))
        kept = [word for word in words if counts.get(word, 0) * 2 <= total]
        return kept or words

    def _covering(self, chunk_ids: list[int], words: list[str], least: int) -> list[int]:
        """Beside vectors, only the keyword hits that hold ``least`` of the question's informative words: a passage
        that shares one common word with a paraphrased question is noise the fusion would rank above the passage
        the vectors found (measured on tests/knowledge_corpus.py: paraphrase hit@3 0.67 → 1.0, keywords kept 1.0)."""
        need = min(least, len(words))
        if need <= 1:
            return chunk_ids  # every keyword hit holds one of the words
        marks = ",".join("?" * len(chunk_ids))
        rows = self.index.db.execute(f"SELECT id, text FROM chunks WHERE id IN ({marks})", chunk_ids)
        # only the question's words are looked for (one pass of one pattern), not every word of each passage
        wanted = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)", re.IGNORECASE)
        held = {row[0]: len({found.lower() for found in wanted.findall(row[1])}) for row in rows}
        return [c for c in chunk_ids if held.get(c, 0) >= need]

    def nearest(
        self, collection_ids: Sequence[int], query_vector: Sequence[float], model: str, limit: int = CANDIDATES
    ) -> list[int]:
        marks = ",".join("?" * len(collection_ids))
        blob = to_blob(query_vector)
        if self._load_sqlite_vec():
            rows = self.index.db.execute(
                f"SELECT v.chunk_id FROM vectors v JOIN chunks c ON c.id = v.chunk_id JOIN files f ON f.id = c.file_id "
                f"WHERE v.model = ? AND f.collection_id IN ({marks}) AND length(v.vector) = ? "
                f"ORDER BY vec_distance_cosine(v.vector, ?) LIMIT ?",
                (model, *collection_ids, len(blob), blob, limit),
            )
            return [row[0] for row in rows]
        matrix = self._vectors(collection_ids, model, len(blob) // 4)
        if matrix.ids.size == 0:
            return []
        # einsum, not BLAS: a matrix-vector product this small is done in 1 ms on one core, while BLAS's threads
        # wait for each other on a busy machine (32 ms measured for 10,000 × 384 with other work running)
        scores = np.einsum("ij,j->i", matrix.vectors, np.frombuffer(blob, dtype="<f4"))
        count = min(limit, scores.size)
        best = np.argpartition(-scores, count - 1)[:count]
        return [int(matrix.ids[i]) for i in best[np.argsort(-scores[best])]]

    def _vectors(self, collection_ids: Sequence[int], model: str, dimensions: int) -> _Matrix:
        key = (tuple(collection_ids), model, dimensions, self.index.generation(collection_ids))
        if self._matrix is not None and self._matrix.key == key:
            return self._matrix
        marks = ",".join("?" * len(collection_ids))
        rows = self.index.db.execute(
            f"SELECT v.chunk_id, v.vector FROM vectors v JOIN chunks c ON c.id = v.chunk_id "
            f"JOIN files f ON f.id = c.file_id WHERE v.model = ? AND f.collection_id IN ({marks}) "
            f"AND length(v.vector) = ?",
            (model, *collection_ids, dimensions * 4),
        ).fetchall()
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype="<f4").reshape(len(rows), dimensions)
        self._matrix = _Matrix(key, ids, vectors)
        return self._matrix

    def _hits(
        self, chunk_ids: list[int], scores: dict[int, float], ranks: tuple[dict[int, int], dict[int, int]]
    ) -> list[Hit]:
        if not chunk_ids:
            return []
        marks = ",".join("?" * len(chunk_ids))
        rows = self.index.db.execute(
            f"SELECT c.id, c.text, c.location, f.name, f.path, k.name FROM chunks c JOIN files f ON f.id = c.file_id "
            f"JOIN collections k ON k.id = f.collection_id WHERE c.id IN ({marks})",
            chunk_ids,
        )
        found = {row[0]: row for row in rows}
        return [
            Hit(c, found[c][1], json.loads(found[c][2]), found[c][3], found[c][4], found[c][5], scores[c],
                ranks[0].get(c, 0), ranks[1].get(c, 0))
            for c in chunk_ids if c in found
        ]  # fmt: skip

    def _load_sqlite_vec(self) -> bool:
        if self._sqlite_vec is None:
            self._sqlite_vec = load_sqlite_vec(self.index.db)
        return self._sqlite_vec


def load_sqlite_vec(db: sqlite3.Connection) -> bool:
    """Load sqlite-vec into ``db``; False (and why, in the log) where this SQLite refuses extensions."""
    if not hasattr(db, "enable_load_extension"):
        log.info("this Python's SQLite cannot load extensions: vectors are compared with numpy")
        return False
    try:
        import sqlite_vec

        db.enable_load_extension(True)
        try:
            sqlite_vec.load(db)
        finally:
            db.enable_load_extension(False)
    except (ImportError, sqlite3.Error, AttributeError, OSError) as exc:
        log.info("sqlite-vec could not be loaded (%s): vectors are compared with numpy", exc)
        return False
    return True
