"""A turn with tools driven without an event loop (the CLI): ``run_rounds`` on a worker, the session on this thread.

The session and its store belong to the caller's thread (SQLite's connection does), so the rounds run on a
worker thread (the engine and the tools work there) and everything the session and the face hear comes back on
a queue: the reply's text, each call (a ``ToolCallPart``, saved at once) and its result (a ``ToolResultPart``),
notes, and the question whether a call may run (``approve`` is asked here, so a terminal's prompt comes after
the text before it). The calls and results are kept with the reply as parts, as the window keeps them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from app.core.chat.session import ChatSession
from app.core.engines.service import EngineService, GenerationRequest, Ticket
from app.core.errors import HermesError
from app.core.media.images import CheckedImage, ImageRefused, check_image
from app.core.prompting.parts import Thought, ToolCallPart, ToolResultPart
from app.core.prompting.types import FinishReason, GenerationStats
from app.core.tools.mcp_client import ToolResult
from app.core.tools.rounds import MAX_ROUNDS, Approve, RoundEvents, RoundsOutcome, run_rounds
from app.core.tools.specs import ToolCall, ToolChoice, ToolSpec

ServerOf = Callable[[str], str]  # a tool's name -> the MCP server that runs it ('' for none)
RunTool = Callable[[ToolCall], ToolResult]


class _Rounds:
    """The worker's side: the service as ``run_rounds`` sees it (its tickets kept, so Ctrl+C cancels them)."""

    def __init__(self, service: EngineService, news: queue.Queue[tuple[str, Any]], run_tool: RunTool) -> None:
        self.service, self.news, self.run_tool = service, news, run_tool
        self.stop = threading.Event()
        self.tickets: list[Ticket] = []
        self.truncated: set[str] = set()
        self.images: dict[str, list[CheckedImage]] = {}
        self.round = 0

    @property
    def loaded(self) -> Any:
        return self.service.loaded

    def generate(self, request: GenerationRequest, on_piece: Any, **kwargs: Any) -> Ticket:
        ticket = self.service.generate(request, on_piece, **kwargs)
        self.tickets.append(ticket)
        if self.stop.is_set():
            ticket.cancel()
        return ticket

    def cancel(self) -> None:
        self.stop.set()
        for ticket in list(self.tickets):
            ticket.cancel()

    def approve(self, call: ToolCall) -> bool:
        if self.stop.is_set():
            return False
        answer: Future[bool] = Future()
        self.news.put(("approve", (call, answer)))
        return answer.result() and not self.stop.is_set()

    def execute(self, call: ToolCall) -> tuple[str, bool]:
        result = self.run_tool(call)
        if result.truncated:
            self.truncated.add(call.id)
        self.images[call.id] = checked_images(result, call)
        return result.text, result.is_error

    def events(self) -> RoundEvents:
        return RoundEvents(
            text=lambda piece: self.news.put(("text", piece)),
            round=lambda index: setattr(self, "round", index),
            call=lambda call: self.news.put(("call", (call, self.round))),
            result=lambda call, text, error: self.news.put(
                ("result", (call, text, error, call.id in self.truncated, self.images.pop(call.id, [])))
            ),
            note=lambda note: self.news.put(("note", note)),
        )


def checked_images(result: ToolResult, call: ToolCall) -> list[CheckedImage]:
    """The images a tool returned that pass ``media.images``' checks (a refused one is left out)."""
    images = []
    for number, data in enumerate(result.images, 1):
        try:
            images.append(check_image(data, f"{call.name} image {number}"))
        except ImageRefused:
            continue
    return images


def run_tool_turn(
    session: ChatSession,
    service: EngineService,
    request: GenerationRequest,
    specs: Sequence[ToolSpec],
    choice: ToolChoice,
    *,
    approve: Approve,
    run_tool: RunTool,
    events: RoundEvents | None = None,
    server_of: ServerOf = lambda _name: "",
    max_rounds: int = MAX_ROUNDS,
) -> RoundsOutcome:
    """Run the reply's rounds (``approve`` asked on this thread, ``run_tool`` run on the worker); the session streams
    the reply and keeps its calls and results. The reply ends finished, or failed (the error raised again); Ctrl+C
    stops it, keeps it as stopped, and is raised again."""
    face = events or RoundEvents()
    news: queue.Queue[tuple[str, Any]] = queue.Queue()
    rounds = _Rounds(service, news, run_tool)
    outcome: Future[RoundsOutcome] = Future()

    def worker() -> None:
        try:
            outcome.set_result(run_rounds(
                rounds, request, specs, choice, approve=rounds.approve,  # type: ignore[arg-type]
                execute=rounds.execute, events=rounds.events(), max_rounds=max_rounds,
            ))  # fmt: skip
        except BaseException as exc:  # handed to this thread
            outcome.set_exception(exc)
        finally:
            news.put(("end", None))

    threading.Thread(target=worker, name="tool-turn", daemon=True).start()
    try:
        _follow(session, news, face, approve, server_of)
    except KeyboardInterrupt:
        rounds.cancel()
        _follow(session, news, face, lambda _call: False, server_of)
        session.finish(_stopped(outcome))
        raise
    try:
        done = outcome.result()
    except HermesError as exc:
        session.fail(str(exc))
        raise
    except Exception as exc:
        session.fail(f"The turn with tools failed: {exc}")
        raise
    session.finish(done.stats)
    return done


def _follow(
    session: ChatSession, news: queue.Queue[tuple[str, Any]], face: RoundEvents, approve: Approve, server_of: ServerOf
) -> None:
    while True:
        kind, value = news.get()
        if kind == "end":
            return
        if kind == "text":
            session.append(value)
            face.text(value)
        elif kind == "note":
            session.append(Thought(f"Note: {value}\n\n"))
            face.note(value)
        elif kind == "call":
            call, index = value
            session.tool_step(ToolCallPart(call.id, call.name, call.arguments, server_of(call.name), index))
            face.call(call)
        elif kind == "result":
            call, text, error, cut, images = value
            session.tool_step(ToolResultPart(call.id, text, call.name, truncated=cut, error=error), images)
            face.result(call, text, error)
        elif kind == "approve":
            call, answer = value
            session.awaiting_approval(True, call.name)
            try:
                allowed = approve(call)
            except BaseException:
                answer.set_result(False)
                raise
            finally:
                session.awaiting_approval(False)
            answer.set_result(allowed)


def _stopped(outcome: Future[RoundsOutcome]) -> GenerationStats:
    try:
        stats = outcome.result().stats
    except Exception:
        stats = GenerationStats()
    stats.finish_reason = FinishReason.CANCELLED
    return stats
