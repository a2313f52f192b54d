"""A question grounded in documents: attached files and knowledge collections become numbered sources in the prompt.

``ground()`` gathers the sources for one question: an attached file short enough goes in whole; a longer one is
indexed in memory (read in the worker, chunked, embedded) and its most relevant passages go in; collections are
searched (hybrid). ``Grounding.prompt(question)`` is the user message the model reads (sources first, each with its
number, then the question); the history keeps the question as typed, ``Grounding.documents`` on it and
``Grounding.citations`` on the reply (``ChatSession.send(..., grounding=...)`` does both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.core.knowledge.base import CancelToken, KnowledgeBase, Progress
from app.core.knowledge.blocks import DocumentError, Limits, location_label
from app.core.knowledge.embedder import Embedder, estimate_tokens
from app.core.knowledge.search import Hit
from app.core.knowledge.worker import ReaderProcess
from app.core.prompting.parts import CitationPart, DocumentPart

INSTRUCTION = (
    "Answer the question from the sources below. Cite each source you use by its number in square brackets, "
    "like [1]. If the sources do not hold the answer, say so."
)
EXCERPT = 160  # characters of a passage kept with its citation


@dataclass(frozen=True)
class Source:
    index: int
    file: str
    location: str  # "p. 12", "lines 3–20", "" for a whole file
    text: str
    path: str = ""
    collection: str = ""
    chunk_id: int = 0

    @property
    def label(self) -> str:
        return f"[{self.index}] {self.file}" + (f", {self.location}" if self.location else "")


@dataclass(frozen=True)
class Grounding:
    sources: tuple[Source, ...] = ()
    documents: tuple[DocumentPart, ...] = ()
    notes: tuple[str, ...] = ()  # "keyword search only: no embedding model", "notes.pdf: no text layer"
    failures: tuple[str, ...] = field(default_factory=tuple)  # attachments that could not be read

    def prompt(self, question: str) -> str:
        if not self.sources:
            return question
        blocks = "\n\n".join(f"{source.label}\n{source.text.strip()}" for source in self.sources)
        return f"{INSTRUCTION}\n\n{blocks}\n\nQuestion: {question}"

    def citations(self) -> tuple[CitationPart, ...]:
        return tuple(
            CitationPart(s.index, s.file, s.location, s.path, s.collection, s.chunk_id, _excerpt(s.text))
            for s in self.sources
        )


def ground(
    question: str,
    *,
    base: KnowledgeBase | None = None,
    collections: Sequence[str] = (),
    attachments: Sequence[Path] = (),
    embedder: Embedder | None = None,
    whole_budget: int = 1500,
    budget: int = 3000,
    top: int = 4,
    limits: Limits | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> Grounding:
    """The sources for ``question``: attachments (whole when they fit ``whole_budget`` tokens, else their best
    passages) and the ``top`` passages of ``collections`` in ``base``, all of them within ``budget`` tokens (what
    does not fit is left out, and said in ``notes``). Unreadable attachments are reported in ``failures``; the rest
    still ground the answer."""
    sources: list[Source] = []
    documents: list[DocumentPart] = []
    notes: list[str] = []
    failures: list[str] = []
    count = embedder.count_tokens if embedder is not None else None
    long_files: list[Path] = []
    if attachments:
        with ReaderProcess(limits) as reader:
            for path in attachments:
                try:
                    document = reader.read(path)
                except DocumentError as exc:
                    failures.append(str(exc))
                    continue
                text = "\n\n".join(block.text for block in document.blocks)
                tokens = count(text) if count is not None else estimate_tokens(text)
                resolved = str(path.resolve())
                if tokens <= whole_budget:
                    sources.append(Source(len(sources) + 1, path.name, "", text, resolved))
                    documents.append(DocumentPart(path.name, resolved, mode="whole", pages=document.pages,
                                                  sha256=document.sha256))  # fmt: skip
                else:
                    long_files.append(path)
                    documents.append(DocumentPart(path.name, resolved, mode="retrieved", pages=document.pages,
                                                  sha256=document.sha256))  # fmt: skip
    if long_files:
        scratch = KnowledgeBase(":memory:", embedder, limits)
        try:
            report = scratch.add("attachments", long_files, progress, cancel)
            failures.extend(outcome.message for outcome in report.failed)
            hits = scratch.search("attachments", question, top=top)
            first = len(sources) + 1
            sources.extend(_from_hit(first + n, hit, "") for n, hit in enumerate(hits))
        finally:
            scratch.close()
    if base is not None and collections:
        attached = {source.path for source in sources if not source.location}  # whole files already in the prompt
        hits = [hit for hit in base.search(list(collections), question, top=top) if hit.path not in attached]
        for name in collections:
            documents.append(DocumentPart(name, collection=name, mode="collection"))
        first = len(sources) + 1
        sources.extend(_from_hit(first + n, hit, hit.collection) for n, hit in enumerate(hits))
    if (long_files or collections) and embedder is None:
        notes.append("keyword search only: no embedding model")
    kept: list[Source] = []
    used = 0
    for source in sources:
        tokens = count(source.text) if count is not None else estimate_tokens(source.text)
        if used + tokens > budget:
            notes.append(f"{source.label} left out: the sources would not fit the context")
            continue
        used += tokens
        kept.append(Source(len(kept) + 1, source.file, source.location, source.text, source.path, source.collection,
                           source.chunk_id))  # fmt: skip
    return Grounding(tuple(kept), tuple(documents), tuple(notes), tuple(failures))


def _from_hit(index: int, hit: Hit, collection: str) -> Source:
    """A passage found in a collection (its chunk id kept: a face can open it) or in an attachment (no index kept)."""
    chunk_id = hit.chunk_id if collection else 0
    return Source(index, hit.file, location_label(hit.location), hit.text, hit.path, collection, chunk_id)


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1].rstrip() + "…"
