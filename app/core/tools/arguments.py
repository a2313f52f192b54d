"""A call's arguments checked against its tool's JSON schema before anyone is asked to run it.

A model without a grammar (``tool_choice`` auto, a remote engine, harmony's several-tool grammar) can write
arguments the tool does not take; the tool loop then tells the model what is wrong instead of asking the user or
running the tool. ``jsonschema`` (which the ``mcp`` SDK uses for the same schemas) validates; the message names
the first wrong field, bounded in length. A schema that is itself invalid is not the model's fault: nothing is
checked then (the tool answers for itself).
"""

from __future__ import annotations

import json
from typing import Any

from app.core.tools.specs import ToolCall, ToolSpec

MAX_MESSAGE = 300


def argument_problem(spec: ToolSpec, call: ToolCall) -> str:
    """Why ``call``'s arguments do not fit ``spec`` ("" when they do)."""
    import jsonschema
    from referencing.exceptions import Unresolvable

    try:
        arguments: Any = json.loads(call.arguments)
    except ValueError:
        return f"The arguments of {call.name!r} are not valid JSON."
    if not isinstance(arguments, dict):
        return f"The arguments of {call.name!r} must be a JSON object."
    try:
        checker = jsonschema.validators.validator_for(spec.parameters)
        checker.check_schema(spec.parameters)
        error = jsonschema.exceptions.best_match(checker(spec.parameters).iter_errors(arguments))
    except (jsonschema.exceptions.SchemaError, Unresolvable, RecursionError):
        return ""
    if error is None:
        return ""
    where = "/".join(str(part) for part in error.absolute_path) or "(the arguments)"
    detail = error.message if len(error.message) <= MAX_MESSAGE else error.message[:MAX_MESSAGE] + "…"
    return f"The arguments of {call.name!r} do not match its schema at {where}: {detail}"
