"""Function calling through the official `openai` client against `hermes-studio serve` with the starter model.

SmolLM2-135M never calls a tool by itself: forced (``required`` or named) calls are held to a grammar built from
the tool's schema, so even it writes a call that parses and validates. Each call here is checked against its
schema with ``jsonschema`` (the validator the `mcp` SDK brings).
"""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest

from tests.server.conftest import API_KEY, Process

MODEL = "SmolLM2-135M-Instruct.Q4_1"
WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 20},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "description": "The time now", "parameters": {
        "type": "object", "properties": {"timezone": {"type": "string", "maxLength": 30}}, "required": ["timezone"]}}},
]  # fmt: skip
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def client(served: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url, api_key=API_KEY, max_retries=0, timeout=180)


def test_a_named_call_is_valid_against_its_schema(served: Process) -> None:
    reply = client(served).chat.completions.create(
        model=MODEL, messages=ASK, tools=TOOLS, max_tokens=80, temperature=0,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )  # fmt: skip
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls", choice.message
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER)


def test_a_required_call_streams_as_deltas_the_client_assembles(served: Process) -> None:
    stream = client(served).chat.completions.create(
        model=MODEL, messages=ASK, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
        max_tokens=80, temperature=0, stream=True,
    )  # fmt: skip
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        for delta in choice.delta.tool_calls or []:
            if delta.function and delta.function.name:
                names[delta.index] = delta.function.name
            arguments[delta.index] = arguments.get(delta.index, "") + (delta.function.arguments or "")
        assert not (choice.delta.content or "").strip().startswith("<tool_call>")  # never shown as text
        finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert list(names) == [0] and names[0] in {"get_weather", "get_time"}
    schema = WEATHER if names[0] == "get_weather" else TOOLS[1]["function"]["parameters"]
    jsonschema.validate(json.loads(arguments[0]), schema)


def test_a_tool_result_round_trip(served: Process) -> None:
    api = client(served)
    first = api.chat.completions.create(
        model=MODEL, messages=ASK, tools=TOOLS, max_tokens=80, temperature=0,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )  # fmt: skip
    call = first.choices[0].message.tool_calls[0]
    history = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 21, "unit": "celsius"})},
    ]
    second = api.chat.completions.create(
        model=MODEL, messages=history, tools=TOOLS, tool_choice="none", max_tokens=24, temperature=0
    )
    assert second.choices[0].finish_reason in ("stop", "length")
    assert second.choices[0].message.content and not second.choices[0].message.tool_calls
    alone = api.chat.completions.create(model=MODEL, messages=ASK, max_tokens=1, temperature=0)
    assert second.usage.prompt_tokens > alone.usage.prompt_tokens + 20  # the call and its result were read


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools"),
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"maxLength": 10**9}}}],
          "tool_choice": "required"}, "tools"),
        ({"messages": [{"role": "tool", "content": "42"}]}, "messages[0].tool_call_id"),
    ],
)  # fmt: skip
def test_bad_tool_input_is_a_400_naming_the_field(served: Process, body: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(served).chat.completions.create(**{"model": MODEL, "messages": ASK, "max_tokens": 4, **body})
    assert caught.value.body["param"] == param, caught.value.body
