"""The ASGI application: Starlette routes behind CORS, an API-key check and a body-size cap.

Order, outermost first: CORS (so even a 401 carries the headers a browser needs), the guard (the key on the
headers, then the body's cap and deadline), the routes. Connections are bounded below this, in uvicorn's
protocol (``app.server.connections``). Every refusal is an OpenAI error body with a 4xx; an unexpected exception is
a 500 with the same shape and the server goes on serving.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.engines.load_options import LoadOptions
from app.core.engines.service import EngineService
from app.core.personas.presets import PresetLibrary
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.types import GenerationStats
from app.server.connections import Limits
from app.server.errors import SERVER_ERROR, ApiError, error_body, error_response
from app.server.models import ModelHost, Resolved
from app.server.request_log import RequestLog
from app.server.routes import Api, Recorder, RequestRecord

log = logging.getLogger(__name__)

MAX_BODY = 32 << 20  # 32 MiB: a 128k-token chat is about 0.5 MB of text; a 20 MB image is 27 MB in base64
DRAIN_LIMIT = 64 << 20  # an over-large body is read and dropped up to here, so the client sees the 413
DEFAULT_MAX_TOKENS = 4096  # a reply's cap when a request asks for more, or for nothing (0: none)


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 1234
    api_key: str = ""
    cors_origins: Sequence[str] = ()
    jit: bool = False
    chats_db: Path | None = None  # --save: write each chat into this history
    library_folders: Callable[[], list[Path]] = field(default=lambda: [])
    presets_dir: Path | None = None
    load_options: LoadOptions = LoadOptions()
    max_body: int = MAX_BODY
    max_tokens: int = DEFAULT_MAX_TOKENS
    limits: Limits = field(default_factory=Limits)
    allow_local_files: bool = False  # image_url parts may be file:// paths on this machine
    knowledge_db: Path | None = None  # the collections a chat request may name (``hermes.knowledge``)


class Guard:
    """API key (401) on the headers alone, then the body within its cap (413) and its deadline (408).

    A refused request's body is never read (issue 28, item 14: 200 stalled unauthenticated 4 MB bodies had
    taken the server from 258 to 1,118 MB); each refusal closes its connection, so what the client still
    sends goes nowhere. A client that hangs up while sending its body reaches no route.
    """

    def __init__(self, app: ASGIApp, api_key: str, max_body: int, body_timeout: float) -> None:
        self.app = app
        self.api_key = api_key.encode()
        self.max_body = max_body
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.api_key and not self._authorized(headers.get(b"authorization", b"")):
            error = ApiError(
                401, "Missing or wrong API key (send 'Authorization: Bearer KEY').", code="invalid_api_key"
            )
            await _refuse(error, scope, receive, send, {"WWW-Authenticate": "Bearer"})
            return
        try:
            body, too_large, gone = await asyncio.wait_for(self._read(headers, receive), self.body_timeout)
        except TimeoutError:
            message = f"The request body did not arrive within {self.body_timeout:g} s."
            await _refuse(ApiError(408, message, code="request_timeout"), scope, receive, send)
            return
        if gone:
            return
        if too_large:
            message = f"The request body is larger than this server accepts ({self.max_body:,} bytes)."
            await _refuse(ApiError(413, message, code="request_too_large"), scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _authorized(self, header: bytes) -> bool:
        scheme, _, key = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(key.strip(), self.api_key)

    async def _read(self, headers: dict[bytes, bytes], receive: Receive) -> tuple[bytes, bool, bool]:
        """(body, too large, the client went away)."""
        declared = headers.get(b"content-length", b"0")
        too_large = declared.isdigit() and int(declared) > self.max_body
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"", too_large, True
            size += len(message.get("body", b""))
            if size > self.max_body:
                too_large, chunks = True, []
            elif not too_large:
                chunks.append(message.get("body", b""))
            if not message.get("more_body") or size > DRAIN_LIMIT:
                break
        return b"".join(chunks), too_large, False


async def _refuse(
    error: ApiError, scope: Scope, receive: Receive, send: Send, headers: dict[str, str] | None = None
) -> None:
    """The error, and the connection closed after it (its body, read or not, is not wanted)."""
    await error_response(error, {**(headers or {}), "Connection": "close"})(scope, receive, send)


class ChatSaver:
    """``--save``: each answered chat becomes a chat in the history (system, user turns, the reply)."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def __call__(
        self, messages: list[ChatMessage], reply: str, stats: GenerationStats, resolved: Resolved, reasoning: str = ""
    ) -> None:
        from app.core.chat.session import ChatSession, TurnSettings
        from app.core.history.store import ChatStore, StoreError
        from app.core.media.store import ImageStore

        try:
            store = ChatStore(self.db)  # opened per chat: a few ms, and no connection shared across threads
        except (StoreError, OSError) as exc:
            log.warning("could not save a server chat: %s", exc)
            return
        try:
            preset = resolved.preset.id if resolved.preset else ""
            turn = TurnSettings(model=resolved.model_id, preset=preset)
            images = ImageStore(self.db.parent / "images")  # the data folder's (AppPaths.images_dir)
            ChatSession(store, images=images).record(messages, reply, stats, turn, reasoning=reasoning)
        except (StoreError, OSError, sqlite3.Error) as exc:
            log.warning("could not save a server chat: %s", exc)
        finally:
            store.close()


def create_app(service: EngineService, options: ServerOptions, record: Recorder | None = None) -> Starlette:
    presets = PresetLibrary(options.presets_dir) if options.presets_dir else None
    host = ModelHost(service, options.library_folders, presets, options.jit, options.load_options)
    saver = ChatSaver(options.chats_db) if options.chats_db else None
    api = Api(service, host, saver, record or (lambda _record: None), max_tokens=options.max_tokens)
    api.allow_local_files = options.allow_local_files
    api.knowledge_db = options.knowledge_db

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        if exc.status != 499:
            api.log(request, RequestRecord(request.method, request.url.path, exc.status, error=exc.message))
        return error_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return JSONResponse(error_body(message, code="not_found" if exc.status_code == 404 else None), exc.status_code)

    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("request failed: %s %s", request.method, request.url.path, exc_info=exc)
        api.log(request, RequestRecord(request.method, request.url.path, 500, error=repr(exc)))
        return JSONResponse(error_body(f"Internal error: {exc!r}", SERVER_ERROR, "internal_error"), 500)

    routes = [
        Route("/v1/models", api.models, methods=["GET"]),
        Route("/v1/chat/completions", api.chat, methods=["POST"]),
        Route("/v1/completions", api.completions, methods=["POST"]),
        Route("/v1/embeddings", api.embeddings, methods=["POST"]),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=list(options.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        ),
        Middleware(Guard, api_key=options.api_key, max_body=options.max_body, body_timeout=options.limits.body_timeout),
    ]
    middleware.insert(0, Middleware(RequestLog, record=api.record))  # outermost: every request, as it starts
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: crash},
    )
    app.state.host = host
    return app
