"""gpt-oss's harmony format: calls are messages with a recipient (``to=functions.NAME``) on the commentary channel,
the analysis channel is reasoning and final the answer. The family comes from the template's text (the real
gpt-oss template, as llama.cpp keeps it); the shapes below are those OpenAI's harmony guide shows and the
template itself renders. With the real engine, a named call under that template goes through the reasoning
splitter, the stream gate and the parser, and runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.engines.service import EngineService, GenerationRequest
from app.core.prompting.prompt_formats import CUSTOM, PromptFormat
from app.core.prompting.reasoning import HARMONY, reasoning_format, split_reasoning
from app.core.prompting.tool_prompt import ToolFamily, tool_family
from app.core.prompting.types import Sampling
from app.core.tools.parsing import CallGate, parse_calls
from app.core.tools.rounds import RoundEvents, run_rounds
from app.core.tools.specs import ChoiceMode, ToolCall, ToolChoice, parse_tools

GPT_OSS = (Path(__file__).resolve().parents[1] / "data" / "chat_templates" / "openai-gpt-oss-120b.jinja").read_text()
WEATHER = {"type": "object", "properties": {"location": {"type": "string", "maxLength": 30}}, "required": ["location"],
           "additionalProperties": False}  # fmt: skip
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": WEATHER}}]

CALL = (  # the model's reply to "What is the weather in SF?": thinks, then calls
    "<|channel|>analysis<|message|>User asks weather in SF. Use get_weather.<|end|>"
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
    '{"location":"San Francisco, CA"}<|call|>'
)
CALL_IN_ROLE = (
    '<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{"location":"Oslo"}<|call|>'
)
PREAMBLE = "<|channel|>commentary<|message|>Checking the weather for you.<|end|><|start|>assistant" + CALL_IN_ROLE[18:]
FINAL = (
    "<|channel|>analysis<|message|>The tool said 20 C and sunny.<|end|>"
    "<|start|>assistant<|channel|>final<|message|>It is sunny and 20 °C in San Francisco.<|return|>"
)


def test_the_family_is_read_from_the_gpt_oss_template_text() -> None:
    assert tool_family(GPT_OSS) is ToolFamily.HARMONY
    rendered = PromptFormat("a file named anything.gguf", GPT_OSS).render([{"role": "user", "content": "hi"}], TOOLS)
    assert "namespace functions" in rendered.text and "type get_weather" in rendered.text  # tools shown its way
    assert reasoning_format(rendered.text) == HARMONY


@pytest.mark.parametrize(
    ("text", "name", "arguments", "content", "reasoning"),
    [
        (CALL, "get_weather", {"location": "San Francisco, CA"}, "", "User asks weather in SF. Use get_weather."),
        (CALL_IN_ROLE, "get_weather", {"location": "Oslo"}, "", ""),
        (PREAMBLE, "get_weather", {"location": "Oslo"}, "Checking the weather for you.", ""),
        (FINAL, None, None, "It is sunny and 20 °C in San Francisco.", "The tool said 20 C and sunny."),
    ],
)
def test_harmony_shapes_raw_and_after_the_reasoning_split(text, name, arguments, content, reasoning) -> None:
    raw = parse_calls(text, ToolFamily.HARMONY)
    assert [(c.name, json.loads(c.arguments)) for c in raw.calls] == ([(name, arguments)] if name else [])
    assert raw.content == content and raw.reasoning == reasoning and not raw.problems
    # as the engine service hands it on: 5-character pieces split into reasoning and answer first
    pieces = list(split_reasoning([text[i : i + 5] for i in range(0, len(text), 5)], HARMONY))
    assert "".join(p for p in pieces if type(p) is not str) == reasoning
    answer = "".join(p for p in pieces if type(p) is str)
    gate = CallGate(ToolFamily.HARMONY)
    shown = "".join(gate.feed(answer[i : i + 3]) for i in range(0, len(answer), 3))
    held = gate.finish()
    assert "<|" not in shown and (shown + held.content).strip() == content  # headers never reach the user
    assert [(c.name, json.loads(c.arguments)) for c in held.calls] == ([(name, arguments)] if name else [])


def test_a_malformed_or_built_in_harmony_call_is_said_not_lost() -> None:
    bad = parse_calls('<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"loc<|call|>',
                      ToolFamily.HARMONY)  # fmt: skip
    assert not bad.calls and "not valid JSON" in bad.problems[0] and "to=functions.get_weather" in bad.content
    browser = parse_calls(
        "<|channel|>analysis<|message|>search<|end|><|start|>assistant<|channel|>commentary to=browser.search "
        '<|constrain|>json<|message|>{"query": "x"}<|call|>',
        ToolFamily.HARMONY,
    )
    assert [c.name for c in browser.calls] == ["browser.search"]  # not offered: the tool loop answers "no such tool"


@pytest.fixture
def engine_service(starter_model: Path) -> Iterator[EngineService]:
    service = EngineService(LlamaEngine())
    service.load(starter_model, LoadOptions(context_size=4096)).result()
    yield service
    service.close()


def test_a_forced_call_under_the_gpt_oss_template_runs(engine_service: EngineService) -> None:
    ran: list[ToolCall] = []
    notes: list[str] = []
    request = GenerationRequest(
        [{"role": "user", "content": "What is the weather in Paris?"}],
        Sampling(max_tokens=60, temperature=0.0, seed=1), prompt_format=(CUSTOM, GPT_OSS),
    )  # fmt: skip
    outcome = run_rounds(
        engine_service, request, parse_tools(TOOLS), ToolChoice(ChoiceMode.NAMED, "get_weather"),
        approve=lambda _call: True, execute=lambda call: (ran.append(call), ("20 C, sunny", False))[1],
        events=RoundEvents(note=notes.append), max_rounds=1,
    )  # fmt: skip
    (call,) = ran
    assert call.name == "get_weather" and not [n for n in notes if "could not be read" in n]
    jsonschema.validate(json.loads(call.arguments), WEATHER)
    assert outcome.messages[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert outcome.messages[2] == {"role": "tool", "content": "20 C, sunny", "tool_call_id": call.id,
                                   "name": "get_weather"}  # fmt: skip
