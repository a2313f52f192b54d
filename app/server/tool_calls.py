"""OpenAI's function calling on the server: ``tools``, ``tool_choice``, ``parallel_tool_calls`` in a request,
``message.tool_calls`` and ``finish_reason: "tool_calls"`` in a reply, ``delta.tool_calls`` in a stream, and
``role: "tool"`` / assistant ``tool_calls`` messages in the history.

The routes call in at a few points (``parse_fields``, ``chat_message``, ``prepare``, ``reply_message``,
``ToolStream``); everything about tools stays here and in ``app.core.tools``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from app.core.engines.service import EngineService
from app.core.personas.presets import Preset
from app.core.prompting.prompt_formats import AUTO, ChatMessage
from app.core.prompting.tool_prompt import ToolFamily, tool_family
from app.core.tools.grammar import call_grammar
from app.core.tools.parsing import CallGate, ParsedReply, parse_calls
from app.core.tools.rounds import template_of
from app.core.tools.specs import ChoiceMode, ToolChoice, ToolError, ToolSpec, parse_choice, parse_tools
from app.server.errors import bad_request

MAX_CALLS_IN_HISTORY = 128  # tool_calls of one assistant message


@dataclass
class ToolRequest:
    specs: list[ToolSpec]
    choice: ToolChoice
    parallel: bool = True
    family: ToolFamily = ToolFamily.HERMES
    tools: list[dict[str, Any]] = field(default_factory=list)  # what the template gets


def parse_fields(body: dict[str, Any]) -> ToolRequest | None:
    """The request's tool fields (None: no tools, or tool_choice none)."""
    try:
        specs = parse_tools(body["tools"]) if body.get("tools") not in (None, []) else []
        choice = parse_choice(body.get("tool_choice"), specs)
    except ToolError as exc:
        param = "tool_choice" if "tool_choice" in str(exc) else "tools"
        raise bad_request(str(exc), param, code="invalid_tools") from None
    parallel = body.get("parallel_tool_calls", True)
    if not isinstance(parallel, bool):
        raise bad_request("'parallel_tool_calls' must be true or false.", "parallel_tool_calls")
    if not specs or choice.mode is ChoiceMode.NONE:
        return None
    return ToolRequest(specs, choice, parallel, tools=[spec.as_openai() for spec in specs])


def chat_message(message: dict[str, Any], role: str, content: str, where: str) -> ChatMessage:
    """A ``tool`` message or an assistant message with ``tool_calls``, as the template gets it."""
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise bad_request(f"{where}.tool_call_id must name the call this result answers.", f"{where}.tool_call_id")
        result: ChatMessage = {"role": "tool", "content": content, "tool_call_id": call_id}
        if isinstance(message.get("name"), str):
            result["name"] = message["name"]
        return result
    calls = message.get("tool_calls")
    if not isinstance(calls, list) or len(calls) > MAX_CALLS_IN_HISTORY:
        raise bad_request(f"{where}.tool_calls must be an array of up to {MAX_CALLS_IN_HISTORY} calls.", where)
    clean = []
    for index, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad_request(f"{where}.tool_calls[{index}] must have a function with a name.", where)
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):
            raise bad_request(f"{where}.tool_calls[{index}].function.arguments must be a JSON string.", where)
        call_id = call.get("id") if isinstance(call.get("id"), str) else f"call_{index}"
        clean.append({"id": call_id, "type": "function",
                      "function": {"name": function["name"], "arguments": arguments}})  # fmt: skip
    return {"role": "assistant", "content": content, "tool_calls": clean}


async def prepare(request: ToolRequest, service: EngineService, preset: Preset | None) -> str:
    """Pick the call format; the grammar of a forced call ("" when the model may answer in words)."""
    prompt_format = (preset.prompt_format, preset.custom_template) if preset else (AUTO, "")
    request.family = tool_family(template_of(service.loaded, prompt_format))
    if not request.choice.forced or (service.loaded is not None and service.loaded.remote):
        return ""  # a remote engine is sent tool_choice and forces the call itself
    try:
        return await asyncio.to_thread(call_grammar, request.specs, request.choice, request.family, request.parallel)
    except ToolError as exc:
        raise bad_request(str(exc), "tools", code="invalid_tools") from None


def _limit(request: ToolRequest, parsed: ParsedReply) -> ParsedReply:
    if not request.parallel and len(parsed.calls) > 1:
        parsed.calls = parsed.calls[:1]
    return parsed


def reply_message(request: ToolRequest, text: str, finish: str) -> tuple[dict[str, Any], str]:
    """A reply's ``message`` and ``finish_reason``: its calls, if it made any."""
    parsed = _limit(request, parse_calls(text, request.family))
    if not parsed.calls:
        return {"role": "assistant", "content": text, "refusal": None}, finish
    message = {"role": "assistant", "content": parsed.content or None, "refusal": None,
               "tool_calls": [call.as_openai() for call in parsed.calls]}  # fmt: skip
    return message, "tool_calls"


class ToolStream:
    """A streamed reply's text held back where it may be a call; the calls as ``delta.tool_calls`` at the end."""

    def __init__(self, request: ToolRequest) -> None:
        self.request = request
        self.gate = CallGate(request.family)

    def feed(self, text: str) -> str:
        return self.gate.feed(text)

    def finish(self) -> tuple[list[dict[str, Any]], bool]:
        """The last deltas (content left, then each call: its id and name, then its arguments) and whether any call."""
        parsed = _limit(self.request, self.gate.finish())
        if not parsed.calls:
            return ([{"content": self.gate.held}] if self.gate.held else []), False
        deltas: list[dict[str, Any]] = [{"content": parsed.content}] if parsed.content else []
        for index, call in enumerate(parsed.calls):
            head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            deltas.append({"tool_calls": [head]})
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": call.arguments}}]})
        return deltas, True
