"""Tools in the prompt: which call format a chat template speaks, and a conversation made ready for it.

A template that knows about tools (it reads the ``tools`` variable, as Hermes 2 Pro, Qwen 2.5/3, Llama 3.1+ and
Mistral's do) gets them as ``tools``, and assistant calls with their arguments as objects (what transformers'
templates expect). A template that does not (ChatML, Llama 2, Alpaca…) gets Hermes 2 Pro's own instructions in the
system message, calls written as ``<tool_call>`` text and results as ``<tool_response>`` user turns: the family is
then Hermes, whatever the template. The family comes from the template's text, never from a file name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.core.prompting.prompt_formats import ChatMessage

_TOOLS_VARIABLE = re.compile(r"\btools\b")


class ToolFamily(StrEnum):
    """How a model writes its calls."""

    HERMES = "hermes"  # <tool_call>{"name", "arguments"}</tool_call>, one block per call (Hermes 2 Pro, Qwen)
    LLAMA3 = "llama3"  # a bare JSON object {"name", "parameters"} (Llama 3.1–3.3), optionally after <|python_tag|>
    MISTRAL = "mistral"  # [TOOL_CALLS][{"name", "arguments"}, …]
    HARMONY = "harmony"  # gpt-oss: <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{…}<|call|>


def renders_tools(template: str) -> bool:
    """Whether a chat template reads the ``tools`` variable at all."""
    return _TOOLS_VARIABLE.search(template) is not None


def tool_family(template: str) -> ToolFamily:
    """The call format of a template (Hermes for every template that cannot show tools itself)."""
    if not renders_tools(template):
        return ToolFamily.HERMES
    if "[TOOL_CALLS]" in template:
        return ToolFamily.MISTRAL
    if "<|channel|>" in template and "to=" in template:  # gpt-oss's harmony: messages have channels, recipients
        return ToolFamily.HARMONY
    if "<tool_call>" in template:
        return ToolFamily.HERMES
    if "<|start_header_id|>" in template:
        return ToolFamily.LLAMA3
    return ToolFamily.HERMES


def hermes_instructions(tools: Sequence[dict[str, Any]]) -> str:
    """Hermes 2 Pro's function-calling system prompt (NousResearch's model card), for ``tools``."""
    listing = "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools)
    return (
        "You are a function calling AI model. You are provided with function signatures within <tools></tools> "
        "XML tags. You may call one or more functions to assist with the user query. Don't make assumptions about "
        f"what values to plug into functions. Here are the available tools: <tools>\n{listing}\n</tools>\n"
        "For each function call return a json object with function name and arguments within <tool_call></tool_call> "
        'XML tags as follows:\n<tool_call>\n{"name": <function-name>, "arguments": <args-dict>}\n</tool_call>'
    )


def prepare(
    messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]], template: str
) -> tuple[list[ChatMessage], list[dict[str, Any]] | None]:
    """The messages and the ``tools`` variable to render ``template`` with."""
    has_tool_turns = any(m["role"] == "tool" or m.get("tool_calls") for m in messages)
    if not tools and not has_tool_turns:
        return list(messages), None
    if renders_tools(template):
        return [_with_object_arguments(m) if m.get("tool_calls") else m for m in messages], list(tools) or None
    return _as_text(messages, tools), None


def hermes_call_text(name: str, arguments: Any) -> str:
    """One call as Hermes 2 Pro writes it: ``<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>``."""
    body = {"name": name, "arguments": call_arguments(arguments)}
    return f"<tool_call>\n{json.dumps(body, ensure_ascii=False)}\n</tool_call>"


def call_arguments(arguments: Any) -> Any:
    """A call's arguments as an object where they are a JSON object's text (OpenAI sends text)."""
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            return arguments
        return parsed if isinstance(parsed, dict) else arguments
    return arguments


def _with_object_arguments(message: ChatMessage) -> ChatMessage:
    calls = []
    for call in message.get("tool_calls") or []:
        function = dict(call.get("function") or {})
        function["arguments"] = call_arguments(function.get("arguments", {}))
        calls.append({**call, "function": function})
    return {**message, "tool_calls": calls}


def _as_text(messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]]) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    for message in messages:
        role = message["role"]
        if role == "tool":
            block = f"<tool_response>\n{message['content']}\n</tool_response>"
            if out and out[-1]["role"] == "user" and out[-1]["content"].startswith("<tool_response>"):
                out[-1] = {"role": "user", "content": out[-1]["content"] + "\n" + block}
            else:
                out.append({"role": "user", "content": block})
            continue
        content = message["content"]
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            call_text = hermes_call_text(function.get("name", ""), function.get("arguments", {}))
            content += ("\n" if content else "") + call_text
        out.append({"role": role, "content": content})
    if tools:
        instructions = hermes_instructions(tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{instructions}"}
        else:
            out.insert(0, {"role": "system", "content": instructions})
    return out
