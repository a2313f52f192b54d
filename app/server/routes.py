"""The endpoints: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings.

Every generation is a ticket on the shared ``EngineService`` (the window's chats and other clients queue
in the same line). The engine thread's callbacks reach the event loop through ``call_soon_threadsafe``;
a client that goes away cancels its ticket (streamed: Starlette cancels the response when the
disconnect arrives; not streamed: a watcher on the connection does), so the engine is free within a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from app.core.engines.grammar_build import build_grammar
from app.core.engines.interface import ContextFullError, VisionUnavailable
from app.core.engines.remote import RemoteEngineError
from app.core.engines.service import EngineService, GenerationRequest, ServiceClosed, Ticket
from app.core.errors import HermesError, NoModelLoaded, TemplateError
from app.core.prompting.gbnf_bounds import GrammarRefused
from app.core.prompting.parts import ReasoningOptions
from app.core.prompting.prompt_formats import AUTO, CUSTOM, ChatMessage
from app.core.prompting.types import GenerationStats, Sampling
from app.server import knowledge, tool_calls
from app.server.connections import CONNECTION, STALLED
from app.server.embeddings import embed, embedding_model_id, names_the_embedding_model, parse_embeddings
from app.server.errors import ApiError, bad_request
from app.server.models import ModelHost, Resolved
from app.server.reasoning import add_reasoning, answer_and_reasoning, deltas, reasoning_options, usage_details
from app.server.schemas import GenerationParams, parse_chat, parse_completion, parse_json

RAW_TEMPLATE = "{% for message in messages %}{{ message.content }}{% endfor %}"  # /v1/completions: the prompt as is
SERVER_SAMPLING = Sampling(temperature=1.0, top_p=1.0, repeat_penalty=1.0, max_tokens=1 << 20)  # OpenAI's defaults
_STARTED, _DONE = object(), object()


STARTED, ANSWERED = "started", "answered"  # a RequestRecord's phase


@dataclass
class RequestRecord:
    """A request as it starts (``phase`` STARTED) and once answered, for the request log (the Server page, stderr)."""

    method: str
    path: str
    status: int
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_s: float = 0.0
    seconds: float = 0.0
    streamed: bool = False
    error: str = ""
    request_id: int = 0  # the same for a request's two records (request_log.RequestLog numbers them)
    phase: str = ANSWERED
    at: float = field(default_factory=time.time)  # wall-clock time of the record


Recorder = Callable[[RequestRecord], None]


class Api:
    """The routes' shared state: the engine service, the model host, saving, the request log."""

    def __init__(
        self,
        service: EngineService,
        host: ModelHost,
        save: Callable[..., None] | None,
        record: Recorder,
        max_tokens: int = 0,
    ) -> None:
        self.service = service
        self.host = host
        self.save = save
        self.record = record
        self.max_tokens = max_tokens  # the cap on a reply (0: none); a request asking more gets this many
        self.allow_local_files = False  # image_url parts may name file:// paths (serve --allow-local-files)
        self.knowledge_db: Path | None = None  # the collections a request may name (server/knowledge.py)

    def log(self, request: Request, record: RequestRecord) -> None:
        """Record a request's answer (with its tokens); the request log then records no plainer line for it."""
        state = request.scope.setdefault("state", {})
        record.request_id = state.get("request_id", 0)
        state["answer_recorded"] = True
        self.record(record)

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": self.host.listing()})

    async def chat(self, request: Request) -> Response:
        body = parse_json(await request.body())
        ask = knowledge.parse(body)
        params = parse_chat(body, self.allow_local_files)
        extension = None
        if ask is not None:
            params.messages, grounding = await knowledge.ground_messages(
                self.service, self.knowledge_db, ask, params.messages
            )
            extension = knowledge.sources(grounding)
        return await self._generate(request, params, chat=True, reasoning=reasoning_options(body), extension=extension)

    async def completions(self, request: Request) -> Response:
        params = parse_completion(parse_json(await request.body()))
        return await self._generate(request, params, chat=False)

    async def embeddings(self, request: Request) -> Response:
        params = parse_embeddings(parse_json(await request.body()))
        if not names_the_embedding_model(self.service, params.model):
            if self.host.names_the_chat_model(params.model):
                which = embedding_model_id(self.service) or "none is loaded: serve --embedding-model MODEL"
                raise ApiError(
                    400, f"The model {params.model!r} is loaded for chat and cannot make embeddings: name the "
                    f"embedding model ({which}).", code="model_cannot_embed", param="model",
                )  # fmt: skip
            available = ", ".join(str(entry["id"]) for entry in self.host.listing()) or "none"
            raise ApiError(
                404, f"The model {params.model!r} does not exist or is not loaded (available: {available}).",
                code="model_not_found", param="model",
            )  # fmt: skip
        body, seconds = await embed(self.service, params)
        usage = body["usage"]["prompt_tokens"]
        self.record(RequestRecord("POST", "/v1/embeddings", 200, body["model"], usage, 0, 0.0, seconds))
        return JSONResponse(body)

    # generation
    async def _generate(
        self,
        request: Request,
        params: GenerationParams,
        chat: bool,
        reasoning: ReasoningOptions | None = None,
        extension: dict[str, Any] | None = None,
    ) -> Response:
        grammar = ""
        if params.json_mode:  # built in a worker thread (and a child process): no other client waits on it
            try:
                grammar = await asyncio.to_thread(build_grammar, params.json_schema, "response_format.json_schema")
            except GrammarRefused as exc:
                raise bad_request(str(exc), "response_format", code="invalid_json_schema") from None
        resolved = await self.host.resolve(params.model)
        job = self._request(params, resolved, chat, grammar, reasoning or ReasoningOptions())
        if params.tools is not None:  # the template shows the tools; a forced call is held to a grammar
            call_grammar = await tool_calls.prepare(params.tools, self.service, resolved.preset)
            job = replace(job, tools=params.tools.tools, grammar=call_grammar or job.grammar,
                          tool_choice=params.tools.choice.as_openai())  # fmt: skip
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[object] = asyncio.Queue()
        generated = [0]  # pieces from the engine (about one a token), for the log of a stopped stream
        connection = request.scope.get(CONNECTION) if params.stream else None

        def put(item: object) -> None:  # on the loop
            events.put_nowait(item)
            if connection is not None and events.qsize() > connection.limits.max_backlog and connection.writes_paused:
                connection.stop_unread()  # backpressure: the client reads nothing and the engine runs ahead

        def post(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed (the server stopped)
                loop.call_soon_threadsafe(put, item)

        def piece(item: object) -> None:
            generated[0] += 1
            post(item)

        try:
            ticket = self.service.generate(job, piece, on_start=lambda _prompt, _stats: post(_STARTED))
        except ServiceClosed:
            raise ApiError(503, "The server is shutting down.", code="shutting_down", type_="server_error") from None
        ticket.add_done_callback(lambda _ticket: post(_DONE))
        started = time.perf_counter()
        reply_id = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        pieces: list[str] = []
        try:
            if params.stream:
                first = await _until_disconnect(request, events.get(), ticket)  # started, or failed: 4xx still possible
            else:
                await _until_disconnect(request, _drain(events, pieces), ticket)
        except BaseException:
            ticket.cancel()
            raise
        if params.stream:
            if first is _DONE:
                self._raise_failure(ticket)
            stream = self._sse(
                request,
                params=params,
                resolved=resolved,
                ticket=ticket,
                events=events,
                reply_id=reply_id,
                chat=chat,
                started=started,
                generated=generated,
                extension=extension,
            )
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
        stats = self._raise_failure(ticket)
        text, thought = answer_and_reasoning(pieces)
        self._finished(
            request,
            params=params,
            resolved=resolved,
            stats=stats,
            text=text,
            reasoning=thought,
            started=started,
            streamed=False,
        )
        body = add_reasoning(_body(reply_id, resolved.model_id, text, stats, chat), thought)
        if params.tools is not None:
            choice = body["choices"][0]
            message, choice["finish_reason"] = tool_calls.reply_message(params.tools, text, _finish(stats))
            choice["message"] = {**message, "reasoning_content": choice["message"].get("reasoning_content")}
        if extension is not None:
            body[knowledge.FIELD] = extension
        return JSONResponse(body)

    def _request(
        self, params: GenerationParams, resolved: Resolved, chat: bool, grammar: str, reasoning: ReasoningOptions
    ) -> GenerationRequest:
        preset = resolved.preset
        sampling = (preset.sampling.with_overrides(max_tokens=1 << 20) if preset else SERVER_SAMPLING).with_overrides(
            **params.sampling
        )
        if self.max_tokens:
            sampling = sampling.with_overrides(max_tokens=min(sampling.max_tokens, self.max_tokens))
        if not chat:
            raw: list[ChatMessage] = [{"role": "user", "content": params.prompt}]
            return GenerationRequest(raw, sampling, (CUSTOM, RAW_TEMPLATE), grammar=grammar, split_reasoning=False)
        messages = list(params.messages)
        if preset and preset.system_prompt and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": preset.system_prompt})
        params.messages = messages  # what was sent is what --save records
        prompt_format = (preset.prompt_format, preset.custom_template) if preset else (AUTO, "")
        return GenerationRequest(messages, sampling, prompt_format, grammar=grammar, reasoning=reasoning)

    async def _sse(
        self,
        request: Request,
        *,
        params: GenerationParams,
        resolved: Resolved,
        ticket: Ticket,
        events: asyncio.Queue[object],
        reply_id: str,
        chat: bool,
        started: float,
        generated: list[int],
        extension: dict[str, Any] | None = None,
    ) -> AsyncIterator[str]:
        created = int(time.time())
        model = resolved.model_id
        pieces: list[str] = []
        thoughts: list[str] = []
        calls = tool_calls.ToolStream(params.tools) if params.tools is not None else None
        try:
            if chat:
                first = _chunk(
                    reply_id, created, model=model, delta={"role": "assistant", "content": ""}, finish=None, chat=chat
                )
                if extension is not None:
                    first[knowledge.FIELD] = extension  # the sources are known before the first token
                yield _event(first)
            done = False
            while not done and (item := await events.get()) is not _DONE:
                if item is _STARTED:
                    continue
                batch = [_piece(item)]
                while not events.empty():  # pieces that arrived while the last event was sent go out as one
                    more = events.get_nowait()
                    if more is _DONE:
                        done = True
                        break
                    if more is not _STARTED:
                        batch.append(_piece(more))
                for key, text in deltas(batch):  # reasoning in delta.reasoning_content, the answer in content
                    if key != "content":
                        thoughts.append(text)
                    else:
                        pieces.append(text)
                        if calls is not None and not (text := calls.feed(text)):
                            continue
                    delta: dict[str, Any] = {key: text}
                    yield _event(_chunk(reply_id, created, model=model, delta=delta, finish=None, chat=chat))
            try:
                stats = self._raise_failure(ticket)
            except ApiError as exc:  # after the 200: OpenAI's SDKs read an error event
                yield _event({"error": {"message": exc.message, "type": exc.type, "code": exc.code}})
                return
            finish = _finish(stats)
            if calls is not None:
                last, called = calls.finish()
                for delta in last:
                    yield _event(_chunk(reply_id, created, model=model, delta=delta, finish=None, chat=chat))
                finish = "tool_calls" if called else finish
            yield _event(_chunk(reply_id, created, model=model, delta={}, finish=finish, chat=chat))
            if params.include_usage:
                yield _event(
                    {
                        **_chunk(reply_id, created, model=model, delta={}, finish=None, chat=chat),
                        "choices": [],
                        "usage": _usage(stats),
                    }
                )
            yield "data: [DONE]\n\n"
            self._finished(
                request,
                params=params,
                resolved=resolved,
                stats=stats,
                text="".join(pieces),
                reasoning="".join(thoughts),
                started=started,
                streamed=True,
            )
        finally:
            if not ticket.done:  # the client hung up, or stopped reading (app.server.connections)
                ticket.cancel()
                why = "client stopped reading" if request.scope.get(STALLED) else "client went away"
                self.log(
                    request,
                    RequestRecord(
                        "POST", request.url.path, 499, model, completion_tokens=generated[0], streamed=True,
                        seconds=time.perf_counter() - started, error=why,
                    ),
                )  # fmt: skip

    def _raise_failure(self, ticket: Ticket) -> GenerationStats:
        try:
            return ticket.result(timeout=0)
        except ContextFullError as exc:
            raise ApiError(400, str(exc), code="context_length_exceeded", param="messages") from None
        except VisionUnavailable as exc:
            raise ApiError(400, str(exc), code="model_not_vision", param="messages") from None
        except NoModelLoaded as exc:
            raise ApiError(404, str(exc), code="model_not_found", param="model") from None
        except TemplateError as exc:
            raise ApiError(400, str(exc), code="template_error") from None
        except RemoteEngineError as exc:
            raise ApiError(502, str(exc), code="upstream_error", type_="server_error") from None
        except HermesError as exc:
            raise ApiError(400, str(exc), code="generation_failed") from None

    def _finished(
        self,
        request: Request,
        *,
        params: GenerationParams,
        resolved: Resolved,
        stats: GenerationStats,
        text: str,
        started: float,
        streamed: bool,
        reasoning: str = "",
    ) -> None:
        self.log(
            request,
            RequestRecord(
                "POST", request.url.path, 200, resolved.model_id, stats.prompt_tokens, stats.generated_tokens,
                stats.tokens_per_s, time.perf_counter() - started, streamed,
            ),
        )  # fmt: skip
        if self.save is not None and params.messages:
            self.save(params.messages, text, stats, resolved, reasoning)


async def _until_disconnect(request: Request, work: Any, ticket: Ticket) -> Any:
    """Run ``work``; if the client hangs up first, cancel the ticket and stop."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        ticket.cancel()
        task.cancel()
        raise ApiError(499, "The client closed the connection.", code="client_closed")
    finally:
        watcher.cancel()


async def _drain(events: asyncio.Queue[object], pieces: list[str]) -> None:
    while (item := await events.get()) is not _DONE:
        if item is not _STARTED:
            pieces.append(_piece(item))


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _finish(stats: GenerationStats) -> str:
    return "length" if stats.finish_reason == "length" else "stop"


def _usage(stats: GenerationStats) -> dict[str, Any]:
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.generated_tokens,  # reasoning included, as OpenAI counts it
        "total_tokens": stats.prompt_tokens + stats.generated_tokens,
        **usage_details(stats),
    }


def _piece(item: object) -> str:
    return item if isinstance(item, str) else str(item)  # a Thought stays a Thought


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _chunk(
    reply_id: str, created: int, *, model: str, delta: dict[str, Any], finish: str | None, chat: bool
) -> dict[str, Any]:
    if chat:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": None, "choices": [choice]}  # fmt: skip
    choice = {"index": 0, "text": delta.get("content", ""), "logprobs": None, "finish_reason": finish}
    return {"id": reply_id, "object": "text_completion", "created": created, "model": model, "choices": [choice]}


def _body(reply_id: str, model: str, text: str, stats: GenerationStats, chat: bool) -> dict[str, Any]:
    if chat:
        choice: dict[str, Any] = {
            "index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": None, "finish_reason": _finish(stats),
        }  # fmt: skip
        kind = "chat.completion"
    else:
        choice, kind = {"index": 0, "text": text, "logprobs": None, "finish_reason": _finish(stats)}, "text_completion"
    return {
        "id": reply_id, "object": kind, "created": int(time.time()), "model": model,
        "system_fingerprint": None, "choices": [choice], "usage": _usage(stats),
    }  # fmt: skip
