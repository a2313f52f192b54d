"""Knowledge collections, for every face: add files and folders, search, remove; progress and cancel for a window.

``KnowledgeBase.add`` reads each file in the worker process (``worker.ReaderProcess``), chunks it by the embedding
model's tokenizer, embeds the passages, and writes the document in one transaction. A file whose size and time are
unchanged is not read again; one whose content hash is unchanged is not embedded again; one indexed by another
embedding model has its stored passages embedded again (never mixed). A file that changes or disappears while it
is read is not written (and said so); whatever was indexed before stays searchable throughout.

Everything here runs on the caller's thread (a face puts it on a worker thread); ``progress`` is called from it,
``CancelToken.cancel()`` may be called from any thread and stops the file being read at once.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.core.knowledge.blocks import Document, DocumentError, Limits
from app.core.knowledge.chunking import Chunk, ChunkSize, chunk_blocks
from app.core.knowledge.embedder import Embedder, estimate_tokens
from app.core.knowledge.index import CollectionInfo, FileRecord, KnowledgeError, KnowledgeIndex, NewFile
from app.core.knowledge.readers import NOT_A_DOCUMENT, supported
from app.core.knowledge.search import Hit, Searcher, to_blob
from app.core.knowledge.worker import Cancelled, ReaderProcess

MAX_FOLDER_FILES = 10_000
EMBED_BATCH = 64

__all__ = [
    "AddReport",
    "CancelToken",
    "CollectionInfo",
    "FileOutcome",
    "Hit",
    "KnowledgeBase",
    "KnowledgeError",
    "Progress",
]


class CancelToken:
    """Cancel an ``add`` from another thread (a window's Cancel button): the file being read is stopped at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._readers: list[ReaderProcess] = []

    def cancel(self) -> None:
        self._event.set()
        for reader in list(self._readers):
            reader.cancel()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class Progress:
    """Where an ``add`` is: file ``index`` (1-based) of ``total``, its ``stage``, passages embedded of its total."""

    path: Path
    index: int
    total: int
    stage: str  # "reading", "embedding", "writing", "done", "unchanged", "failed"
    done: int = 0
    chunks: int = 0
    message: str = ""


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    status: str  # "added", "updated", "unchanged", "re-embedded", "failed", "skipped", "cancelled", "removed"
    message: str = ""
    chunks: int = 0
    pages: int = 0


@dataclass
class AddReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    keyword_only: bool = False  # no embedding model: the passages are searchable by their words only

    def count(self, *statuses: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status in statuses)

    @property
    def failed(self) -> list[FileOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]


class KnowledgeBase:
    """The collections in one knowledge database, with an embedding model (or none: keyword search only)."""

    def __init__(
        self,
        path: Path | str,
        embedder: Embedder | None = None,
        limits: Limits | None = None,
        size: ChunkSize | None = None,
    ) -> None:
        self.index = KnowledgeIndex(path)
        self.searcher = Searcher(self.index)
        self.embedder = embedder
        self.limits = limits or Limits()
        self.size = size or _size_for(embedder)
        self._queries: dict[tuple[str, str], list[float]] = {}

    def close(self) -> None:
        self.index.close()

    @property
    def model(self) -> str:
        return self.embedder.name if self.embedder is not None else ""

    def count_tokens(self, text: str) -> int:
        return self.embedder.count_tokens(text) if self.embedder is not None else estimate_tokens(text)

    # reading
    def collections(self) -> list[CollectionInfo]:
        return self.index.collections()

    def files(self, collection: str) -> list[FileRecord]:
        return self.index.files(self.index.collection_id(collection))

    def file_states(self, collection: str) -> list[tuple[FileRecord, str]]:
        """Each file of a collection with its state as people read it: "indexed", "keywords only" (no vectors),
        "another model" (its vectors are another model's: re-index embeds it again), "changed" (on disk since it was
        indexed: re-index reads it again) or "missing" (gone from disk: re-index forgets it)."""
        states: list[tuple[FileRecord, str]] = []
        for record in self.files(collection):
            try:
                now = os.stat(record.path)
            except OSError:
                states.append((record, "missing"))
                continue
            if (now.st_size, now.st_mtime_ns) != (record.size, record.mtime_ns):
                state = "changed"
            elif not record.model:
                state = "keywords only" if self.embedder is None else "another model"
            else:
                state = "indexed" if self.embedder is None or record.model == self.model else "another model"
            states.append((record, state))
        return states

    def passage(self, chunk_id: int) -> Hit | None:
        """One stored passage (a citation's ``chunk_id``), with its file and location; None once it is gone."""
        found = self.index.passage(chunk_id)
        if found is None:
            return None
        text, location, name, path, collection = found
        return Hit(chunk_id, text, json.loads(location), name, path, collection, 0.0)

    def search(self, collections: str | Sequence[str], query: str, top: int = 5, mode: str = "hybrid") -> list[Hit]:
        """The passages that answer ``query`` best, from one collection or several."""
        names = [collections] if isinstance(collections, str) else list(collections)
        ids = [self.index.collection_id(name) for name in names]
        if not query.strip():
            return []
        vector = self._query_vector(query) if self.embedder is not None and mode != "keyword" else None
        return self.searcher.search(ids, query, vector, self.model, top=top, mode=mode)

    def _query_vector(self, query: str) -> list[float]:
        """A question's embedding (the last few are kept: a window searches again as the user edits)."""
        assert self.embedder is not None
        key = (self.model, query)
        if key not in self._queries:
            self._queries[key] = self.embedder.embed([query])[0]
            while len(self._queries) > 64:
                self._queries.pop(next(iter(self._queries)))
        return self._queries[key]

    # writing
    def add(
        self,
        collection: str,
        paths: Iterable[Path],
        progress: Callable[[Progress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> AddReport:
        """Files and folders (their supported files, recursively) into ``collection`` (created if new)."""
        with self.index.transaction():
            collection_id = self.index.collection_id(collection, create=True)
        files, report = _expand(paths)
        report.keyword_only = self.embedder is None
        report_progress = progress or (lambda _p: None)
        token = cancel or CancelToken()
        with ReaderProcess(self.limits) as reader:
            token._readers.append(reader)
            try:
                for number, path in enumerate(files, 1):
                    if token.cancelled:
                        report.outcomes.append(FileOutcome(path, "cancelled", "not read: cancelled"))
                        continue
                    outcome = self._add_one(
                        collection_id,
                        path=path,
                        reader=reader,
                        token=token,
                        number=number,
                        total=len(files),
                        progress=report_progress,
                    )
                    report.outcomes.append(outcome)
                    stage = outcome.status if outcome.status in ("unchanged", "failed") else "done"
                    report_progress(Progress(path, number, len(files), stage, outcome.chunks, outcome.chunks,
                                             outcome.message))  # fmt: skip
            finally:
                token._readers.remove(reader)
        return report

    def create(self, collection: str) -> None:
        """An empty collection (a name already taken is an error: the window asks for another)."""
        if any(info.name == collection.strip() for info in self.collections()):
            raise KnowledgeError(f"There is already a collection named {collection.strip()!r}.")
        with self.index.transaction():
            self.index.collection_id(collection.strip(), create=True)

    def rename(self, collection: str, new_name: str) -> None:
        self.index.rename_collection(self.index.collection_id(collection), new_name)

    def reindex(
        self,
        collection: str,
        progress: Callable[[Progress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> AddReport:
        """The collection's files again: a changed file is read again (embedded again only if its content hash
        changed), a file indexed by another embedding model is embedded again, a file gone from disk is forgotten
        (its outcome "removed"); the rest is left as it is."""
        records = self.files(collection)
        gone = [record for record in records if not Path(record.path).is_file()]
        for record in gone:
            self.index.remove_file(self.index.collection_id(collection), record.path)
        present = [Path(record.path) for record in records if record not in gone]
        report = (
            self.add(collection, present, progress, cancel) if present else AddReport(keyword_only=not self.embedder)
        )
        removed = [FileOutcome(Path(r.path), "removed", f"{r.name} is no longer on disk: forgotten") for r in gone]
        report.outcomes[:0] = removed
        return report

    def remove(self, collection: str, path: Path | None = None) -> int:
        """Forget one file of a collection (its path as added), or the whole collection; returns files forgotten."""
        collection_id = self.index.collection_id(collection)
        if path is None:
            count = len(self.index.files(collection_id))
            self.index.delete_collection(collection_id)
            return count
        for candidate in dict.fromkeys((str(path.expanduser().resolve()), str(path))):
            if self.index.remove_file(collection_id, candidate):
                return 1
        matches = [f for f in self.index.files(collection_id) if f.name == path.name]
        if len(matches) == 1:
            return int(self.index.remove_file(collection_id, matches[0].path))
        raise KnowledgeError(f"{path} is not in the collection {collection!r}.")

    def _add_one(
        self,
        collection_id: int,
        *,
        path: Path,
        reader: ReaderProcess,
        token: CancelToken,
        number: int,
        total: int,
        progress: Callable[[Progress], None],
    ) -> FileOutcome:
        key = str(path)
        try:
            before = os.stat(path)
        except OSError as exc:
            return FileOutcome(path, "failed", f"{path.name} cannot be read: {exc.strerror or exc}.")
        known = self.index.file(collection_id, key)
        if known is not None and (known.size, known.mtime_ns) == (before.st_size, before.st_mtime_ns):
            if known.model == self.model or self.embedder is None:
                return FileOutcome(path, "unchanged", "", known.chunks, known.pages)
            return self._reembed(collection_id, known, path, token)
        progress(Progress(path, number, total, "reading"))
        try:
            document = reader.read(path)
        except Cancelled:
            return FileOutcome(path, "cancelled", "cancelled while it was read")
        except DocumentError as exc:
            return FileOutcome(path, "failed", str(exc))
        if known is not None and known.sha256 == document.sha256 and (known.model == self.model or not self.embedder):
            self.index.touch_file(known.id, before.st_mtime_ns)
            return FileOutcome(path, "unchanged", "", known.chunks, known.pages)
        chunks = chunk_blocks(document.blocks, document.kind, self.count_tokens, self.size)
        try:
            vectors = self._embed([c.text for c in chunks], token, lambda done: progress(
                Progress(path, number, total, "embedding", done, len(chunks))))  # fmt: skip
        except Cancelled:
            return FileOutcome(path, "cancelled", "cancelled while it was embedded")
        changed = _changed_since(path, before)
        if changed:
            return FileOutcome(path, "failed", f"{path.name} {changed} while it was being indexed; add it again.")
        progress(Progress(path, number, total, "writing", len(chunks), len(chunks)))
        new = _new_file(key, path, mtime_ns=before.st_mtime_ns, document=document, chunks=chunks, vectors=vectors,
                        model=self.model)  # fmt: skip
        self.index.write_file(collection_id, new)
        notes = "; ".join(document.notes)
        return FileOutcome(path, "updated" if known else "added", notes, len(chunks), document.pages)

    def _reembed(self, collection_id: int, known: FileRecord, path: Path, token: CancelToken) -> FileOutcome:
        """A file indexed by another embedding model: its stored passages embedded again by this one."""
        stored = self.index.chunk_texts(known.id)
        try:
            vectors = self._embed([text for _id, text in stored], token, lambda _done: None)
        except Cancelled:
            return FileOutcome(path, "cancelled", "cancelled while it was embedded")
        assert vectors is not None
        pairs = [(chunk_id, blob) for (chunk_id, _text), blob in zip(stored, vectors, strict=True)]
        self.index.replace_vectors(collection_id, known.id, self.model, pairs)
        return FileOutcome(path, "re-embedded", f"embedded again by {self.model}", known.chunks, known.pages)

    def _embed(self, texts: list[str], token: CancelToken, done: Callable[[int], None]) -> list[bytes] | None:
        if self.embedder is None:
            return None
        blobs: list[bytes] = []
        for start in range(0, len(texts), EMBED_BATCH):
            if token.cancelled:
                raise Cancelled("Cancelled.")
            blobs.extend(to_blob(vector) for vector in self.embedder.embed(texts[start : start + EMBED_BATCH]))
            done(len(blobs))
        return blobs


def _size_for(embedder: Embedder | None) -> ChunkSize:
    if embedder is None:
        return ChunkSize()
    longest = max(64, min(embedder.max_tokens - 8, 256))  # MiniLM reads 256 word pieces; longer models still get 256
    return ChunkSize(max_tokens=longest * 4 // 5, overlap=longest // 6)


def _expand(paths: Iterable[Path]) -> tuple[list[Path], AddReport]:
    """Files named, and the supported files in folders named (hidden ones and symbolic links to folders skipped)."""
    report = AddReport()
    found: dict[Path, None] = {}
    for given in paths:
        path = given.expanduser()
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    child = Path(root, name).resolve()
                    if not name.startswith(".") and supported(child):
                        found[child] = None
                if len(found) > MAX_FOLDER_FILES:
                    raise KnowledgeError(
                        f"{path} holds more than {MAX_FOLDER_FILES:,} documents; add its folders one by one."
                    )
        elif not path.exists():
            report.outcomes.append(FileOutcome(path, "failed", f"{path} does not exist."))
        elif not supported(path):
            why = f"{path.name}: {NOT_A_DOCUMENT}"
            report.outcomes.append(FileOutcome(path, "skipped", why))
        else:
            found[path.resolve()] = None
    return list(found), report


def _changed_since(path: Path, before: os.stat_result) -> str:
    try:
        after = os.stat(path)
    except OSError:
        return "was deleted"
    return "" if (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns) else "changed"


def _new_file(
    key: str,
    path: Path,
    *,
    mtime_ns: int,
    document: Document,
    chunks: list[Chunk],
    vectors: list[bytes] | None,
    model: str,
) -> NewFile:
    return NewFile(key, path.name, document.kind, document.sha256, document.size, mtime_ns, document.pages,
                   "; ".join(document.notes), chunks, vectors, model)  # fmt: skip
