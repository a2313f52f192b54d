"""A chat turn with MCP tools: the core's ``run_rounds`` on a worker thread, its events as Qt signals.

The worker generates on the shared ``EngineService`` (the tickets are kept, so Stop cancels the round being
written). When the model calls a tool, ``approval_needed`` asks the window (an ``ApprovalCard``) and the worker
waits for ``answer``: allow once, always (remembered in ``tools.json``), or deny (the model is told). A tool
the user allowed always runs without asking; while the card waits, the reply says so. Each call and its result
are kept with the reply as parts (``ToolCallPart``, ``ToolResultPart``: saved at once, shown as the reply's
collapsible step, sent to the model in later turns as its ``tool_calls`` and ``role: "tool"`` messages); then
the model answers. ``choice`` (the chat bar's Tools menu) applies to the next turn only.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QObject, Signal, Slot

from app.core.chat.tool_turn import checked_images
from app.core.engines.service import EngineService, GenerationRequest, Ticket
from app.core.errors import HermesError
from app.core.media.images import CheckedImage
from app.core.prompting.parts import Thought, ToolCallPart, ToolResultPart, is_thought
from app.core.prompting.types import FinishReason, GenerationStats
from app.core.tools.mcp_client import SEPARATOR
from app.core.tools.rounds import MAX_ROUNDS, RoundEvents, run_rounds
from app.core.tools.specs import ChoiceMode, ToolCall, ToolChoice
from app.ui.tools.tools_service import ToolsService

if TYPE_CHECKING:
    from app.ui.chat.conversation import Conversation

ONCE, ALWAYS, DENY = "once", "always", "deny"


class ToolTurns(QObject):
    """Runs the window's turns with tools, one at a time."""

    approval_needed = Signal(object, str)  # ToolCall, its server's name
    approval_closed = Signal()  # the call was answered (or the turn stopped): the card goes
    choice_spent = Signal()  # a turn used the tool choice (the menu goes back to Auto)
    _text = Signal(str)
    _note = Signal(str)  # a note for the reply's block (a signal carries plain text: made a Thought on arrival)
    _step = Signal(object)  # (a ToolCallPart or a ToolResultPart, the images a result brought)
    _done = Signal(object)  # GenerationStats
    _failed = Signal(str)

    def __init__(self, service: EngineService, tools: ToolsService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service, self.tools = service, tools
        self.choice = ToolChoice(ChoiceMode.AUTO)  # the next turn's (the chat bar's Tools menu), then Auto again
        self.max_rounds = MAX_ROUNDS
        self._conversation: Conversation | None = None
        self._tickets: list[Ticket] = []
        self._stopping = threading.Event()
        self._answered = threading.Event()
        self._answer = DENY
        self._thread: threading.Thread | None = None
        self._round = 0
        self._truncated: set[str] = set()  # the calls whose result was cut to fit
        self._images: dict[str, list[CheckedImage]] = {}  # the images each call returned (checked)
        self._text.connect(self._on_text)
        self._note.connect(self._on_note)
        self._step.connect(self._on_step)
        self.approval_needed.connect(self._on_approval_needed)
        self.approval_closed.connect(self._on_approval_closed)
        self._done.connect(self._on_done)
        self._failed.connect(self._on_failed)

    @property
    def active(self) -> bool:
        return self.tools.active

    def start(self, request: GenerationRequest, conversation: Conversation) -> None:
        """Run a turn with ``choice``; the choice is for this turn only (then Auto again: ``choice_spent``)."""
        self._conversation = conversation
        self._stopping.clear()
        self._tickets = []
        choice, self.choice = self.choice, ToolChoice(ChoiceMode.AUTO)
        if choice.mode is not ChoiceMode.AUTO:
            self.choice_spent.emit()
        self._thread = threading.Thread(target=self._work, args=(request, choice), name="tool-turn", daemon=True)
        self._thread.start()

    @Slot(str)
    def answer(self, decision: str) -> None:
        """The user's answer to the card: ``once``, ``always`` or ``deny``."""
        self._answer = decision
        self._answered.set()
        self.approval_closed.emit()

    def stop(self) -> None:
        """Stop the turn: the round being written ends, a call waiting for approval is refused."""
        self._stopping.set()
        for ticket in list(self._tickets):
            ticket.cancel()
        self._answer = DENY
        self._answered.set()
        self.approval_closed.emit()

    def wait(self, seconds: float) -> None:
        if self._thread is not None:
            self._thread.join(seconds)

    # the worker thread
    def _work(self, request: GenerationRequest, chosen: ToolChoice) -> None:
        try:
            specs = self.tools.specs()
            for config in self.tools.configs:
                state = self.tools.state(config.name)
                if state.startswith("failed"):
                    self._note.emit(f"Note: MCP server {config.name!r} {state}\n\n")
            choice = chosen if specs else ToolChoice(ChoiceMode.NONE)
            if choice.mode is ChoiceMode.NAMED and choice.name not in {spec.name for spec in specs}:
                self._note.emit(f"Note: the tool {choice.name} is not available now; the model decides.\n\n")
                choice = ToolChoice(ChoiceMode.AUTO)
            outcome = run_rounds(
                cast(EngineService, _Tracked(self)), request, specs, choice, approve=self._approve,
                execute=self._execute, events=self._events(), max_rounds=self.max_rounds,
            )  # fmt: skip
        except HermesError as exc:
            self._failed.emit(str(exc))
        except Exception as exc:  # the app stays up; the reply says what went wrong
            self._failed.emit(f"The turn with tools failed: {exc}")
        else:
            stats = outcome.stats
            if self._stopping.is_set():
                stats.finish_reason = FinishReason.CANCELLED
            self._done.emit(stats)

    def _approve(self, call: ToolCall) -> bool:
        if self._stopping.is_set():
            return False
        if call.name in self.tools.prefs.always_allowed:
            return True
        self._answered.clear()
        self.approval_needed.emit(call, call.name.partition(SEPARATOR)[0])
        self._answered.wait()
        if self._answer == ALWAYS:
            self.tools.allow_always(call.name)
        return self._answer in (ONCE, ALWAYS) and not self._stopping.is_set()

    def _execute(self, call: ToolCall) -> tuple[str, bool]:
        try:
            result = self.tools.call(call.name, call.arguments_object())
        except HermesError as exc:
            return str(exc), True
        if result.truncated:
            self._truncated.add(call.id)
        self._images[call.id] = checked_images(result, call)
        return result.text, result.is_error

    def _events(self) -> RoundEvents:
        def round_begins(index: int) -> None:
            self._round = index

        def call_made(call: ToolCall) -> None:
            server = call.name.partition(SEPARATOR)[0] if SEPARATOR in call.name else ""
            self._step.emit((ToolCallPart(call.id, call.name, call.arguments, server, self._round), []))

        def result(call: ToolCall, text: str, error: bool) -> None:
            truncated = call.id in self._truncated
            self._truncated.discard(call.id)
            part = ToolResultPart(call.id, text, call.name, truncated=truncated, error=error)
            self._step.emit((part, self._images.pop(call.id, [])))

        return RoundEvents(
            text=lambda piece: (self._note if is_thought(piece) else self._text).emit(piece),
            round=round_begins,
            call=call_made,
            result=result,
            note=lambda note: self._note.emit(f"Note: {note}\n\n"),
        )

    # on the GUI thread
    @Slot(str)
    def _on_text(self, text: str) -> None:
        if self._conversation is not None:
            self._conversation.session.append(text)

    @Slot(str)
    def _on_note(self, text: str) -> None:
        if self._conversation is not None:
            self._conversation.session.append(Thought(text))

    @Slot(object)
    def _on_step(self, step: tuple[ToolCallPart | ToolResultPart, list[CheckedImage]]) -> None:
        if self._conversation is not None:
            self._conversation.session.tool_step(*step)

    @Slot(object, str)
    def _on_approval_needed(self, call: ToolCall, _server: str) -> None:
        if self._conversation is not None:
            self._conversation.session.awaiting_approval(True, call.name)

    @Slot()
    def _on_approval_closed(self) -> None:
        if self._conversation is not None:
            self._conversation.session.awaiting_approval(False)

    @Slot(object)
    def _on_done(self, stats: GenerationStats) -> None:
        if self._conversation is not None:
            self._conversation.tool_turn_finished(stats)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._conversation is not None:
            self._conversation.tool_turn_failed(message)


class _Tracked:
    """The service as ``run_rounds`` sees it, keeping each round's ticket so Stop can cancel it."""

    def __init__(self, turns: ToolTurns) -> None:
        self._turns = turns

    @property
    def loaded(self) -> Any:
        return self._turns.service.loaded

    def generate(self, request: GenerationRequest, on_piece: Any, **kwargs: Any) -> Ticket:
        ticket = self._turns.service.generate(request, on_piece, **kwargs)
        self._turns._tickets.append(ticket)
        if self._turns._stopping.is_set():
            ticket.cancel()
        return ticket
