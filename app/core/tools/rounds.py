"""A reply with tools: the model writes, its calls run (with the user's approval), it reads the results, again.

``run_rounds`` is the loop for headless faces (the CLI; the window can drive the same steps): each round is one
``GenerationRequest`` on the ``EngineService``; text that cannot be a call streams out at once (``CallGate``);
each call is approved or not (``Approve``) before ``Execute`` runs it, and the model is told either way.
After ``max_rounds`` rounds with calls the model must answer in words, and the result says the cap was hit.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.core.engines.interface import LoadedModel
from app.core.engines.service import EngineService, FormatChoice, GenerationRequest
from app.core.prompting.prompt_formats import AUTO, CHATML_TEMPLATE, CUSTOM, NAMED_FORMATS, ChatMessage
from app.core.prompting.tool_prompt import ToolFamily, tool_family
from app.core.prompting.types import GenerationStats
from app.core.tools.arguments import argument_problem
from app.core.tools.grammar import call_grammar
from app.core.tools.parsing import CallGate, parse_calls
from app.core.tools.specs import ChoiceMode, ToolCall, ToolChoice, ToolSpec

MAX_ROUNDS = 4
DENIED = "The user did not allow this tool to run."

Approve = Callable[[ToolCall], bool]  # may ask the user; False: the model is told it was refused
Execute = Callable[[ToolCall], tuple[str, bool]]  # the result's text and whether it is an error


@dataclass
class RoundEvents:
    """What a face shows as the rounds go (each optional)."""

    text: Callable[[str], None] = lambda _text: None
    round: Callable[[int], None] = lambda _index: None  # a round begins (0, 1, …): its calls belong together
    call: Callable[[ToolCall], None] = lambda _call: None
    result: Callable[[ToolCall, str, bool], None] = lambda _call, _text, _error: None
    note: Callable[[str], None] = lambda _note: None


@dataclass
class RoundsOutcome:
    messages: list[ChatMessage]  # the conversation with every call and result, and the last reply
    stats: GenerationStats
    rounds: int
    capped: bool = False
    calls: list[ToolCall] = field(default_factory=list)


def template_of(loaded: LoadedModel | None, prompt_format: FormatChoice) -> str:
    """The chat template a request with ``prompt_format`` is rendered with on ``loaded`` (its call format follows
    from it)."""
    choice, custom = prompt_format
    if loaded is not None and loaded.remote:
        return CHATML_TEMPLATE  # a remote engine's calls arrive as delta.tool_calls, handed on as Hermes call text
    if choice == CUSTOM:
        return custom
    if choice != AUTO and choice in NAMED_FORMATS:
        return NAMED_FORMATS[choice].template
    return (loaded.info.chat_template if loaded else None) or CHATML_TEMPLATE


def run_rounds(
    service: EngineService,
    request: GenerationRequest,
    specs: Sequence[ToolSpec],
    choice: ToolChoice,
    *,
    approve: Approve,
    execute: Execute,
    events: RoundEvents | None = None,
    max_rounds: int = MAX_ROUNDS,
    parallel: bool = True,
) -> RoundsOutcome:
    """Generate ``request`` (its messages so far) with ``specs``, running calls until the model answers."""
    events = events or RoundEvents()
    family = tool_family(template_of(service.loaded, request.prompt_format))
    known = {spec.name: spec for spec in specs}
    tools = [spec.as_openai() for spec in specs]
    messages = list(request.messages)
    outcome = RoundsOutcome(messages, GenerationStats(), 0)
    while True:
        events.round(outcome.rounds)
        outcome.rounds += 1
        last = outcome.rounds > max_rounds
        round_choice = ToolChoice(ChoiceMode.NONE) if last else choice
        remote = service.loaded is not None and service.loaded.remote  # sent tool_choice: it forces the call itself
        grammar = call_grammar(specs, round_choice, family, parallel) if round_choice.forced and not remote else ""
        job = dataclasses.replace(
            request, messages=list(messages), grammar=grammar or request.grammar,
            tools=tools if round_choice.mode is not ChoiceMode.NONE else (), tool_choice=round_choice.as_openai(),
        )  # fmt: skip
        text, calls, outcome.stats = _one_round(service, job, family, events)
        if round_choice.mode is ChoiceMode.NONE or not calls:
            messages.append({"role": "assistant", "content": text})
            outcome.capped = last
            if last:
                events.note(f"stopped after {max_rounds} tool rounds: the model answered without tools")
            return outcome
        if not parallel:
            calls = calls[:1]
        messages.append({"role": "assistant", "content": text, "tool_calls": [c.as_openai() for c in calls]})
        for call in calls:
            events.call(call)
            outcome.calls.append(call)
            if call.name not in known:
                result, error = f"There is no tool named {call.name!r} (tools: {', '.join(sorted(known))}).", True
            elif problem := argument_problem(known[call.name], call):
                result, error = problem, True  # said to the model; no one is asked to run a call that cannot
            elif not approve(call):
                result, error = DENIED, True
            else:
                result, error = execute(call)
            events.result(call, result, error)
            messages.append({"role": "tool", "content": result, "tool_call_id": call.id, "name": call.name})
        choice = ToolChoice(ChoiceMode.AUTO)  # a forced call is asked for once; then the model decides


def _one_round(
    service: EngineService, job: GenerationRequest, family: ToolFamily, events: RoundEvents
) -> tuple[str, list[ToolCall], GenerationStats]:
    gate = CallGate(family)
    everything: list[str] = []

    def piece(text: str) -> None:
        everything.append(text)
        shown = gate.feed(text) if job.tools else text
        if shown:
            events.text(shown)

    stats = service.generate(job, piece).result()
    text = "".join(everything)
    if not job.tools:
        return text, [], stats
    held = gate.finish()
    for problem in held.problems:
        events.note(f"the model wrote a call that could not be read: {problem}")
    if held.content:
        events.text(held.content)
    whole = parse_calls(text, family)
    return whole.content, whole.calls, stats


def describe(call: ToolCall) -> str:
    """``name({"a": 1})`` for a log line or a prompt to the user."""
    try:
        arguments = json.dumps(json.loads(call.arguments), ensure_ascii=False)
    except ValueError:
        arguments = call.arguments
    return f"{call.name}({arguments})"
