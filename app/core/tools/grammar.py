"""A grammar for a reply that must be a tool call (``tool_choice`` required or a named function).

The call object's JSON schema (``{"name": <const>, "arguments": <the tool's parameters>}``, one alternative per
tool) goes through ``build_grammar`` like JSON mode's schemas (bounded, built in a child process, cached), and
its ``root`` is wrapped in the family's call syntax, so even a small model writes a call its parser reads and
whose arguments match the tool's schema. Run it off the engine thread: it may start a process.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from app.core.engines.grammar_build import build_grammar
from app.core.prompting import gbnf_bounds
from app.core.prompting.gbnf_bounds import GrammarRefused
from app.core.prompting.tool_prompt import ToolFamily
from app.core.tools.specs import ChoiceMode, ToolChoice, ToolError, ToolSpec

MAX_PARALLEL = 8  # calls one forced reply may hold where the format allows several
_CALL_RULE = "tool-call-object"
_ROOT = re.compile(r"^root ::=", re.MULTILINE)


def call_schema(specs: Sequence[ToolSpec], family: ToolFamily) -> dict[str, Any]:
    """The JSON schema of one call object of any of ``specs`` (harmony: of the arguments; the name is the header's)."""
    if family is ToolFamily.HARMONY:
        arguments = [spec.parameters or {"type": "object"} for spec in specs]
        return arguments[0] if len(arguments) == 1 else {"anyOf": arguments}
    key = "parameters" if family is ToolFamily.LLAMA3 else "arguments"
    options: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"name": {"const": spec.name}, key: spec.parameters or {"type": "object"}},
            "required": ["name", key],
        }
        for spec in specs
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def call_grammar(specs: Sequence[ToolSpec], choice: ToolChoice, family: ToolFamily, parallel: bool = True) -> str:
    """The GBNF grammar of a reply made of calls only; ``ToolError`` if a tool's schema cannot be one."""
    if not choice.forced:
        raise ValueError("a grammar is only built for a required or named call")
    chosen = [s for s in specs if s.name == choice.name] if choice.mode is ChoiceMode.NAMED else list(specs)
    if not chosen:
        raise ToolError(f"No tool is named {choice.name!r}.")
    try:
        call = build_grammar(call_schema(chosen, family), "tools")
    except GrammarRefused as exc:
        raise ToolError(f"The tools' schemas cannot constrain a call: {exc}") from None
    body = _ROOT.sub(f"{_CALL_RULE} ::=", call, count=1)
    several = parallel and choice.mode is ChoiceMode.REQUIRED
    more = f"{{0,{MAX_PARALLEL - 1}}}"
    if family is ToolFamily.HARMONY:  # one call; with several tools, the arguments match one of their schemas
        names = " | ".join(f'"{spec.name}"' for spec in chosen)
        head = '"<|channel|>commentary to=functions." (' + names + ') " <|constrain|>json<|message|>"'
        root = f'root ::= {head} {_CALL_RULE} "<|call|>"'
    elif family is ToolFamily.MISTRAL:
        rest = f' ("," " "? {_CALL_RULE}){more}' if several else ""
        root = f'root ::= "[TOOL_CALLS][" {_CALL_RULE}{rest} "]"'
    elif family is ToolFamily.LLAMA3:
        root = f"root ::= {_CALL_RULE}"  # one call: Llama 3's format has no list
    else:
        block = f'"<tool_call>\\n" {_CALL_RULE} "\\n</tool_call>"'
        root = f"root ::= {block}" + (f' ("\\n" {block}){more}' if several else "")
    grammar = f"{root}\n{body}"
    try:
        gbnf_bounds.check(grammar)
    except GrammarRefused as exc:
        raise ToolError(f"The tools' schemas cannot constrain a call: {exc}") from None
    return grammar
