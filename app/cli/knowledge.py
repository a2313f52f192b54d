"""``hermes-studio knowledge …`` (collections of documents) and what ``chat --knowledge/--attach`` adds to a turn.

The embedding model is ``--embedding-model`` (a path or a library name), else the first embedding model in the
library; without one, collections are indexed and searched by their words alone (and the command says so).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.text import safe
from app.core.errors import HermesError
from app.core.paths import AppPaths
from app.core.settings import Settings

if TYPE_CHECKING:
    from app.core.knowledge.base import KnowledgeBase, Progress
    from app.core.knowledge.embedder import Embedder
    from app.core.knowledge.grounding import Grounding

NO_MODEL = (
    "note: no embedding model in the library (`hermes-studio setup --embeddings` puts one there): keyword search only"
)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    knowledge = commands.add_parser("knowledge", parents=[common], help="collections of documents to chat with")
    actions = knowledge.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", parents=[common], help="index files and folders into a collection (created if new)")
    add.add_argument("name")
    add.add_argument("paths", nargs="+", type=Path, metavar="FILE|FOLDER")
    listing = actions.add_parser("list", parents=[common], help="the collections, or one collection's files")
    listing.add_argument("name", nargs="?")
    search = actions.add_parser("search", parents=[common], help="the passages of a collection that answer a query")
    search.add_argument("name")
    search.add_argument("query", nargs="+")
    search.add_argument("--top", type=int, default=5, metavar="K")
    search.add_argument("--json", action="store_true", help="one JSON document with every hit")
    search.add_argument("--mode", choices=["hybrid", "keyword", "vector"], default="hybrid")
    remove = actions.add_parser("remove", parents=[common], help="forget a file of a collection, or the collection")
    remove.add_argument("name")
    remove.add_argument("file", nargs="?", type=Path)
    for action in (add, search):
        embedding_option(action)


def embedding_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--embedding-model", metavar="M", help="a GGUF embedding model (default: the library's)")


def add_chat_options(chat: argparse.ArgumentParser) -> None:
    chat.add_argument("--knowledge", action="append", default=[], metavar="NAME", help="answer from this collection")
    chat.add_argument(
        "--attach", action="append", default=[], type=Path, metavar="FILE", help="a document to ask about"
    )
    embedding_option(chat)


def run(args: argparse.Namespace, paths: AppPaths, settings: Settings) -> int:
    if args.action in ("list", "remove"):
        with _base(paths, None) as base:
            return _list(base, args.name) if args.action == "list" else _remove(base, args.name, args.file)
    with _embedder(args, paths, settings) as embedder, _base(paths, embedder) as base:
        if args.action == "add":
            return _add(base, args.name, args.paths)
        return _search(base, args)


def grounding_for(args: argparse.Namespace, paths: AppPaths, settings: Settings, context_size: int) -> Grounding | None:
    """What ``chat --knowledge/--attach`` adds to the question (None without either)."""
    if not args.knowledge and not args.attach:
        return None
    from app.core.knowledge.grounding import ground

    question = " ".join(args.message)
    with _embedder(args, paths, settings) as embedder:
        base_context = _base(paths, embedder) if args.knowledge else None
        with base_context or _nothing() as base:
            grounding = ground(question, base=base, collections=args.knowledge, attachments=args.attach,
                               embedder=embedder, whole_budget=max(256, context_size // 3),
                               budget=max(512, context_size // 2))  # fmt: skip
    for failure in grounding.failures:
        print(f"warning: {safe(failure)}", file=sys.stderr)
    for note in grounding.notes:
        if not note.startswith("keyword search only"):  # said already, once
            print(f"note: {safe(note)}", file=sys.stderr)
    if args.attach and len(grounding.failures) == len(args.attach) and not args.knowledge:
        raise HermesError("None of the attached documents could be read.")
    return grounding


def print_sources(grounding: Grounding | None) -> None:
    """The reply's sources on stderr, one a line: "[1] report.pdf, p. 12"."""
    if grounding is None or not grounding.sources:
        return
    print("Sources:", file=sys.stderr)
    for source in grounding.sources:
        collection = f" (collection {safe(source.collection)})" if source.collection else ""
        print(f"{safe(source.label)}{collection}", file=sys.stderr)


def _add(base: KnowledgeBase, name: str, paths: list[Path]) -> int:
    report = base.add(name, paths, progress=_show_progress)
    for outcome in report.outcomes:
        if outcome.status in ("failed", "skipped"):
            print(f"{outcome.status}: {safe(outcome.message)}", file=sys.stderr)
    counts = {status: report.count(status) for status in ("added", "updated", "unchanged", "re-embedded", "failed")}
    summary = ", ".join(f"{count} {status}" for status, count in counts.items() if count) or "nothing to add"
    chunks = sum(outcome.chunks for outcome in report.outcomes if outcome.status in ("added", "updated"))
    print(f"{safe(name)}: {summary} ({chunks} new passages)")
    return 1 if report.failed else 0


def _show_progress(progress: Progress) -> None:
    where = f"[{progress.index}/{progress.total}] {safe(progress.path.name)}"
    if progress.stage == "done":
        print(f"{where}: {progress.chunks} passages", file=sys.stderr)
    elif progress.stage == "unchanged":
        print(f"{where}: unchanged", file=sys.stderr)


def _list(base: KnowledgeBase, name: str | None) -> int:
    if name is None:
        collections = base.collections()
        if not collections:
            print("No collections yet: `hermes-studio knowledge add NAME FILE|FOLDER…` makes one.", file=sys.stderr)
        for collection in collections:
            models = ", ".join(m.split(":")[0] if m else "keywords only" for m in collection.models) or "empty"
            print(f"{safe(collection.name):<24} {collection.files:>5} files {collection.chunks:>7} passages  {models}")
        return 0
    for record in base.files(name):
        pages = f"{record.pages} pages" if record.pages else record.kind
        print(f"{record.chunks:>6} passages  {pages:<10} {safe(record.path)}")
    return 0


def _search(base: KnowledgeBase, args: argparse.Namespace) -> int:
    hits = base.search(args.name, " ".join(args.query), top=max(1, args.top), mode=args.mode)
    if args.json:
        rows = [
            {"file": hit.file, "path": hit.path, "location": hit.location, "where": hit.where, "score": hit.score,
             "keyword_rank": hit.keyword_rank, "vector_rank": hit.vector_rank, "text": hit.text}
            for hit in hits
        ]  # fmt: skip
        print(json.dumps({"collection": args.name, "query": " ".join(args.query), "hits": rows}, ensure_ascii=False))
        return 0
    if not hits:
        print("No passage matches.", file=sys.stderr)
    for number, hit in enumerate(hits, 1):
        excerpt = " ".join(hit.text.split())
        print(f"[{number}] {safe(hit.where)}\n    {safe(excerpt[:300])}")
    return 0


def _remove(base: KnowledgeBase, name: str, file: Path | None) -> int:
    count = base.remove(name, file)
    print(f"Removed {safe(str(file))} from {safe(name)}." if file else f"Removed {safe(name)} ({count} files).")
    return 0


@contextmanager
def _base(paths: AppPaths, embedder: Embedder | None) -> Iterator[KnowledgeBase]:
    from app.core.knowledge.base import KnowledgeBase

    base = KnowledgeBase(paths.knowledge_db, embedder)
    try:
        yield base
    finally:
        base.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


@contextmanager
def _embedder(args: argparse.Namespace, paths: AppPaths, settings: Settings) -> Iterator[Embedder | None]:
    from app.core.engines.llama_embedder import LlamaEmbedder, find_embedding_model
    from app.core.library.models import find_model

    folders = settings.library_folders(paths.default_models_dir)
    if getattr(args, "embedding_model", None):
        model = find_model(args.embedding_model, folders)
        if model is None:
            raise HermesError(f"No embedding model file or library model named {args.embedding_model!r}.")
    else:
        model = find_embedding_model(folders)
    if model is None:
        print(NO_MODEL, file=sys.stderr)
        yield None
        return
    embedder = LlamaEmbedder(model)
    try:
        yield embedder
    finally:
        embedder.close()
