"""A chat request that answers from knowledge collections: the ``hermes`` extension field.

OpenAI's API has no field for this, so the request names its collections in an object of the app's own, which the
official clients send through ``extra_body``::

    {"model": "…", "messages": […], "hermes": {"knowledge": "handbook", "top": 4}}

``knowledge`` is a collection's name or a list of names (``hermes-studio knowledge list``), ``top`` the passages
wanted (1–20, default 4). The last user message is grounded exactly as the window and ``chat --knowledge`` ground a
question (``knowledge.grounding.ground``: hybrid search with the embedding slot's model when ``serve
--embedding-model`` loaded one, else by keyword): the model reads the numbered sources, then the question. The reply
carries them in ``hermes.sources`` (a non-streamed body; a stream's first chunk), each ``{index, file, location,
collection, chunk_id, excerpt}``. A collection that does not exist is a 404 (``knowledge_not_found``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.engines.service import EngineService
from app.core.knowledge.grounding import Grounding
from app.core.prompting.prompt_formats import ChatMessage
from app.server.errors import ApiError, bad_request

FIELD = "hermes"
MAX_COLLECTIONS = 16
MAX_TOP = 20
DEFAULT_TOP = 4


@dataclass(frozen=True)
class KnowledgeAsk:
    collections: tuple[str, ...]
    top: int = DEFAULT_TOP


def parse(body: dict[str, Any]) -> KnowledgeAsk | None:
    """The request's ``hermes.knowledge`` (None when it names no collection); a malformed field is a 400."""
    extension = body.get(FIELD)
    if extension is None:
        return None
    if not isinstance(extension, dict):
        raise bad_request(f'\'{FIELD}\' must be an object, like {{"knowledge": "NAME"}}.', FIELD)
    names = extension.get("knowledge")
    if names is None:
        return None
    names = [names] if isinstance(names, str) else names
    if (
        not isinstance(names, list)
        or not names
        or len(names) > MAX_COLLECTIONS
        or not all(isinstance(n, str) and n.strip() and len(n) <= 200 for n in names)
    ):
        raise bad_request(
            f"'{FIELD}.knowledge' must be a collection's name or a list of up to {MAX_COLLECTIONS} names.",
            f"{FIELD}.knowledge",
        )
    top = extension.get("top", DEFAULT_TOP)
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= MAX_TOP:
        raise bad_request(f"'{FIELD}.top' must be a whole number from 1 to {MAX_TOP}.", f"{FIELD}.top")
    return KnowledgeAsk(tuple(dict.fromkeys(n.strip() for n in names)), top)


async def ground_messages(
    service: EngineService, database: Path | None, ask: KnowledgeAsk, messages: list[ChatMessage]
) -> tuple[list[ChatMessage], Grounding]:
    """``messages`` with the last user message grounded in the collections (off the event loop: search and the
    question's embedding take milliseconds to a few hundred), and the grounding (its sources)."""
    if database is None:
        raise ApiError(400, "This server has no knowledge collections.", code="knowledge_unavailable", param=FIELD)
    last = max((n for n, m in enumerate(messages) if m["role"] == "user"), default=-1)
    if last < 0 or not str(messages[last]["content"]).strip():
        raise bad_request(f"'{FIELD}.knowledge' needs a user message to answer.", "messages")
    question = str(messages[last]["content"])
    grounding = await asyncio.to_thread(_ground, service, database, ask, question)
    grounded = list(messages)
    grounded[last] = {**messages[last], "content": grounding.prompt(question)}  # its images stay
    return grounded, grounding


def _ground(service: EngineService, database: Path, ask: KnowledgeAsk, question: str) -> Grounding:
    from app.core.engines.llama_embedder import SlotEmbedder
    from app.core.knowledge.base import KnowledgeBase
    from app.core.knowledge.grounding import ground
    from app.core.knowledge.index import KnowledgeError

    embedder = SlotEmbedder(service) if service.embedding_loaded is not None else None
    base = KnowledgeBase(database, embedder)
    try:
        known = {collection.name for collection in base.collections()}
        missing = [name for name in ask.collections if name not in known]
        if missing:
            listing = ", ".join(sorted(known)) or "none yet: hermes-studio knowledge add NAME FILE…"
            raise ApiError(
                404, f"No knowledge collection named {missing[0]!r} (collections: {listing}).",
                code="knowledge_not_found", param=f"{FIELD}.knowledge",
            )  # fmt: skip
        try:
            return ground(question, base=base, collections=ask.collections, embedder=embedder, top=ask.top)
        except KnowledgeError as exc:
            raise ApiError(400, str(exc), code="knowledge_error", param=f"{FIELD}.knowledge") from None
    finally:
        base.close()


def sources(grounding: Grounding) -> dict[str, Any]:
    """The reply's extension: ``{"sources": [...]}`` (the citations a reply in the window shows)."""
    rows = [
        {"index": c.index, "file": c.file, "location": c.location, "collection": c.collection,
         "chunk_id": c.chunk_id, "excerpt": c.excerpt}
        for c in grounding.citations()
    ]  # fmt: skip
    return {"sources": rows, "notes": list(grounding.notes)}
