"""One engine, shared fairly: a long-lived thread owns it, every face queues work in front of it.

llama.cpp cannot run two completions on one context at once, so the window, the CLI and the local
server never call the engine themselves: they submit jobs to an ``EngineService``, which runs them one
at a time, first come first served, on its own thread. A generation is a ``Ticket``: its owner can
cancel it at any time (queued: it never starts; running: it stops between tokens, or inside the
prompt through llama.cpp's abort callback), and the service stops it too when the model changes
under it or the service closes.

Callbacks (``on_piece``, ``on_progress``, ``on_start``) run on the engine thread: keep them short
(append to a buffer, put on a queue, emit a queued Qt signal).

Beside the chat model, a service holds an embedding model in its embedding slot (``load_embedding``,
``embed``): an engine of its own (``LlamaEngine(embedding=True)``) with its own load options, on a thread of its
own, made on first use, so embeddings never wait behind a reply and never run two at once on one context. Each
slot's load counts the memory the other slot's model holds.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from app.core.engines.interface import Embeddings, Engine, Generation, LoadedModel
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.errors import HermesError, NoModelLoaded
from app.core.prompting.context import ContextPolicy
from app.core.prompting.parts import ReasoningOptions, Thought
from app.core.prompting.prompt_formats import AUTO, ChatMessage, RenderedPrompt
from app.core.prompting.reasoning import ReasoningSplitter
from app.core.prompting.types import FinishReason, GenerationStats, Sampling

log = logging.getLogger(__name__)

T = TypeVar("T")
FormatChoice = tuple[str, str]  # (format key, custom template): what a preset asks for

_LIVE: weakref.WeakSet[EngineService] = weakref.WeakSet()  # for tests: no service may outlive its test


class ServiceClosed(HermesError):
    """The engine is shutting down; nothing more can be queued."""


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one reply needs, whichever face asked for it."""

    messages: Sequence[ChatMessage]
    sampling: Sampling = field(default_factory=Sampling)
    prompt_format: FormatChoice = (AUTO, "")
    context_policy: str = ContextPolicy.STOP
    continue_text: str = ""  # carry on from this partial reply instead of starting a new one
    grammar: str = ""  # a GBNF grammar the reply must follow (JSON mode, say); empty: none
    json_schema: dict[str, Any] | None = None  # or a JSON schema: its grammar is built on the engine thread
    reasoning: ReasoningOptions = field(default_factory=ReasoningOptions)  # thinking on/off, effort
    split_reasoning: bool = True  # pieces of reasoning come as ``Thought``s; False: the raw text (completions)
    tools: Sequence[dict[str, Any]] = ()  # OpenAI function tools, for the chat template (prompting.tool_prompt)
    tool_choice: str | dict[str, Any] | None = None  # OpenAI's, for a remote engine (a local one has the grammar)


PieceCallback = Callable[[str], None]
ProgressCallback = Callable[[int, int], None]
StartCallback = Callable[[RenderedPrompt, GenerationStats], None]


class Ticket:
    """One queued or running generation: cancel it, wait for its stats."""

    _ids = itertools.count(1)

    def __init__(
        self,
        request: GenerationRequest,
        on_piece: PieceCallback,
        on_progress: ProgressCallback | None,
        on_start: StartCallback | None,
    ) -> None:
        self.id = next(self._ids)
        self.request = request
        self.on_piece = on_piece
        self.on_progress = on_progress
        self.on_start = on_start
        self.future: Future[GenerationStats] = Future()
        self.queued_at = time.perf_counter()
        self.started_at: float | None = None
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Thread-safe and idempotent: a queued ticket never starts, a running one stops at the next token."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> GenerationStats:
        """The stats once it has ended; re-raises the error it ended with."""
        return self.future.result(timeout)

    def add_done_callback(self, callback: Callable[[Ticket], None]) -> None:
        self.future.add_done_callback(lambda _future: callback(self))


class EngineService:
    """Owns one ``Engine`` on one thread; ``submit``, ``load``, ``unload`` and ``generate`` queue work for it."""

    def __init__(
        self,
        engine: Engine | None = None,
        name: str = "engine",
        *,
        embedding_engine: Callable[[], Engine] | None = None,
    ) -> None:
        """``embedding_engine`` makes the embedding slot's engine on first use (``LlamaEngine(embedding=True)``)."""
        self.engine: Engine = engine or LlamaEngine()
        self._embedding_engine = embedding_engine or (lambda: LlamaEngine(embedding=True))
        self._embedding: EngineService | None = None  # the embedding slot: an engine and a thread of its own
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._pending: list[Ticket] = []  # queued or running generations, oldest first
        self._loaded: LoadedModel | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _LIVE.add(self)

    # what is loaded (readable from any thread)
    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    @property
    def embedding_loaded(self) -> LoadedModel | None:
        """The embedding model, once loaded (its ``context_size``: the most tokens one input may have)."""
        return None if self._embedding is None else self._embedding.loaded

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def queue_length(self) -> int:
        """Generations waiting or running."""
        with self._lock:
            return sum(1 for ticket in self._pending if not ticket.done)

    # work
    def submit(self, work: Callable[[Engine], T]) -> Future[T]:
        """Run ``work(engine)`` on the engine thread after everything queued before it."""
        future: Future[T] = Future()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = work(self.engine)
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)
            else:
                future.set_result(result)
            finally:
                self._loaded = self.engine.loaded

        self._put(job)
        return future

    def load(
        self,
        path: str | Path,
        options: LoadOptions = LoadOptions(),
        on_progress: Callable[[float], bool] | None = None,
        *,
        engine: Engine | None = None,
    ) -> Future[LoadedModel]:
        """Load a model after the queued work; running and queued generations are stopped first.

        ``on_progress(0.0 … 1.0)`` runs on the engine thread while llama.cpp reads the file; False cancels.
        ``engine``: load on this engine instead (a ``RemoteEngine``, or this machine's after a remote one). The
        engine in use keeps its model until the new one has answered: if it fails, nothing has changed.
        """
        self.cancel_all()
        if engine is None or engine is self.engine:
            return self.submit(lambda current: _load(current, path, options, on_progress, self.embedding_loaded))

        def switch(old: Engine) -> LoadedModel:
            loaded = _load(engine, path, options, on_progress, self.embedding_loaded)
            old.unload()
            self.engine = engine
            return loaded

        return self.submit(switch)

    # the embedding slot
    def load_embedding(
        self,
        path: str | Path,
        options: LoadOptions = LoadOptions(context_size=0),
        on_progress: Callable[[float], bool] | None = None,
    ) -> Future[LoadedModel]:
        """Load an embedding model into the embedding slot (replacing the one there), beside the chat model.

        ``options.context_size`` 0: the model's own context (at most engines.llama_embed.MAX_DEFAULT_CONTEXT).
        """
        slot = self._embedding_slot()
        return slot.submit(lambda engine: _load(engine, path, options, on_progress, self.loaded))

    def unload_embedding(self) -> Future[None]:
        return self._embedding_slot().submit(lambda engine: engine.unload())

    def embed(self, texts: Sequence[str], should_stop: Callable[[], bool] = lambda: False) -> Future[Embeddings]:
        """One normalised vector per text from the embedding model, after the embedding work queued before.

        ``should_stop`` (and closing the service) is read between decodes: the future then fails with
        ``EmbeddingCancelled``, and nothing half-done is returned.
        """
        texts = list(texts)
        return self.submit_embedding(lambda engine: engine.embed(texts, lambda: self._closed or should_stop()))

    def submit_embedding(self, work: Callable[[Engine], T]) -> Future[T]:
        """Run ``work(engine)`` on the embedding slot's thread (count tokens with its tokenizer, say)."""
        slot = self._embedding
        if slot is None:
            raise NoModelLoaded("No embedding model is loaded.")
        return slot.submit(work)

    def _embedding_slot(self) -> EngineService:
        with self._lock:
            if self._closed:
                raise ServiceClosed("The engine is shutting down.")
            if self._embedding is None:
                self._embedding = EngineService(self._embedding_engine(), name=f"{self._thread.name} (embeddings)")
                _LIVE.discard(self._embedding)  # closed with this service, which is the one tests watch
            return self._embedding

    def unload(self) -> Future[None]:
        self.cancel_all()
        return self.submit(lambda engine: engine.unload())

    def switch_engine(self, engine: Engine) -> Future[None]:
        """Own ``engine`` (a local one, or a ``RemoteEngine``) from now on; the old one is unloaded first."""
        self.cancel_all()

        def swap(old: Engine) -> None:
            old.unload()
            self.engine = engine

        return self.submit(swap)

    def generate(
        self,
        request: GenerationRequest,
        on_piece: PieceCallback,
        *,
        on_progress: ProgressCallback | None = None,
        on_start: StartCallback | None = None,
    ) -> Ticket:
        """Queue a reply. ``on_piece`` hears each piece of text; the ticket's result is its stats."""
        ticket = Ticket(request, on_piece, on_progress, on_start)
        with self._lock:
            self._pending.append(ticket)
        ticket.add_done_callback(self._forget)
        try:
            self._put(lambda: self._generate(ticket))
        except ServiceClosed:
            self._forget(ticket)
            raise
        return ticket

    def cancel_all(self) -> None:
        """Stop the running generation and every queued one (a new model, a shutdown)."""
        with self._lock:
            tickets = list(self._pending)
        for ticket in tickets:
            ticket.cancel()

    def close(self, timeout: float | None = None) -> None:
        """Stop generating, let queued loads and unloads finish, end the thread, free the model."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.cancel_all()
        self._jobs.put(None)
        if self._embedding is not None:
            self._embedding.close(timeout)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.engine.unload()  # the thread has ended: no concurrent use is possible
            self._loaded = None

    # the engine thread
    def _put(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._closed:
                raise ServiceClosed("The engine is shutting down.")
            self._jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:  # a job's own errors go to its future; this is a bug in the service
                log.exception("engine job failed")

    def _generate(self, ticket: Ticket) -> None:
        if not ticket.future.set_running_or_notify_cancel():
            return
        ticket.started_at = time.perf_counter()
        if ticket.cancelled:
            ticket.future.set_result(GenerationStats(finish_reason=FinishReason.CANCELLED))
            return
        try:
            stats = self._stream(ticket)
        except BaseException as exc:
            ticket.future.set_exception(exc)
        else:
            ticket.future.set_result(stats)

    def _stream(self, ticket: Ticket) -> GenerationStats:
        request = ticket.request
        engine = self.engine
        grammar = request.grammar
        if not grammar and request.json_schema is not None:
            from app.core.engines.grammar_build import build_grammar  # (off the start path: subprocess, the bounds)

            grammar = build_grammar(request.json_schema, "JSON schema")  # bounded; a refusal fails the reply
        generation: Generation = engine.stream(
            request.messages,
            request.sampling,
            should_stop=lambda: ticket.cancelled,
            prompt_format=engine.prompt_format(*request.prompt_format).with_options(request.reasoning),
            context_policy=request.context_policy,
            continue_text=request.continue_text,
            on_prompt_progress=ticket.on_progress,
            grammar=grammar,
            tools=request.tools,
            tool_choice=request.tool_choice,
        )
        if ticket.on_start is not None:
            ticket.on_start(generation.prompt, generation.stats)
        if not request.split_reasoning:
            for piece in generation:
                ticket.on_piece(piece)
            return generation.stats
        return self._split(ticket, generation)

    def _split(self, ticket: Ticket, generation: Generation) -> GenerationStats:
        """Pieces as reasoning (``Thought``) and answer; the stats count the reasoning's tokens and time apart."""
        splitter = ReasoningSplitter(generation.prompt.reasoning)
        on_piece = ticket.on_piece
        thinking_from = answer_at = 0.0
        thoughts: list[str] = []
        try:
            for piece in generation:
                for part in splitter.feed(piece):
                    on_piece(part)
                    if isinstance(part, Thought):
                        thinking_from = thinking_from or time.perf_counter()
                        thoughts.append(part)
                    elif not answer_at:
                        answer_at = time.perf_counter()
        finally:
            for part in splitter.close():
                on_piece(part)
                if isinstance(part, Thought):
                    thoughts.append(part)
        stats = generation.stats
        if thinking_from:
            stats.reasoning_s = (answer_at if answer_at > thinking_from else time.perf_counter()) - thinking_from
        if thoughts and not stats.reasoning_tokens:
            counted = self.engine.count_tokens("".join(thoughts)) if self.engine.loaded is not None else len(thoughts)
            stats.reasoning_tokens = min(counted, stats.generated_tokens or counted)
        return stats

    def _forget(self, ticket: Ticket) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._pending.remove(ticket)


def _load(
    engine: Engine,
    path: str | Path,
    options: LoadOptions,
    on_progress: Callable[[float], bool] | None,
    beside: LoadedModel | None,
) -> LoadedModel:
    """Load on the slot's thread, the memory of the model in the other slot counted against the machine's."""
    engine.reserved_bytes = beside.resident_bytes if beside is not None else 0
    return engine.load(path, options, on_progress)


def live_services() -> list[EngineService]:
    """Services whose thread still runs (tests fail if one outlives its test)."""
    return [service for service in _LIVE if service.running]
