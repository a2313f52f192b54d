"""A reply's tool steps, from its parts: the messages a model reads, and the step people read.

A reply that used tools is stored as one assistant message: ``content`` is all the text it showed (each round's
text, then the answer), and its parts hold each ``ToolCallPart`` (with its round and where in the text it came)
and each ``ToolResultPart``. ``reply_messages`` turns that back into OpenAI's shape: for each round an assistant
message with the round's text and its ``tool_calls``, a ``role: "tool"`` message per call, and the answer last;
the chat template (or the Hermes fallback of ``tool_prompt``) renders those. ``steps_markdown`` is the collapsible
step of the window and the Markdown export.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from app.core.prompting.parts import Part, ToolCallPart, ToolResultPart
from app.core.prompting.prompt_formats import ChatMessage

NOT_RUN = "The call did not run (the reply was stopped before it could)."
SHOWN_RESULT_CHARS = 2_000  # of a result, in the window's step (the model read it whole)


def calls_of(parts: Sequence[Part]) -> tuple[ToolCallPart, ...]:
    return tuple(part for part in parts if isinstance(part, ToolCallPart))


def results_of(parts: Sequence[Part]) -> dict[str, ToolResultPart]:
    """Each call's result, by the call's id."""
    return {part.call_id: part for part in parts if isinstance(part, ToolResultPart)}


def rounds_of(parts: Sequence[Part]) -> list[list[ToolCallPart]]:
    """The calls, round by round, in the order they were made."""
    rounds: dict[int, list[ToolCallPart]] = {}
    for call in calls_of(parts):
        rounds.setdefault(call.round, []).append(call)
    return [rounds[key] for key in sorted(rounds)]


def reply_messages(content: str, parts: Sequence[Part]) -> list[ChatMessage]:
    """The reply as the messages the model wrote and read: rounds of (text + ``tool_calls``, tool results), then the
    answer (left out when empty: a reply stopped after its calls). A call without a result is answered ``NOT_RUN``."""
    rounds = rounds_of(parts)
    if not rounds:
        return [{"role": "assistant", "content": content}]
    results = results_of(parts)
    messages: list[ChatMessage] = []
    start = 0
    for calls in rounds:
        at = min(max(calls[0].at, start), len(content))
        messages.append({"role": "assistant", "content": content[start:at],
                         "tool_calls": [call.as_openai() for call in calls]})  # fmt: skip
        for call in calls:
            result = results.get(call.id)
            messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name,
                             "content": result.content if result is not None else NOT_RUN})  # fmt: skip
        start = at
    if content[start:]:
        messages.append({"role": "assistant", "content": content[start:]})
    return messages


def answer_of(content: str, parts: Sequence[Part]) -> str:
    """The text after the reply's last round of calls (all of it for a reply without tools)."""
    rounds = rounds_of(parts)
    return content[min(rounds[-1][0].at, len(content)) :] if rounds else content


def describe_call(call: ToolCallPart) -> str:
    """``name({"a": 1})`` with the arguments on one line."""
    try:
        arguments = json.dumps(json.loads(call.arguments), ensure_ascii=False)
    except ValueError:
        arguments = call.arguments
    return f"{call.name}({arguments})"


def step_count(parts: Sequence[Part]) -> int:
    return len(calls_of(parts))


def steps_markdown(parts: Sequence[Part], shown_chars: int = SHOWN_RESULT_CHARS) -> str:
    """Each call and its result as Markdown (a call still waiting says so)."""
    results = results_of(parts)
    blocks: list[str] = []
    for call in calls_of(parts):
        server = f" · MCP server {call.server}" if call.server else ""
        lines = [f"**Tool call**{server}: `{describe_call(call).replace('`', chr(0x2032))}`", ""]
        result = results.get(call.id)
        if result is None:
            lines.append("*No result yet.*")
        else:
            text = result.content
            shown = text if len(text) <= shown_chars else text[:shown_chars] + "…"
            said = "Error" if result.error else "Result"
            notes = [" (cut to fit the context)" if result.truncated else ""]
            if result.images:
                notes.append(f" · {len(result.images)} image{'s' if len(result.images) > 1 else ''}")
            fence = "```json" if shown.lstrip().startswith(("{", "[")) else "```"
            lines += [f"{said}{''.join(notes)}:", "", fence, shown.replace("```", "` ` `"), "```"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def fold_tool_turns(messages: Sequence[ChatMessage]) -> list[tuple[ChatMessage, tuple[Part, ...]]]:
    """OpenAI messages (a client's history) as the history keeps them: an assistant message with ``tool_calls``, its
    ``role: "tool"`` results and the assistant's next message become one assistant message whose parts are the calls
    and results (``reply_messages`` gives them back). A result with no call before it is kept as a reply's result."""
    folded: list[tuple[ChatMessage, tuple[Part, ...]]] = []
    open_reply = False  # the last folded message is a reply whose rounds may go on
    for message in messages:
        role = message["role"]
        if role not in ("assistant", "tool"):
            folded.append(({**message}, ()))
            open_reply = False
            continue
        if not open_reply:
            folded.append(({"role": "assistant", "content": ""}, ()))
            open_reply = True
        reply, parts = folded[-1]
        content = reply["content"]
        if role == "tool":
            result = ToolResultPart(str(message.get("tool_call_id", "")), message["content"], message.get("name", ""))
            folded[-1] = (reply, (*parts, result))
            continue
        if content and parts and not isinstance(parts[-1], ToolResultPart):  # a new turn, not the rounds' answer
            reply, parts, content = {"role": "assistant", "content": ""}, (), ""
            folded.append((reply, parts))
        content += message["content"]
        calls = message.get("tool_calls") or []
        index = len(rounds_of(parts))
        made = tuple(
            ToolCallPart(
                str(call.get("id", "")), str((call.get("function") or {}).get("name", "")),
                _arguments_text((call.get("function") or {}).get("arguments", "{}")), round=index, at=len(content),
            )
            for call in calls
            if isinstance(call, dict)
        )  # fmt: skip
        folded[-1] = ({"role": "assistant", "content": content}, (*parts, *made))
        open_reply = bool(made)
    return folded


def _arguments_text(arguments: object) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
