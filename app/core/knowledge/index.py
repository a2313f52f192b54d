"""The knowledge index: collections, their files and passages in one SQLite database in the app's data folder.

- ``files`` keeps each file's content hash (an unchanged file is never read or embedded again) and the name of the
  embedding model its vectors came from (another model re-embeds the stored passages; vectors never mix).
- ``chunks`` holds the passages with their locations; ``chunk_text`` (FTS5) indexes their words for BM25;
  ``vectors`` their embeddings, as float32 blobs tagged with the model's name (``search.py`` reads both).
- One document is written in one transaction (``BEGIN IMMEDIATE``): its old passages out, the new ones, their
  words and vectors in. A process killed half way leaves the file as it was before; nothing half-indexed is ever
  searched. WAL and a busy timeout let two processes index the same collection at once: their writes take turns.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import HermesError
from app.core.knowledge.chunking import Chunk

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 60.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0  -- bumped by every write: search caches key on it
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    path TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, pages INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0, notes TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '',
    indexed_at REAL NOT NULL,
    UNIQUE (collection_id, path)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL, text TEXT NOT NULL, location TEXT NOT NULL, tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
CREATE TABLE IF NOT EXISTS vectors (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    model TEXT NOT NULL, vector BLOB NOT NULL
);
"""
FTS_SCHEMA = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunk_text USING fts5(text, tokenize='unicode61 remove_diacritics 2');"
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunk_terms USING fts5vocab(chunk_text, row);"  # passages per word
)


class KnowledgeError(HermesError):
    """A collection that does not exist, a database that cannot be written: said for people."""


@dataclass(frozen=True)
class CollectionInfo:
    id: int
    name: str
    files: int
    chunks: int
    models: tuple[str, ...]  # the embedding models of its vectors ('' for files indexed for keywords only)


@dataclass(frozen=True)
class FileRecord:
    id: int
    path: str
    name: str
    kind: str
    sha256: str
    size: int
    mtime_ns: int
    pages: int
    chunks: int
    model: str
    notes: str


@dataclass(frozen=True)
class NewFile:
    """A document ready to be written: its facts, passages and (if a model embedded them) their vectors."""

    path: str
    name: str
    kind: str
    sha256: str
    size: int
    mtime_ns: int
    pages: int
    notes: str
    chunks: Sequence[Chunk]
    vectors: Sequence[bytes] | None  # float32 blobs, one per chunk; None: keyword search only
    model: str = ""


class KnowledgeIndex:
    """One open knowledge database (one connection: use it from one thread)."""

    def __init__(self, path: Path | str, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA synchronous=NORMAL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise KnowledgeError(f"{path} was written by a newer Hermes Studio (schema {version}); update the app.")
            self.db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        except sqlite3.DatabaseError as exc:
            raise KnowledgeError(f"The knowledge database {path} cannot be opened ({exc}).") from exc
        try:
            self.db.executescript(FTS_SCHEMA)
            self.has_fts = True
        except sqlite3.OperationalError:  # an SQLite without FTS5: keyword search scans with LIKE
            self.has_fts = False

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise KnowledgeError(f"The knowledge database is busy or cannot be written ({exc}).") from exc
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # collections
    def collection_id(self, name: str, create: bool = False) -> int:
        row = self.db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row[0])
        if not create:
            known = ", ".join(c.name for c in self.collections()) or "none yet"
            raise KnowledgeError(f"There is no collection named {name!r} (collections: {known}).")
        if not name.strip() or len(name) > 200:
            raise KnowledgeError("A collection needs a name (at most 200 characters).")
        self.db.execute("INSERT OR IGNORE INTO collections (name, created_at) VALUES (?, ?)", (name, time.time()))
        return self.collection_id(name)

    def collections(self) -> list[CollectionInfo]:
        rows = self.db.execute(
            "SELECT c.id, c.name, count(f.id), coalesce(sum(f.chunks), 0), group_concat(DISTINCT f.model) "
            "FROM collections c LEFT JOIN files f ON f.collection_id = c.id GROUP BY c.id ORDER BY c.name"
        )
        return [CollectionInfo(r[0], r[1], r[2], r[3], tuple(sorted(set((r[4] or "").split(","))))) for r in rows]

    def generation(self, collection_ids: Sequence[int]) -> tuple[int, ...]:
        marks = ",".join("?" * len(collection_ids))
        rows = self.db.execute(f"SELECT generation FROM collections WHERE id IN ({marks}) ORDER BY id", collection_ids)
        return tuple(row[0] for row in rows)

    def rename_collection(self, collection_id: int, name: str) -> None:
        name = name.strip()
        if not name or len(name) > 200:
            raise KnowledgeError("A collection needs a name (at most 200 characters).")
        with self.transaction() as db:
            taken = db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
            if taken is not None and taken[0] != collection_id:
                raise KnowledgeError(f"There is already a collection named {name!r}.")
            db.execute("UPDATE collections SET name = ? WHERE id = ?", (name, collection_id))

    def passage(self, chunk_id: int) -> tuple[str, str, str, str, str] | None:
        """A passage's text, its location (JSON), its file's name and path, its collection's name."""
        row = self.db.execute(
            "SELECT c.text, c.location, f.name, f.path, k.name FROM chunks c JOIN files f ON f.id = c.file_id "
            "JOIN collections k ON k.id = f.collection_id WHERE c.id = ?",
            (chunk_id,),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3], row[4])

    def delete_collection(self, collection_id: int) -> None:
        with self.transaction() as db:
            self._delete_chunks(db, "SELECT id FROM files WHERE collection_id = ?", (collection_id,))
            db.execute("DELETE FROM files WHERE collection_id = ?", (collection_id,))
            db.execute("DELETE FROM collections WHERE id = ?", (collection_id,))

    # files
    def files(self, collection_id: int) -> list[FileRecord]:
        rows = self.db.execute(
            "SELECT id, path, name, kind, sha256, size, mtime_ns, pages, chunks, model, notes FROM files "
            "WHERE collection_id = ? ORDER BY path",
            (collection_id,),
        )
        return [FileRecord(*row) for row in rows]

    def file(self, collection_id: int, path: str) -> FileRecord | None:
        return next((f for f in self.files(collection_id) if f.path == path), None)

    def write_file(self, collection_id: int, new: NewFile) -> None:
        """The document's passages replace its old ones, all in one transaction."""
        if new.vectors is not None and len(new.vectors) != len(new.chunks):
            raise ValueError("one vector per passage")
        with self.transaction() as db:
            old = db.execute("SELECT id FROM files WHERE collection_id = ? AND path = ?", (collection_id, new.path))
            old_id = old.fetchone()
            if old_id is not None:
                self._delete_chunks(db, "SELECT ?", (old_id[0],))
                db.execute("DELETE FROM files WHERE id = ?", (old_id[0],))
            cursor = db.execute(
                "INSERT INTO files (collection_id, path, name, kind, sha256, size, mtime_ns, pages, chunks, notes, "
                "model, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (collection_id, new.path, new.name, new.kind, new.sha256, new.size, new.mtime_ns, new.pages,
                 len(new.chunks), new.notes, new.model if new.vectors is not None else "", time.time()),
            )  # fmt: skip
            file_id = int(cursor.lastrowid or 0)
            for order, chunk in enumerate(new.chunks):
                cursor = db.execute(
                    "INSERT INTO chunks (file_id, ord, text, location, tokens) VALUES (?, ?, ?, ?, ?)",
                    (file_id, order, chunk.text, json.dumps(chunk.location, ensure_ascii=False), chunk.tokens),
                )
                chunk_id = int(cursor.lastrowid or 0)
                if self.has_fts:
                    db.execute("INSERT INTO chunk_text (rowid, text) VALUES (?, ?)", (chunk_id, chunk.text))
                if new.vectors is not None:
                    db.execute(
                        "INSERT INTO vectors (chunk_id, model, vector) VALUES (?, ?, ?)",
                        (chunk_id, new.model, new.vectors[order]),
                    )
            self._bump(db, collection_id)

    def chunk_texts(self, file_id: int) -> list[tuple[int, str]]:
        return [
            (r[0], r[1])
            for r in self.db.execute("SELECT id, text FROM chunks WHERE file_id = ? ORDER BY ord", (file_id,))
        ]

    def replace_vectors(
        self, collection_id: int, file_id: int, model: str, vectors: Sequence[tuple[int, bytes]]
    ) -> None:
        """A file's passages embedded again by another model: its old vectors out, the new in, in one transaction."""
        with self.transaction() as db:
            db.execute("DELETE FROM vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE file_id = ?)", (file_id,))
            db.executemany("INSERT INTO vectors (chunk_id, model, vector) VALUES (?, ?, ?)",
                           [(chunk_id, model, blob) for chunk_id, blob in vectors])  # fmt: skip
            db.execute("UPDATE files SET model = ? WHERE id = ?", (model, file_id))
            self._bump(db, collection_id)

    def touch_file(self, file_id: int, mtime_ns: int) -> None:
        self.db.execute("UPDATE files SET mtime_ns = ? WHERE id = ?", (mtime_ns, file_id))

    def remove_file(self, collection_id: int, path: str) -> bool:
        with self.transaction() as db:
            row = db.execute("SELECT id FROM files WHERE collection_id = ? AND path = ?", (collection_id, path))
            found = row.fetchone()
            if found is None:
                return False
            self._delete_chunks(db, "SELECT ?", (found[0],))
            db.execute("DELETE FROM files WHERE id = ?", (found[0],))
            self._bump(db, collection_id)
        return True

    def _delete_chunks(self, db: sqlite3.Connection, files_sql: str, parameters: tuple[Any, ...]) -> None:
        doomed = f"SELECT id FROM chunks WHERE file_id IN ({files_sql})"
        if self.has_fts:
            db.execute(f"DELETE FROM chunk_text WHERE rowid IN ({doomed})", parameters)
        db.execute(f"DELETE FROM vectors WHERE chunk_id IN ({doomed})", parameters)
        db.execute(f"DELETE FROM chunks WHERE file_id IN ({files_sql})", parameters)

    @staticmethod
    def _bump(db: sqlite3.Connection, collection_id: int) -> None:
        db.execute("UPDATE collections SET generation = generation + 1 WHERE id = ?", (collection_id,))
