"""Tools and calls as values: a function tool, one call of it, and what the caller lets the model do.

Tool definitions come from strangers (an API client, an MCP server), so ``parse_tools`` checks them with bounds
(count, names, description size, and the parameters schema through ``schema_bounds``, as JSON mode does) and
says which field is wrong.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.core.errors import HermesError
from app.core.prompting import schema_bounds
from app.core.prompting.gbnf_bounds import GrammarRefused
from app.core.prompting.tool_prompt import call_arguments

MAX_TOOLS = 128  # OpenAI's own limit
MAX_DESCRIPTION = 8_000  # characters of one tool's description
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # OpenAI's function names (dots for MCP namespaces)


class ToolError(HermesError):
    """A tool definition or a tool choice that cannot be used; the message names the field."""


@dataclass(frozen=True)
class ToolSpec:
    """One function a model may call."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def as_openai(self) -> dict[str, Any]:
        function = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return {"type": "function", "function": function}


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class ToolCall:
    """One call a model wrote: ``arguments`` is JSON text, as OpenAI sends it."""

    name: str
    arguments: str = "{}"
    id: str = field(default_factory=new_call_id)

    def arguments_object(self) -> dict[str, Any]:
        """The arguments as an object ({} for anything else)."""
        parsed = call_arguments(self.arguments)
        return parsed if isinstance(parsed, dict) else {}

    def as_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


class ChoiceMode(StrEnum):
    AUTO = "auto"  # the model decides
    NONE = "none"  # no calls (the tools are still shown)
    REQUIRED = "required"  # at least one call, of any tool
    NAMED = "named"  # a call of this one tool


@dataclass(frozen=True)
class ToolChoice:
    mode: ChoiceMode = ChoiceMode.AUTO
    name: str = ""

    @property
    def forced(self) -> bool:
        """Whether the reply must be a call (a grammar constrains it)."""
        return self.mode in (ChoiceMode.REQUIRED, ChoiceMode.NAMED)

    def as_openai(self) -> str | dict[str, Any]:
        """OpenAI's ``tool_choice`` (what a remote engine is sent: it forces the call itself)."""
        if self.mode is ChoiceMode.NAMED:
            return {"type": "function", "function": {"name": self.name}}
        return self.mode.value


def parse_tools(value: Any, where: str = "tools") -> list[ToolSpec]:
    """OpenAI's ``tools`` array as specs; ``ToolError`` naming the field if it is not usable."""
    if not isinstance(value, list):
        raise ToolError(f"'{where}' must be an array of function tools.")
    if len(value) > MAX_TOOLS:
        raise ToolError(f"'{where}' has {len(value):,} tools, above the limit of {MAX_TOOLS}.")
    specs: list[ToolSpec] = []
    for index, tool in enumerate(value):
        place = f"{where}[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise ToolError(f'\'{place}\' must be {{"type": "function", "function": {{...}}}}.')
        specs.append(spec_from(tool["function"], f"{place}.function"))
    names = [spec.name for spec in specs]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate:
        raise ToolError(f"'{where}' names the function {duplicate!r} more than once.")
    return specs


def spec_from(function: dict[str, Any], place: str) -> ToolSpec:
    """One function definition ({name, description, parameters}) as a checked spec."""
    name = function.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ToolError(f"'{place}.name' must be 1 to 64 letters, digits, '_', '.' or '-'.")
    description = function.get("description") or ""
    if not isinstance(description, str):
        raise ToolError(f"'{place}.description' must be a string.")
    if len(description) > MAX_DESCRIPTION:
        raise ToolError(f"'{place}.description' is longer than {MAX_DESCRIPTION:,} characters.")
    parameters = function.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    try:
        schema_bounds.check(parameters, f"{place}.parameters")
    except GrammarRefused as exc:
        raise ToolError(str(exc)) from None
    return ToolSpec(name, description, parameters)


def parse_choice(value: Any, specs: Sequence[ToolSpec], where: str = "tool_choice") -> ToolChoice:
    """OpenAI's ``tool_choice``: "auto", "none", "required" or {"type": "function", "function": {"name"}}."""
    if value is None:
        return ToolChoice(ChoiceMode.AUTO if specs else ChoiceMode.NONE)
    if isinstance(value, str):
        if value in ("auto", "none", "required"):
            choice = ToolChoice(ChoiceMode(value))
        else:
            choice = ToolChoice(ChoiceMode.NAMED, value)  # the CLI's --tool-choice NAME
    elif isinstance(value, dict) and isinstance(value.get("function"), dict):
        choice = ToolChoice(ChoiceMode.NAMED, str(value["function"].get("name") or ""))
    else:
        raise ToolError(f'\'{where}\' must be auto, none, required or {{"type": "function", "function": {{...}}}}.')
    if choice.forced and not specs:
        raise ToolError(f"'{where}' asks for a call, but no tools were given.")
    if choice.mode is ChoiceMode.NAMED and choice.name not in {spec.name for spec in specs}:
        known = ", ".join(spec.name for spec in specs)
        raise ToolError(f"'{where}' names the function {choice.name!r}, which is not among the tools ({known}).")
    return choice


def arguments_text(arguments: Any) -> str:
    """A call's arguments as JSON text, whether the model wrote an object or a JSON string."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, ensure_ascii=False)
